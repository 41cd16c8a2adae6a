// Mirrors the bus into window.__scopecast for tests and devtools. Read-only by contract:
// nothing in the page reads it back.
import type { Bus } from './bus.js';
import type { ScopecastDebugSnapshot, WatchEvents } from './types.js';

/** Oldest errors are dropped past this many, so a long session cannot grow without bound. */
export const MAX_DEBUG_ERRORS = 100;

export interface DebugStateOptions {
  bus: Bus<WatchEvents>;
  /** Where to publish; the page passes window. */
  target: { __scopecast?: ScopecastDebugSnapshot };
}

export class DebugState {
  readonly #target: { __scopecast?: ScopecastDebugSnapshot };
  readonly #snapshot: ScopecastDebugSnapshot = { state: 'loading', latencyMs: null, currentTime: 0, errors: [] };
  readonly #unsubscribe: Array<() => void>;

  constructor(options: DebugStateOptions) {
    this.#target = options.target;
    this.#target.__scopecast = this.#snapshot;
    const bus = options.bus;
    this.#unsubscribe = [
      bus.on('state', (state) => { this.#snapshot.state = state; }),
      bus.on('latency', (ms) => { this.#snapshot.latencyMs = ms; }),
      bus.on('time', (seconds) => { this.#snapshot.currentTime = seconds; }),
      bus.on('error', (error) => {
        this.#snapshot.errors.push({ ...error });
        if (this.#snapshot.errors.length > MAX_DEBUG_ERRORS) this.#snapshot.errors.shift();
      }),
    ];
  }

  destroy(): void {
    for (const off of this.#unsubscribe) off();
    this.#unsubscribe.length = 0;
    if (this.#target.__scopecast === this.#snapshot) delete this.#target.__scopecast;
  }
}
