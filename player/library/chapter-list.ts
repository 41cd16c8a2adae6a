// The chapter list: start, encoder restarts, reconnects and manual chapters, in media-time order.
import type { Bus } from '../watch/bus.js';
import { renderMarks } from './marks.js';
import type { LibraryEvents } from './types.js';

export class ChapterList {
  readonly #container: HTMLElement;
  readonly #unsubscribe: () => void;

  constructor(options: { bus: Bus<LibraryEvents>; container: HTMLElement; seek: (atMs: number) => void }) {
    this.#container = options.container;
    this.#unsubscribe = options.bus.on('details', (details) => {
      renderMarks(this.#container, details.chapters, details.mediaStartMs, options.seek);
    });
  }

  destroy(): void {
    this.#unsubscribe();
    this.#container.replaceChildren();
  }
}
