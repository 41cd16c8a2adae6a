// Server-side HTML for the expert page. Pure: input in, string out. Shares the watch page's shell,
// look and escaping; everything it loads is served by the origin's expert plugin.
import { renderToolbar, TOOLBAR_CSS } from './annotation-toolbar.js';
import { DEFAULT_FADE_MS, escapeHtml, fadeMsAttribute, renderPageShell } from './watch-page.js';

export interface ExpertPageOptions {
  /** Already validated against STREAM_NAME_RE; escaped here anyway. */
  stream: string;
  /** The page loads `${hlsPrefix}/${stream}/index.m3u8` when it falls back to LL-HLS. */
  hlsPrefix: string;
  /** The page POSTs its WHEP offer to `${whepPrefix}/${stream}`. */
  whepPrefix: string;
  scriptUrl: string;
  videoJsCssUrl: string;
  /** Unpinned drawings fade this long after their media time, ms (origin annotations.fadeMs). Default 5000. */
  fadeMs?: number;
}

const EXPERT_CSS = `
  h1 { display: flex; align-items: center; gap: 10px; }
  .sc-path { font: 600 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; padding: 2px 8px;
    border-radius: 4px; background: #26303a; color: var(--sc-muted); }
  .sc-path:empty { display: none; }
  .sc-path[data-path="webrtc"] { color: #3ddc84; }
  .sc-path[data-path="llhls"] { color: #ffb020; }
  .sc-rtc { display: block; width: 100%; aspect-ratio: 16 / 9; background: #000; }
  .sc-stage[data-path="llhls"] .sc-rtc, .sc-stage:not([data-path="llhls"]) .sc-hls { display: none; }
  .sc-unmute { position: absolute; left: 10px; top: 10px; z-index: 10; padding: 4px 10px; border: 0;
    border-radius: 4px; background: rgba(0, 0, 0, 0.65); color: var(--sc-fg); font: inherit; cursor: pointer; }
${TOOLBAR_CSS}`;

/**
 * The stream name and prefixes travel in data- attributes (escaped); the script reads and
 * re-validates them. Nothing user-controlled is placed inside <script> or <style>.
 */
export function renderExpertPage(options: ExpertPageOptions): string {
  const stream = escapeHtml(options.stream);
  const tools = renderToolbar();
  const fadeMs = fadeMsAttribute(options.fadeMs ?? DEFAULT_FADE_MS);
  const main = `<main id="scopecast-expert" data-stream="${stream}" data-hls-prefix="${escapeHtml(options.hlsPrefix)}" data-whep-prefix="${escapeHtml(options.whepPrefix)}" data-fade-ms="${fadeMs}">
  <h1>scopecast expert — ${stream} <span class="sc-path" id="scopecast-path" data-path="" aria-label="delivery path"></span></h1>
  <div class="sc-stage" id="scopecast-stage">
    <video id="scopecast-rtc" class="sc-rtc" playsinline muted autoplay></video>
    <div class="sc-hls" id="scopecast-hls"></div>
    <div class="sc-latency" id="scopecast-latency" data-level="unknown" aria-label="glass-to-glass latency">—</div>
    <button class="sc-unmute" id="scopecast-unmute" type="button">Click to unmute</button>
    ${tools.toolbar}
  </div>
  ${tools.note}
  <p class="sc-status" id="scopecast-status" role="status" aria-live="polite" data-state="loading">Connecting…</p>
</main>`;
  return renderPageShell({
    title: `scopecast expert — ${options.stream}`,
    css: EXPERT_CSS,
    main,
    scriptUrl: options.scriptUrl,
    videoJsCssUrl: options.videoJsCssUrl,
  });
}
