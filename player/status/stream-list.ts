// Keeps one StreamPanel per stream in the latest snapshot: adds panels for new streams, removes
// those that left, in a stable order (by name) so panels do not jump around between polls.
import type { Bus } from '../watch/bus.js';
import { setText } from './dom.js';
import { StreamPanel } from './stream-panel.js';
import type { StatusEvents, StatusSnapshot } from './types.js';

export function streamOrder(snapshot: StatusSnapshot): string[] {
  return snapshot.streams.map((s) => s.stream).sort((a, b) => a.localeCompare(b));
}

export interface StreamListOptions {
  bus: Bus<StatusEvents>;
  container: HTMLElement;
  /** Shown while the snapshot has no streams. */
  empty: HTMLElement;
}

export class StreamList {
  readonly #container: HTMLElement;
  readonly #empty: HTMLElement;
  readonly #panels = new Map<string, StreamPanel>();
  readonly #unsubscribe: () => void;

  constructor(options: StreamListOptions) {
    this.#container = options.container;
    this.#empty = options.empty;
    this.#unsubscribe = options.bus.on('snapshot', (snapshot) => this.#render(snapshot));
  }

  destroy(): void {
    this.#unsubscribe();
    for (const panel of this.#panels.values()) panel.destroy();
    this.#panels.clear();
  }

  #render(snapshot: StatusSnapshot): void {
    const byName = new Map(snapshot.streams.map((s) => [s.stream, s]));
    for (const [name, panel] of this.#panels) {
      if (byName.has(name)) continue;
      panel.destroy();
      this.#panels.delete(name);
    }
    const ordered = streamOrder(snapshot).map((name) => {
      let panel = this.#panels.get(name);
      if (!panel) {
        panel = new StreamPanel(name);
        this.#panels.set(name, panel);
      }
      return panel;
    });
    // Only moves a panel that is out of place, so a steady set of streams never touches the DOM order.
    ordered.forEach((panel, i) => {
      if (this.#container.children[i] !== panel.element) this.#container.insertBefore(panel.element, this.#container.children[i] ?? null);
    });
    // Panels are in the document before they draw, so the chart can measure its width.
    for (const panel of ordered) {
      const stream = byName.get(panel.element.dataset.stream ?? '');
      if (stream) panel.update(stream, snapshot);
    }
    this.#empty.hidden = ordered.length > 0;
    if (ordered.length === 0) setText(this.#empty, 'No streams at this origin.');
  }
}
