// Server-side HTML for the /status dashboard. Pure: input in, string out. Shares the other pages'
// shell, look and escaping; the page's script fills it from /api/status.
import { escapeHtml, renderPageShell } from './watch-page.js';

export interface StatusPageOptions {
  /** URL of the bundled page script. */
  scriptUrl: string;
  /** URL of STATUS_CSS, served by the status plugin. */
  stylesheetUrl: string;
  /** Same-origin path the page polls, e.g. '/api/status'. */
  apiUrl: string;
}

/** The dashboard's styles, served as a stylesheet (see renderStatusPage). Trusted, never user input. */
export const STATUS_CSS = `
main.sc-dashboard { max-width: 1400px; padding: 12px 16px; }
.sc-top { display: flex; align-items: baseline; gap: 16px; margin-bottom: 10px; }
.sc-top h1 { margin: 0; }
.sc-conn { margin: 0; color: var(--sc-muted); font-size: 13px; }
.sc-conn[data-state="error"] { color: #ffb020; font-weight: 600; }
.sc-conn[data-state="denied"] { color: #ff5c5c; font-weight: 600; font-size: 15px; }
/* Access refused: the message (the connection line) instead of an empty dashboard. */
.sc-dashboard[data-access="denied"] .sc-streams, .sc-dashboard[data-access="denied"] .sc-alerts,
.sc-dashboard[data-access="denied"] .sc-empty { display: none; }
.sc-alerts { margin: 0 0 12px; padding: 8px 14px; border-radius: 6px; background: #b3261e; color: #fff;
  border: 1px solid #ff5c5c; box-shadow: 0 0 0 2px rgba(255, 92, 92, 0.25); }
.sc-alerts[hidden] { display: none; }
.sc-alert { margin: 2px 0; font-weight: 600; }
.sc-alert::before { content: "⚠ "; }
.sc-streams { display: flex; flex-direction: column; gap: 12px; }
.sc-dashboard[data-stale] .sc-streams { opacity: 0.55; }
.sc-empty { color: var(--sc-muted); }
.sc-empty[hidden] { display: none; }
.sc-stream { background: #161c22; border: 1px solid #26303a; border-radius: 8px; padding: 10px 14px; }
.sc-stream[data-alert="true"] { border-color: #ff5c5c; }
.sc-stream-head { display: flex; align-items: center; gap: 10px; margin-bottom: 6px; }
.sc-stream-head h2 { margin: 0; font-size: 16px; font-weight: 600; }
.sc-live { font: 600 11px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; text-transform: uppercase;
  padding: 1px 7px; border-radius: 4px; background: #26303a; color: var(--sc-muted); }
.sc-live[data-live="true"] { color: #3ddc84; }
.sc-figures { display: grid; grid-template-columns: minmax(0, 6fr) minmax(0, 4fr); gap: 12px; margin-bottom: 8px; }
.sc-group h3, .sc-viewers h3 { margin: 0 0 3px; font-size: 11px; font-weight: 600; color: var(--sc-muted);
  text-transform: uppercase; letter-spacing: 0.04em; }
.sc-tiles, .sc-hops { display: grid; gap: 6px; margin: 0; }
.sc-tiles { grid-template-columns: repeat(6, minmax(0, 1fr)); }
.sc-hops { grid-template-columns: repeat(4, minmax(0, 1fr)); }
.sc-tile, .sc-hop { background: #1d252d; border-radius: 6px; padding: 3px 8px; }
.sc-tiles dt, .sc-hops dt { font-size: 11px; color: var(--sc-muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.sc-tiles dd, .sc-hops dd { margin: 0; font: 600 15px/1.3 ui-monospace, SFMono-Regular, Menlo, monospace; white-space: nowrap; }
.sc-tiles dd[data-level="bad"] { color: #ff5c5c; }
.sc-stream-body { display: grid; grid-template-columns: minmax(0, 3fr) minmax(340px, 2fr); gap: 16px; }
.sc-chart { display: block; width: 100%; }
.sc-chart .sc-grid { stroke: #26303a; stroke-width: 1; }
.sc-chart .sc-frame { fill: none; stroke: #3a4654; stroke-width: 1; }
.sc-chart .sc-axis { fill: var(--sc-muted); font: 11px ui-monospace, SFMono-Regular, Menlo, monospace; }
.sc-chart .sc-threshold-label { font: 600 11px ui-monospace, SFMono-Regular, Menlo, monospace; }
.sc-legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin-top: 2px; font-size: 12px; color: var(--sc-muted); }
.sc-legend-item { display: inline-flex; align-items: center; gap: 6px; }
.sc-swatch { display: inline-block; width: 18px; border-top: 2px solid; }
.sc-swatch[data-stat="p95"] { border-top-style: dashed; }
.sc-legend-value { color: var(--sc-fg); font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.sc-viewers { min-width: 0; }
.sc-viewer-scroll { max-height: 186px; overflow-y: auto; border: 1px solid #26303a; border-radius: 6px; }
.sc-viewer-table { width: 100%; border-collapse: collapse; font-size: 12px; }
.sc-viewer-table th { position: sticky; top: 0; background: #1d252d; color: var(--sc-muted); font-weight: 600; text-align: left; padding: 2px 8px; }
.sc-viewer-table td { padding: 1px 8px; border-top: 1px solid #222b33; white-space: nowrap; }
.sc-viewer-table .sc-id { max-width: 0; width: 100%; overflow: hidden; text-overflow: ellipsis; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.sc-viewer-table .sc-num { text-align: right; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.sc-viewer-table tr.sc-over td { color: #ff5c5c; font-weight: 600; }
.sc-viewer-table tr.sc-more td { color: var(--sc-muted); text-align: center; }
@media (max-width: 900px) { .sc-stream-body, .sc-figures { grid-template-columns: minmax(0, 1fr); }
  .sc-tiles { grid-template-columns: repeat(3, minmax(0, 1fr)); } }
`;

/**
 * The shell's one stylesheet link carries the dashboard's styles (the page has no video.js).
 * The API path travels in a data- attribute; nothing is placed inside <script> or <style>.
 */
export function renderStatusPage(options: StatusPageOptions): string {
  const main = `<main id="scopecast-dashboard" class="sc-dashboard" data-api-url="${escapeHtml(options.apiUrl)}">
  <header class="sc-top">
    <h1>scopecast status</h1>
    <p class="sc-conn" id="scopecast-connection" role="status" aria-live="polite" data-state="loading">Connecting…</p>
  </header>
  <div class="sc-alerts" id="scopecast-alerts" role="alert" hidden></div>
  <div class="sc-streams" id="scopecast-streams"></div>
  <p class="sc-empty" id="scopecast-empty" hidden></p>
</main>`;
  return renderPageShell({ title: 'scopecast status', main, scriptUrl: options.scriptUrl, videoJsCssUrl: options.stylesheetUrl });
}
