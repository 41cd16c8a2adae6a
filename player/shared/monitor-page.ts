// Server-side HTML and CSP of the edge monitor page (/monitor/<stream> on the EDGE): the surgeon's
// screen for the expert's drawings. The page plays the stream over WHEP from the ORIGIN and talks
// to the origin's /ws/<stream>, so its CSP allows exactly that origin (http(s) and ws(s)) and
// nothing else. Pure: input in, strings out.
import { renderToolbar, TOOLBAR_CSS } from './annotation-toolbar.js';
import { DEFAULT_FADE_MS, escapeHtml, fadeMsAttribute, renderPageShell } from './watch-page.js';

export interface MonitorPageOptions {
  /** Already validated against STREAM_NAME_RE; escaped here anyway. */
  stream: string;
  /** The origin's endpoints (originEndpoints(config.origin.url)). */
  origin: OriginEndpoints;
  scriptUrl: string;
  /** Unpinned drawings fade this long after they appear, ms. Default 5000. */
  fadeMs?: number;
}

/** The origin as the page reaches it: scheme://host[:port] for HTTP (WHEP) and for the WebSocket. */
export interface OriginEndpoints {
  http: string;
  ws: string;
}

// Only what a serialised URL origin can contain: nothing that could end a CSP source or a header.
const SAFE_ORIGIN = /^(https?|wss?):\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/;

/**
 * The origin's http(s) and ws(s) origins from the edge config's origin.url (its path is ignored, as
 * the edge's own link to the origin does). Throws on anything that is not a plain http(s) host.
 */
export function originEndpoints(originUrl: string): OriginEndpoints {
  const url = new URL(originUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`origin url must be http(s), got ${url.protocol}`);
  const http = url.origin;
  const ws = `${url.protocol === 'https:' ? 'wss' : 'ws'}://${url.host}`;
  if (!SAFE_ORIGIN.test(http) || !SAFE_ORIGIN.test(ws)) throw new TypeError(`origin url ${JSON.stringify(originUrl.slice(0, 100))} has an unusable host`);
  return { http, ws };
}

/** Like the origin pages' CSP (self only), except that connections go to the origin and nowhere else. */
export function monitorPageCsp(origin: OriginEndpoints): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `connect-src ${origin.http} ${origin.ws}`,
    "img-src 'self' data:",
    // The page has one inline <style> block; no script is inline.
    "style-src 'self' 'unsafe-inline'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'self'",
  ].join('; ');
}

const MONITOR_CSS = `
  .sc-rtc { display: block; width: 100%; aspect-ratio: 16 / 9; background: #000; }
${TOOLBAR_CSS}`;

/**
 * The stream, the WHEP, WebSocket and token-refresh URLs (all on the origin) travel in data-
 * attributes (escaped); the script reads and re-checks them. Nothing user-controlled is placed
 * inside <script> or <style>.
 */
export function renderMonitorPage(options: MonitorPageOptions): string {
  const stream = escapeHtml(options.stream);
  const name = encodeURIComponent(options.stream);
  const tools = renderToolbar();
  const main = `<main id="scopecast-monitor" data-stream="${stream}" data-whep-url="${escapeHtml(`${options.origin.http}/whep/${name}`)}" data-ws-url="${escapeHtml(`${options.origin.ws}/ws/${name}`)}" data-refresh-url="${escapeHtml(`${options.origin.http}/api/tokens/refresh`)}" data-fade-ms="${fadeMsAttribute(options.fadeMs ?? DEFAULT_FADE_MS)}">
  <h1>scopecast monitor — ${stream}</h1>
  <div class="sc-stage" id="scopecast-stage">
    <video id="scopecast-monitor-video" class="sc-rtc" playsinline muted autoplay></video>
    <div class="sc-latency" id="scopecast-latency" data-level="unknown" aria-label="glass-to-glass latency">—</div>
    ${tools.toolbar}
  </div>
  ${tools.note}
  <p class="sc-status" id="scopecast-status" role="status" aria-live="polite" data-state="loading">Connecting…</p>
</main>`;
  return renderPageShell({ title: `scopecast monitor — ${options.stream}`, css: MONITOR_CSS, main, scriptUrl: options.scriptUrl });
}
