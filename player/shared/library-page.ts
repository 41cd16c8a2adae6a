// Server-side HTML for the teaching library: the case list (/library) and the replay page
// (/library/<id>). Pure: input in, string out. Same shell, look and escaping as the other pages;
// the page's script fills both from the recordings API. Ids and URLs travel in data- attributes.
import { escapeHtml, renderPageShell } from './watch-page.js';

/**
 * A recording id: `<stream>-<UTC yyyymmddThhmmss>-<4 hex>`. The only recording string that ever
 * reaches a path or a URL; checked on the origin before any path join and again by the page.
 */
export const RECORDING_ID_RE = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}-\d{8}T\d{6}-[0-9a-f]{4}$/;

export function isRecordingId(id: unknown): id is string {
  return typeof id === 'string' && RECORDING_ID_RE.test(id);
}

export interface LibraryPageOptions {
  /** URL of the bundled page script (both pages share it). */
  scriptUrl: string;
  /** URL of LIBRARY_CSS. */
  stylesheetUrl: string;
  /** Same-origin path of the recordings API, e.g. '/api/recordings'. */
  apiUrl: string;
  /** Path of the library pages, e.g. '/library' (case links are `${libraryUrl}/<id>`). */
  libraryUrl: string;
}

export interface ReplayPageOptions extends LibraryPageOptions {
  /** Already validated with isRecordingId; escaped here anyway. */
  id: string;
  /** Path prefix of the recording files, e.g. '/recordings' (`${mediaPrefix}/<id>/playlist.m3u8`). */
  mediaPrefix: string;
  /** Drawings fade this long after they appear unless pinned, ms (the origin's annotations.fadeMs). */
  fadeMs: number;
}

/** Trusted, never user input. */
export const LIBRARY_CSS = `
main.sc-library { max-width: 1400px; }
.sc-top { display: flex; align-items: baseline; gap: 16px; margin-bottom: 10px; }
.sc-top h1 { margin: 0; }
.sc-top a { color: var(--sc-muted); }
.sc-note { color: var(--sc-muted); font-size: 13px; margin: 0 0 10px; }
.sc-cases { width: 100%; border-collapse: collapse; }
.sc-cases th { text-align: left; color: var(--sc-muted); font-weight: 600; font-size: 12px; text-transform: uppercase;
  letter-spacing: 0.04em; padding: 4px 10px; border-bottom: 1px solid #26303a; }
.sc-cases td { padding: 6px 10px; border-bottom: 1px solid #1d252d; }
.sc-cases a { color: var(--sc-fg); font-weight: 600; }
.sc-cases .sc-num { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; white-space: nowrap; }
.sc-badge { font: 600 11px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; text-transform: uppercase;
  padding: 1px 7px; border-radius: 4px; background: #26303a; color: #3ddc84; margin-left: 8px; }
.sc-empty[hidden], .sc-badge[hidden], .sc-add[hidden] { display: none; }
/* Access refused: the message (the status line) instead of an empty table or player. */
[data-access="denied"] .sc-cases, [data-access="denied"] .sc-empty, [data-access="denied"] .sc-frame,
[data-access="denied"] .sc-side, [data-access="denied"] #scopecast-subtitle { display: none; }
.sc-replay { display: grid; grid-template-columns: minmax(0, 1fr) 320px; gap: 16px; }
.sc-frame { position: relative; width: 100%; aspect-ratio: 16 / 9; background: #000; }
.sc-frame video { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: contain; background: #000; }
.sc-frame canvas { position: absolute; inset: 0; width: 100%; height: 100%; pointer-events: none; }
.sc-side h2 { font-size: 12px; font-weight: 600; color: var(--sc-muted); text-transform: uppercase;
  letter-spacing: 0.04em; margin: 0 0 6px; }
.sc-side section { margin-bottom: 16px; }
.sc-marks { list-style: none; margin: 0; padding: 0; max-height: 260px; overflow-y: auto; }
.sc-marks li { margin: 0 0 4px; }
.sc-marks button { width: 100%; display: flex; gap: 10px; text-align: left; cursor: pointer; padding: 4px 8px;
  border: 1px solid #26303a; border-radius: 6px; background: #161c22; color: var(--sc-fg); font: inherit; }
.sc-marks button:hover, .sc-marks button:focus-visible { border-color: #3a4654; background: #1d252d; }
.sc-marks .sc-at { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; color: var(--sc-muted); }
.sc-add { display: flex; gap: 6px; margin-top: 8px; }
.sc-add input { flex: 1; min-width: 0; padding: 4px 8px; border-radius: 6px; border: 1px solid #3a4654;
  background: #101418; color: var(--sc-fg); font: inherit; }
.sc-add button { padding: 4px 10px; border-radius: 6px; border: 1px solid #3a4654; background: #26303a;
  color: var(--sc-fg); font: inherit; cursor: pointer; }
@media (max-width: 900px) { .sc-replay { grid-template-columns: minmax(0, 1fr); } }
`;

export function renderLibraryPage(options: LibraryPageOptions): string {
  const main = `<main id="scopecast-library" class="sc-library" data-api-url="${escapeHtml(options.apiUrl)}" data-library-url="${escapeHtml(options.libraryUrl)}">
  <header class="sc-top"><h1>Teaching library</h1></header>
  <p class="sc-status" id="scopecast-status" role="status" aria-live="polite" data-state="loading">Loading…</p>
  <table class="sc-cases" id="scopecast-cases">
    <thead><tr><th>Case</th><th>Procedure</th><th>Date</th><th>Duration</th></tr></thead>
    <tbody id="scopecast-case-rows"></tbody>
  </table>
  <p class="sc-empty" id="scopecast-empty" hidden>No recordings yet.</p>
</main>`;
  return renderPageShell({ title: 'scopecast library', main, scriptUrl: options.scriptUrl, videoJsCssUrl: options.stylesheetUrl });
}

export function renderReplayPage(options: ReplayPageOptions): string {
  const main = `<main id="scopecast-replay" class="sc-library" data-recording-id="${escapeHtml(options.id)}" data-api-url="${escapeHtml(options.apiUrl)}" data-library-url="${escapeHtml(options.libraryUrl)}" data-media-prefix="${escapeHtml(options.mediaPrefix)}" data-fade-ms="${Math.round(options.fadeMs)}">
  <header class="sc-top"><h1 id="scopecast-title">Recording</h1><a id="scopecast-all-cases" href="${escapeHtml(options.libraryUrl)}">All cases</a></header>
  <p class="sc-note" id="scopecast-subtitle"></p>
  <div class="sc-replay">
    <div>
      <div class="sc-frame" id="scopecast-frame">
        <video id="scopecast-video" controls playsinline muted preload="auto"></video>
        <canvas id="scopecast-overlay" aria-hidden="true"></canvas>
      </div>
      <p class="sc-status" id="scopecast-status" role="status" aria-live="polite" data-state="loading">Loading…</p>
    </div>
    <aside class="sc-side">
      <section><h2>Chapters</h2><ol class="sc-marks" id="scopecast-chapters"></ol></section>
      <section><h2>Bookmarks</h2><ol class="sc-marks" id="scopecast-bookmarks"></ol>
        <form class="sc-add" id="scopecast-bookmark-form">
          <input id="scopecast-bookmark-label" name="label" maxlength="120" required autocomplete="off" placeholder="Label (no patient names)" aria-label="Bookmark label">
          <button type="submit" id="scopecast-bookmark-add">Add bookmark</button>
        </form>
      </section>
    </aside>
  </div>
</main>`;
  return renderPageShell({ title: 'scopecast library — replay', main, scriptUrl: options.scriptUrl, videoJsCssUrl: options.stylesheetUrl });
}
