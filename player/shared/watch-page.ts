// Server-side HTML for the trainee watch page. Pure: input in, string out.
// Everything the page needs is served by the origin's player plugin; no external hosts.

export interface WatchPageOptions {
  /** Already validated against STREAM_NAME_RE; escaped here anyway. */
  stream: string;
  /** Path prefix of the HLS tier, e.g. '/hls'; the page loads `${hlsPrefix}/${stream}/index.m3u8`. */
  hlsPrefix: string;
  /** URL of the bundled page script. */
  scriptUrl: string;
  /** URL of the video.js stylesheet. */
  videoJsCssUrl: string;
  /** Unpinned drawings fade this long after their media time, ms (origin annotations.fadeMs). Default 5000. */
  fadeMs?: number;
}

/** Drawings fade this long after their media time when the server says nothing else, ms. */
export const DEFAULT_FADE_MS = 5000;

/** The data-fade-ms value: a whole number of ms (the page re-checks it with parseFadeMs). */
export function fadeMsAttribute(fadeMs: number): string {
  return String(Number.isFinite(fadeMs) && fadeMs > 0 ? Math.round(fadeMs) : DEFAULT_FADE_MS);
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

const PAGE_CSS = `
  :root { color-scheme: dark; --sc-bg: #101418; --sc-fg: #e8edf2; --sc-muted: #9aa7b4; }
  * { box-sizing: border-box; }
  html, body { margin: 0; background: var(--sc-bg); color: var(--sc-fg);
    font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  main { max-width: 1280px; margin: 0 auto; padding: 16px; }
  h1 { font-size: 18px; font-weight: 600; margin: 0 0 12px; }
  .sc-stage { position: relative; }
  .sc-latency { position: absolute; top: 10px; right: 10px; z-index: 10; pointer-events: none;
    min-width: 72px; padding: 3px 8px; border-radius: 4px; text-align: center;
    font: 600 13px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace;
    background: rgba(0, 0, 0, 0.65); color: var(--sc-muted); }
  .sc-latency[data-level="good"] { color: #3ddc84; }
  .sc-latency[data-level="warn"] { color: #ffb020; }
  .sc-latency[data-level="bad"] { color: #ff5c5c; }
  .sc-status { margin: 10px 0 0; min-height: 1.4em; color: var(--sc-muted); }
  .sc-status[data-state="playing"] { color: #3ddc84; }
  .sc-status[data-state="reconnecting"], .sc-status[data-state="waiting"] { color: #ffb020; }
  .sc-status[data-state="error"] { color: #ff5c5c; }
  .sc-status[data-state="denied"] { color: #ff5c5c; font-size: 17px; font-weight: 600; }
  /* Access refused: the message instead of an empty player. */
  [data-access="denied"] .sc-stage, [data-access="denied"] .sc-annotation-note { display: none; }
`;

/** The document around a page's <main>: head, shared styles, the bundled script. */
export interface PageShell {
  /** Plain text; escaped here. */
  title: string;
  /** Extra CSS after PAGE_CSS (trusted, never user input). */
  css?: string;
  /** The page's <main> element, already escaped. */
  main: string;
  scriptUrl: string;
  /** The video.js stylesheet; pages without video.js (edge monitor) leave it out. */
  videoJsCssUrl?: string;
}

export function renderPageShell(shell: PageShell): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(shell.title)}</title>
<link rel="icon" href="data:,">
${shell.videoJsCssUrl === undefined ? '' : `<link rel="stylesheet" href="${escapeHtml(shell.videoJsCssUrl)}">
`}<style>${PAGE_CSS}${shell.css ?? ''}</style>
</head>
<body>
${shell.main}
<script type="module" src="${escapeHtml(shell.scriptUrl)}"></script>
</body>
</html>
`;
}

/**
 * The stream name travels in a data- attribute (escaped); the script reads and re-validates it.
 * Nothing user-controlled is placed inside <script> or <style>.
 */
export function renderWatchPage(options: WatchPageOptions): string {
  const stream = escapeHtml(options.stream);
  const fadeMs = fadeMsAttribute(options.fadeMs ?? DEFAULT_FADE_MS);
  const main = `<main id="scopecast-watch" data-stream="${stream}" data-hls-prefix="${escapeHtml(options.hlsPrefix)}" data-fade-ms="${fadeMs}">
  <h1>scopecast — ${stream}</h1>
  <div class="sc-stage" id="scopecast-stage">
    <video id="scopecast-video" class="video-js vjs-default-skin" playsinline muted></video>
    <div class="sc-latency" id="scopecast-latency" data-level="unknown" aria-label="glass-to-glass latency">—</div>
  </div>
  <p class="sc-status" id="scopecast-status" role="status" aria-live="polite" data-state="loading">Connecting…</p>
</main>`;
  return renderPageShell({ title: `scopecast — ${options.stream}`, main, scriptUrl: options.scriptUrl, videoJsCssUrl: options.videoJsCssUrl });
}
