// window.__scopecast on the expert page: the watch page's DebugState (state, latencyMs,
// currentTime, errors) plus path and framesDecoded. Read-only by contract, like the watch page's.
import type { Bus } from '../watch/bus.js';
import { DebugState } from '../watch/debug-state.js';
import type { ScopecastDebugSnapshot } from '../watch/types.js';
import type { ExpertDebugSnapshot, ExpertEvents } from './types.js';

export interface ExpertDebugOptions {
  bus: Bus<ExpertEvents>;
  target: { __scopecast?: ScopecastDebugSnapshot };
}

export class ExpertDebug {
  readonly #debug: DebugState;
  readonly #unsubscribe: Array<() => void>;

  constructor(options: ExpertDebugOptions) {
    this.#debug = new DebugState(options);
    // DebugState publishes its snapshot object; the expert fields are added to that same object.
    const snapshot = options.target.__scopecast as ExpertDebugSnapshot;
    snapshot.path = null;
    snapshot.framesDecoded = 0;
    this.#unsubscribe = [
      options.bus.on('path', (path) => { snapshot.path = path; }),
      options.bus.on('frames', (frames) => { snapshot.framesDecoded = frames; }),
    ];
  }

  destroy(): void {
    for (const off of this.#unsubscribe) off();
    this.#unsubscribe.length = 0;
    this.#debug.destroy();
  }
}
