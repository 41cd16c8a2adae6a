// Entry of the expert page: WebRTC (WHEP) first, the trainee page's LL-HLS pipeline as fallback,
// with the access token from the page URL on every request. Wires the controllers on one bus and
// tears them down in reverse order when the page goes away (which also DELETEs the WHEP session).
// A refused token (a trainee link, another stream, expired) ends the page with a message.
import { AccessToken, denyOnSocketRefusal } from '../shared/access-token.js';
import { AnnotationLayer, monotonic, parseFadeMs } from '../shared/annotation-layer.js';
import { AnnotationTools } from '../shared/annotation-tools.js';
import { LatencyLink, latencyLinkUrl } from '../shared/latency-link.js';
import { isValidStreamName } from '../shared/stream-name.js';
import { Bus } from '../watch/bus.js';
import { ExpertDebug } from './expert-debug.js';
import { PageView } from './page-view.js';
import { PathController } from './path-controller.js';
import type { ExpertEvents } from './types.js';

const HLS_WORKER_URL = '/player/expert/hls.worker.js';
const FALLBACK_SCRIPT_URL = '/player/expert-fallback.js';
const REFRESH_URL = '/api/tokens/refresh';

function byId<T extends Element>(id: string, type: abstract new () => T): T {
  const el = document.getElementById(id);
  if (el instanceof type) return el;
  throw new Error(`expert page is missing #${id}`);
}

/** The page's teardown, and where to go back to (with the token) after the back/forward cache. */
interface Running {
  stop: () => void;
  resumeUrl: () => string;
}

function start(): Running {
  const root = byId('scopecast-expert', HTMLElement);
  const { stream, hlsPrefix = '/hls', whepPrefix = '/whep', fadeMs } = root.dataset;
  // First: the token leaves the address bar before anything else can go wrong.
  const access = new AccessToken({
    href: location.href,
    history: window.history,
    refreshUrl: REFRESH_URL,
    ...(isValidStreamName(stream) ? { stream } : {}),
    purpose: 'the expert view',
  });
  window.__scopecastAccess = access.debug;
  const bus = new Bus<ExpertEvents>();
  const debug = new ExpertDebug({ bus, target: window });
  const view = new PageView({ bus, status: byId('scopecast-status', HTMLElement), pathLabel: byId('scopecast-path', HTMLElement) });
  const showDenied = (message: string): void => {
    root.dataset.access = 'denied';
    bus.emit('state', 'denied', message);
  };
  const resumeUrl = (): string => (access.current() ? access.link(location.href) : location.href);
  const alone = (): Running => ({
    resumeUrl,
    stop: () => {
      view.destroy();
      debug.destroy();
      access.destroy();
    },
  });

  if (!isValidStreamName(stream)) {
    bus.emit('state', 'error', 'Invalid stream name');
    return alone();
  }
  if (access.current() === null) {
    access.on('denied', (denial) => showDenied(denial.message));
    access.start();
    return alone();
  }

  const stage = byId('scopecast-stage', HTMLElement);
  let shown: number | null = null;
  const offLatency = bus.on('latency', (ms) => (shown = ms));
  const linkUrl = latencyLinkUrl(stream, location);
  // Declared before the controller so its badges measure on the origin-synced clock from the start.
  const link: LatencyLink = new LatencyLink({
    url: () => access.wsUrl(linkUrl),
    role: 'expert',
    current: () => {
      const current = path.path;
      return shown === null || current === null ? null : { path: current, latencyMs: shown };
    },
    // A reconnect resumes after the last drawing received: none lost, none twice.
    hello: () => layer.hello(),
  });
  const offRefusal = denyOnSocketRefusal(link, access);
  const path = new PathController({
    now: link.now,
    bus,
    stage,
    rtcVideo: byId('scopecast-rtc', HTMLVideoElement),
    hlsSlot: byId('scopecast-hls', HTMLElement),
    badge: byId('scopecast-latency', HTMLElement),
    whepUrl: `${whepPrefix}/${encodeURIComponent(stream)}`,
    hlsUrl: `${hlsPrefix}/${encodeURIComponent(stream)}/index.m3u8`,
    hlsWorkerUrl: HLS_WORKER_URL,
    fallbackScriptUrl: FALLBACK_SCRIPT_URL,
    requestHeaders: () => access.headers(),
    // WHEP or LL-HLS refused the token: the access controller words it (a trainee link on the
    // expert page is told so; it does not quietly become a trainee view).
    onDenied: (error) => access.deny(error),
  });
  // The expert sees drawings on the frame they were drawn on (their own at once, as they draw).
  const mediaTime = monotonic(() => path.mediaTimeOnScreen(), () => path.path);
  const layer = new AnnotationLayer({
    container: stage,
    video: () => path.videoOnScreen,
    playhead: { now: mediaTime },
    fadeMs: parseFadeMs(fadeMs),
    source: link,
    interactive: true,
  });
  const tools = new AnnotationTools({
    layer,
    toolbar: byId('scopecast-tools', HTMLElement),
    note: byId('scopecast-annotation-note', HTMLElement),
    role: 'expert',
    mediaTime,
    link,
  });
  if (window.__scopecast) window.__scopecast.annotations = layer.debug;
  const unmute = byId('scopecast-unmute', HTMLButtonElement);
  const onUnmute = (): void => {
    path.setMuted(false);
    unmute.hidden = true;
  };
  unmute.addEventListener('click', onUnmute);
  // Refused (WHEP, LL-HLS, the socket or the refresh): stop everything that would ask again.
  access.on('denied', (denial) => {
    path.deny({ type: denial.type, details: denial.details, fatal: true, ...(denial.httpStatus ? { httpStatus: denial.httpStatus } : {}) });
    link.destroy();
    showDenied(denial.message);
  });
  access.start();
  path.start();
  link.start();

  const stop = (): void => {
    unmute.removeEventListener('click', onUnmute);
    tools.destroy();
    layer.destroy();
    offRefusal();
    link.destroy();
    offLatency();
    // Before the token goes: the WHEP DELETE carries it.
    path.destroy();
    view.destroy();
    debug.destroy();
    access.destroy();
  };
  return { stop, resumeUrl };
}

const running = start();
// Leaving always ends the WHEP session, even into the back/forward cache; coming back from there
// starts the page afresh rather than resurrecting a session the origin has dropped. The token is
// no longer in the address bar (and stop() forgot it): the page we left hands it on.
let resume: string | null = null;
window.addEventListener('pagehide', () => {
  resume = running.resumeUrl();
  running.stop();
}, { once: true });
window.addEventListener('pageshow', (event) => {
  if (event.persisted) window.location.replace(resume ?? window.location.href);
});
