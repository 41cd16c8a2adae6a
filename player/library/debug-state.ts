// Mirrors the library bus into window.__scopecastLibrary for tests and devtools. Read-only by contract.
import type { Bus } from '../watch/bus.js';
import type { LibraryDebugSnapshot, LibraryEvents } from './types.js';

const MAX_ERRORS = 50;

export function emptyLibrarySnapshot(page: LibraryDebugSnapshot['page']): LibraryDebugSnapshot {
  return { page, cases: [], summaries: [], details: null, annotations: 0, fragments: 0, playheadMs: null, drawn: [], picture: null, errors: [] };
}

export class LibraryDebugState {
  readonly snapshot: LibraryDebugSnapshot;
  readonly #target: { __scopecastLibrary?: LibraryDebugSnapshot };
  readonly #unsubscribe: Array<() => void>;

  constructor(options: { bus: Bus<LibraryEvents>; target: { __scopecastLibrary?: LibraryDebugSnapshot }; page: LibraryDebugSnapshot['page'] }) {
    this.#target = options.target;
    this.snapshot = emptyLibrarySnapshot(options.page);
    this.#target.__scopecastLibrary = this.snapshot;
    const { bus } = options;
    this.#unsubscribe = [
      bus.on('details', (details) => {
        this.snapshot.details = details;
      }),
      bus.on('annotations', (events) => {
        this.snapshot.annotations = events.length;
      }),
      bus.on('timeline', (fragments) => {
        this.snapshot.fragments = fragments.length;
      }),
      bus.on('error', (error) => {
        this.snapshot.errors.push(error);
        if (this.snapshot.errors.length > MAX_ERRORS) this.snapshot.errors.shift();
      }),
    ];
  }

  destroy(): void {
    for (const off of this.#unsubscribe) off();
    this.#unsubscribe.length = 0;
    if (this.#target.__scopecastLibrary === this.snapshot) delete this.#target.__scopecastLibrary;
  }
}
