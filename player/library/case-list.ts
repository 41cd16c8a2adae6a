// The /library list: one row per case (title, procedure, date, duration), newest first, linked
// to its replay page (the link carries the page's token). Refreshed now and then so live cases'
// durations move, and so the links carry the latest token.
import { html, setText } from '../status/dom.js';
import { isRecordingId } from '../shared/library-page.js';
import { toLibraryError, type RecordingsApi } from './api.js';
import { caseTitle, DASH, formatDate, formatDuration } from './format.js';
import type { LibraryError, RecordingSummary } from './types.js';

export interface CaseListOptions {
  api: RecordingsApi;
  rows: HTMLElement;
  empty: HTMLElement;
  status: HTMLElement;
  /** e.g. '/library' */
  libraryUrl: string;
  /** The href of a case link: adds the page's token, so the replay page opens too. */
  link?: (href: string) => string;
  refreshMs?: number;
  onList?: (rows: RecordingSummary[]) => void;
  onError?: (error: LibraryError) => void;
}

export class CaseList {
  readonly #options: CaseListOptions;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #destroyed = false;

  constructor(options: CaseListOptions) {
    this.#options = options;
  }

  start(): void {
    void this.#load();
  }

  destroy(): void {
    this.#destroyed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  async #load(): Promise<void> {
    const { api, status } = this.#options;
    try {
      const rows = (await api.list()).filter((r) => isRecordingId(r.id));
      if (this.#destroyed) return;
      this.#render(rows);
      setText(status, `${rows.length} ${rows.length === 1 ? 'case' : 'cases'}`);
      status.dataset.state = 'ready';
      this.#options.onList?.(rows);
    } catch (error) {
      if (this.#destroyed) return;
      const info = toLibraryError(error);
      if (info.httpStatus === 401 || info.httpStatus === 403) {
        // The same token would be refused again: no retry; the page says why (onError).
        this.#options.onError?.(info);
        return;
      }
      setText(status, `could not load the library, retrying (${info.details})`);
      status.dataset.state = 'error';
      this.#options.onError?.(info);
    }
    if (this.#destroyed) return;
    this.#timer = setTimeout(() => void this.#load(), this.#options.refreshMs ?? 15_000);
  }

  #render(rows: readonly RecordingSummary[]): void {
    const { libraryUrl } = this.#options;
    this.#options.rows.replaceChildren(...rows.map((r) => {
      const tr = html('tr');
      tr.dataset.id = r.id;
      const link = html('a', undefined, caseTitle(r.title));
      const href = `${libraryUrl}/${encodeURIComponent(r.id)}`;
      link.href = this.#options.link?.(href) ?? href;
      const titleCell = html('td');
      titleCell.append(link);
      if (r.live) titleCell.append(html('span', 'sc-badge', 'live'));
      tr.append(titleCell, html('td', undefined, r.procedure ?? DASH), html('td', 'sc-num', formatDate(r.startedAt)), html('td', 'sc-num', formatDuration(r.durationSec)));
      return tr;
    }));
    this.#options.empty.hidden = rows.length > 0;
  }
}
