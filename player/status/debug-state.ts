// Mirrors the bus into window.__scopecastStatus for tests and devtools. Read-only by contract.
import type { Bus } from '../watch/bus.js';
import { streamOrder } from './stream-list.js';
import type { StatusDebugSnapshot, StatusEvents } from './types.js';

export class StatusDebugState {
  readonly #target: { __scopecastStatus?: StatusDebugSnapshot };
  readonly #snapshot: StatusDebugSnapshot = { polls: 0, errors: 0, streams: [], alerts: 0 };
  readonly #unsubscribe: Array<() => void>;

  constructor(options: { bus: Bus<StatusEvents>; target: { __scopecastStatus?: StatusDebugSnapshot } }) {
    this.#target = options.target;
    this.#target.__scopecastStatus = this.#snapshot;
    this.#unsubscribe = [
      options.bus.on('snapshot', (snapshot) => {
        this.#snapshot.polls++;
        this.#snapshot.streams = streamOrder(snapshot);
        this.#snapshot.alerts = snapshot.alerts.length;
      }),
      options.bus.on('poll-error', () => {
        this.#snapshot.polls++;
        this.#snapshot.errors++;
      }),
    ];
  }

  destroy(): void {
    for (const off of this.#unsubscribe) off();
    this.#unsubscribe.length = 0;
    if (this.#target.__scopecastStatus === this.#snapshot) delete this.#target.__scopecastStatus;
  }
}
