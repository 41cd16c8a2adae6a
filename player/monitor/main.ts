// Entry of the edge monitor page (/monitor/<stream>, served by the edge): the surgeon's screen.
// Video over WHEP from the origin; the expert's drawings shown the moment they arrive (the
// surgeon's own console is ahead of any network copy, so there is no playhead to wait for); the
// surgeon may draw too. The access token in this page's URL (handed out for the surgeon) is sent
// to the origin: WHEP header, ?token= on the socket, refreshed there. Torn down in reverse order
// when the page goes away.
import { AccessToken, denyOnSocketRefusal } from '../shared/access-token.js';
import { AnnotationLayer, parseFadeMs } from '../shared/annotation-layer.js';
import { AnnotationTools } from '../shared/annotation-tools.js';
import { LatencyLink } from '../shared/latency-link.js';
import { isValidStreamName } from '../shared/stream-name.js';
import { Bus } from '../watch/bus.js';
import { DebugState } from '../watch/debug-state.js';
import type { WatchEvents } from '../watch/types.js';
import { MonitorPlayer } from './monitor-player.js';

function byId<T extends Element>(id: string, type: abstract new () => T): T {
  const el = document.getElementById(id);
  if (el instanceof type) return el;
  throw new Error(`monitor page is missing #${id}`);
}

/** The server put these URLs in the page; they still have to be what the page expects. */
function checkedUrl(value: string | undefined, protocols: readonly string[]): string | null {
  try {
    const url = new URL(value ?? '');
    return protocols.includes(url.protocol) ? url.toString() : null;
  } catch {
    return null;
  }
}

/** The page's teardown, and where to go back to (with the token) after the back/forward cache. */
interface Running {
  stop: () => void;
  resumeUrl: () => string;
}

function start(): Running {
  const root = byId('scopecast-monitor', HTMLElement);
  const { stream, fadeMs } = root.dataset;
  const whepUrl = checkedUrl(root.dataset.whepUrl, ['http:', 'https:']);
  const wsUrl = checkedUrl(root.dataset.wsUrl, ['ws:', 'wss:']);
  const refreshUrl = checkedUrl(root.dataset.refreshUrl, ['http:', 'https:']);
  // First: the token leaves the address bar. The edge serves this page, the ORIGIN checks the
  // token (WHEP, socket) and refreshes it.
  const access = new AccessToken({
    href: location.href,
    history: window.history,
    refreshUrl: refreshUrl ?? '',
    ...(isValidStreamName(stream) ? { stream } : {}),
    purpose: 'the surgeon\'s monitor',
  });
  window.__scopecastAccess = access.debug;
  const resumeUrl = (): string => (access.current() ? access.link(location.href) : location.href);
  const statusLine = byId('scopecast-status', HTMLElement);
  const bus = new Bus<WatchEvents>();
  const debug = new DebugState({ bus, target: window });
  const offState = bus.on('state', (state, message) => {
    statusLine.textContent = message;
    statusLine.dataset.state = state;
  });
  const showDenied = (message: string): void => {
    root.dataset.access = 'denied';
    bus.emit('state', 'denied', message);
  };
  const alone = (): Running => ({
    resumeUrl,
    stop: () => {
      offState();
      debug.destroy();
      access.destroy();
    },
  });
  if (!isValidStreamName(stream) || !whepUrl || !wsUrl || !refreshUrl) {
    bus.emit('state', 'error', 'This monitor page is misconfigured');
    return alone();
  }
  if (access.current() === null) {
    access.on('denied', (denial) => showDenied(denial.message));
    access.start();
    return alone();
  }

  let shown: number | null = null;
  const offLatency = bus.on('latency', (ms) => (shown = ms));
  const link: LatencyLink = new LatencyLink({
    url: () => access.wsUrl(wsUrl),
    role: 'surgeon',
    current: () => (shown === null ? null : { path: 'webrtc', latencyMs: shown }),
    // A reconnect resumes after the last drawing received: none lost, none twice.
    hello: () => layer.hello(),
  });
  const offRefusal = denyOnSocketRefusal(link, access);
  const video = byId('scopecast-monitor-video', HTMLVideoElement);
  const player = new MonitorPlayer({
    video,
    badge: byId('scopecast-latency', HTMLElement),
    bus,
    whepUrl,
    now: link.now,
    requestHeaders: () => access.headers(),
    onDenied: (error) => access.deny(error),
  });
  const layer: AnnotationLayer = new AnnotationLayer({
    container: byId('scopecast-stage', HTMLElement),
    video: () => video,
    // "Latest": drawings are placed when the origin accepted them and the playhead is the origin
    // clock (never behind the newest), so each shows at once and fades fadeMs later.
    playhead: { now: () => Math.max(link.now(), layer.latestMediaTime) },
    showOnArrival: true,
    fadeMs: parseFadeMs(fadeMs),
    source: link,
    interactive: true,
  });
  const tools = new AnnotationTools({
    layer,
    toolbar: byId('scopecast-tools', HTMLElement),
    note: byId('scopecast-annotation-note', HTMLElement),
    role: 'surgeon',
    // The frame on this screen; before there is one, the console's own picture, which is live.
    mediaTime: () => player.mediaTime() ?? link.now(),
    link,
  });
  if (window.__scopecast) window.__scopecast.annotations = layer.debug;
  // Refused (WHEP, the socket or the refresh): stop everything that would ask again.
  access.on('denied', (denial) => {
    player.stop();
    link.destroy();
    showDenied(denial.message);
  });
  access.start();
  player.start();
  link.start();

  const stop = (): void => {
    tools.destroy();
    layer.destroy();
    offRefusal();
    link.destroy();
    // Before the token goes: the WHEP DELETE carries it.
    player.destroy();
    offLatency();
    offState();
    debug.destroy();
    access.destroy();
  };
  return { stop, resumeUrl };
}

const running = start();
// Leaving ends the WHEP session (even into the back/forward cache); coming back starts afresh,
// with the token the page held (it is no longer in the address bar).
let resume: string | null = null;
window.addEventListener('pagehide', () => {
  resume = running.resumeUrl();
  running.stop();
}, { once: true });
window.addEventListener('pageshow', (event) => {
  if (event.persisted) window.location.replace(resume ?? window.location.href);
});
