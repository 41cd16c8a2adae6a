// The red banner at the top: one line per latency alert in the latest snapshot, hidden when there
// are none. A failed poll leaves it as it was (the last known alerts stay visible).
import type { Bus } from '../watch/bus.js';
import { html } from './dom.js';
import { formatAlert } from './format.js';
import type { StatusEvents, StatusSnapshot } from './types.js';

export class AlertBanner {
  readonly #element: HTMLElement;
  readonly #unsubscribe: () => void;
  #shown = '';

  constructor(options: { bus: Bus<StatusEvents>; element: HTMLElement }) {
    this.#element = options.element;
    this.#unsubscribe = options.bus.on('snapshot', (snapshot) => this.#render(snapshot));
  }

  destroy(): void {
    this.#unsubscribe();
    this.#element.replaceChildren();
    this.#element.hidden = true;
  }

  #render(snapshot: StatusSnapshot): void {
    const lines = snapshot.alerts.map((alert) => formatAlert(alert, snapshot.now));
    const key = lines.join('\n');
    if (key === this.#shown) return;
    this.#shown = key;
    this.#element.replaceChildren(...lines.map((line) => html('p', 'sc-alert', line)));
    this.#element.hidden = lines.length === 0;
  }
}
