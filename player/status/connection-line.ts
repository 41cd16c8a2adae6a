// The header's status line: when the data was last updated, or that /api/status is failing and
// the page is retrying. Marks the dashboard stale so the kept data is visibly old.
import type { Bus } from '../watch/bus.js';
import { setText } from './dom.js';
import type { PollError, StatusEvents } from './types.js';

export function describePollError(error: PollError): string {
  return `status unavailable, retrying (${error.details})`;
}

export class ConnectionLine {
  readonly #unsubscribe: Array<() => void>;
  readonly #root: HTMLElement;

  constructor(options: { bus: Bus<StatusEvents>; element: HTMLElement; root: HTMLElement }) {
    const { bus, element } = options;
    this.#root = options.root;
    this.#unsubscribe = [
      bus.on('snapshot', (snapshot) => {
        setText(element, `updated ${new Date(snapshot.now).toLocaleTimeString()}`);
        element.dataset.state = 'ok';
        delete this.#root.dataset.stale;
      }),
      bus.on('poll-error', (error) => {
        setText(element, describePollError(error));
        element.dataset.state = 'error';
        this.#root.dataset.stale = 'true';
      }),
    ];
  }

  destroy(): void {
    for (const off of this.#unsubscribe) off();
    this.#unsubscribe.length = 0;
    delete this.#root.dataset.stale;
  }
}
