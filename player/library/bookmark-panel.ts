// Bookmarks: the list (click to seek) and "add bookmark" at the frame on screen, with a label.
import type { Bus } from '../watch/bus.js';
import { toLibraryError, type RecordingsApi } from './api.js';
import { renderMarks } from './marks.js';
import type { LibraryEvents } from './types.js';

export interface BookmarkPanelOptions {
  bus: Bus<LibraryEvents>;
  api: RecordingsApi;
  id: string;
  list: HTMLElement;
  form: HTMLFormElement;
  input: HTMLInputElement;
  button: HTMLButtonElement;
  seek: (atMs: number) => void;
  /** Media time on screen, Unix ms; null until the timeline is known. */
  mediaTime: () => number | null;
}

export class BookmarkPanel {
  readonly #options: BookmarkPanelOptions;
  readonly #unsubscribe: () => void;
  #busy = false;

  constructor(options: BookmarkPanelOptions) {
    this.#options = options;
    this.#unsubscribe = options.bus.on('details', (details) => {
      const sorted = [...details.bookmarks].sort((a, b) => a.atMs - b.atMs);
      renderMarks(options.list, sorted, details.mediaStartMs, options.seek);
    });
    options.form.addEventListener('submit', this.#onSubmit);
  }

  destroy(): void {
    this.#unsubscribe();
    this.#options.form.removeEventListener('submit', this.#onSubmit);
    this.#options.list.replaceChildren();
  }

  readonly #onSubmit = (event: SubmitEvent): void => {
    event.preventDefault(); // no navigation (the page's CSP forbids form actions anyway)
    void this.#add();
  };

  async #add(): Promise<void> {
    const { api, bus, id, input, button } = this.#options;
    const label = input.value.trim();
    const atMs = this.#options.mediaTime();
    if (this.#busy || label === '') return;
    if (atMs === null) {
      bus.emit('error', { type: 'mediaError', details: 'the video is not loaded yet', fatal: false });
      return;
    }
    this.#busy = true;
    button.disabled = true;
    try {
      const bookmark = await api.addBookmark(id, { atMs: Math.round(atMs), label });
      input.value = '';
      bus.emit('bookmark-added', bookmark);
      bus.emit('details', await api.get(id));
    } catch (error) {
      const info = toLibraryError(error);
      // A viewer's link may watch but not mark: that is this form's problem, not the page's access.
      bus.emit('error', info.httpStatus === 403 ? { type: 'httpError', details: 'adding bookmarks needs an expert or surgeon link', fatal: false } : info);
    } finally {
      this.#busy = false;
      button.disabled = false;
    }
  }
}
