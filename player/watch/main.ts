// Entry of the trainee watch page: takes the access token out of the page URL (shared/access-token),
// reads the stream from the page, wires the controllers on one bus, and tears them down (in
// reverse order) when the page goes away. A refused token ends playback with a message saying why.
import { AccessToken, denyOnSocketRefusal } from '../shared/access-token.js';
import { AnnotationLayer, parseFadeMs } from '../shared/annotation-layer.js';
import { LatencyLink, latencyLinkUrl } from '../shared/latency-link.js';
import { isValidStreamName } from '../shared/stream-name.js';
import { Bus } from './bus.js';
import { CatchUpController } from './catch-up-controller.js';
import { DebugState } from './debug-state.js';
import { LatencyBadge } from './latency-badge.js';
import { StatusController } from './status-controller.js';
import type { WatchEvents } from './types.js';
import { VideoController } from './video-controller.js';

const HLS_WORKER_URL = '/player/hls.worker.js';
const REFRESH_URL = '/api/tokens/refresh';

function required<T extends Element>(id: string, type: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`watch page is missing #${id}`);
  return el;
}

function start(): () => void {
  const root = required('scopecast-watch', HTMLElement);
  const stream = root.dataset.stream;
  // First: the token leaves the address bar before anything else can go wrong.
  const access = new AccessToken({
    href: location.href,
    history: window.history,
    refreshUrl: REFRESH_URL,
    ...(isValidStreamName(stream) ? { stream } : {}),
    purpose: 'the live view',
  });
  window.__scopecastAccess = access.debug;
  const video = required('scopecast-video', HTMLVideoElement);
  const badge = required('scopecast-latency', HTMLElement);
  const stage = required('scopecast-stage', HTMLElement);
  const statusLine = required('scopecast-status', HTMLElement);

  const bus = new Bus<WatchEvents>();
  const debug = new DebugState({ bus, target: window });
  const showAlone = (state: 'error' | 'denied', message: string): void => {
    statusLine.textContent = message;
    statusLine.dataset.state = state;
    if (state === 'denied') root.dataset.access = 'denied';
    bus.emit('state', state, message);
  };

  const hlsPrefix = root.dataset.hlsPrefix ?? '/hls';
  if (!isValidStreamName(stream)) {
    showAlone('error', 'Invalid stream name');
    return () => {
      debug.destroy();
      access.destroy();
    };
  }
  if (access.current() === null) {
    // No token, no player: the message, not a spinner that never ends.
    access.on('denied', (denial) => showAlone('denied', denial.message));
    access.start();
    return () => {
      debug.destroy();
      access.destroy();
    };
  }

  const controller = new VideoController({
    video,
    bus,
    source: `${hlsPrefix}/${encodeURIComponent(stream)}/index.m3u8`,
    workerPath: HLS_WORKER_URL,
    requestHeaders: () => access.headers(),
  });
  // A refused playlist or segment: the access controller words it, the status line shows it.
  const status = new StatusController({ bus, actions: controller, element: statusLine, onDenied: (error) => access.deny(error) });
  // The figure on screen is what gets reported: the same number the trainee sees.
  let shown: number | null = null;
  const offLatency = bus.on('latency', (ms) => (shown = ms));
  const linkUrl = latencyLinkUrl(stream, location);
  const link: LatencyLink = new LatencyLink({
    url: () => access.wsUrl(linkUrl),
    role: 'trainee',
    current: () => (shown === null || video.paused ? null : { path: 'llhls', latencyMs: shown }),
    // A reconnect resumes after the last drawing received: none lost, none twice.
    hello: () => layer.hello(),
  });
  const offRefusal = denyOnSocketRefusal(link, access);
  // Drawings appear when the playhead reaches the frame they were drawn on; per presented frame
  // (requestVideoFrameCallback), that frame's PROGRAM-DATE-TIME decides, so they land on it.
  const playingMs = (): number | null => controller.playingDate?.getTime() ?? null;
  const layer: AnnotationLayer = new AnnotationLayer({
    // Inside video.js's wrapper (made by the controller above), so drawings go fullscreen with it.
    container: video.parentElement ?? stage,
    video: () => video,
    playhead: {
      now: playingMs,
      atFrame: (v, frame) => {
        const ms = playingMs();
        return ms === null ? null : ms + (frame.mediaTime - v.currentTime) * 1000;
      },
    },
    fadeMs: parseFadeMs(root.dataset.fadeMs),
    source: link,
  });
  if (window.__scopecast) window.__scopecast.annotations = layer.debug;
  const latency = new LatencyBadge({ element: badge, bus, playingDate: () => controller.playingDate, now: link.now });
  const catchUp = new CatchUpController({ video, measure: () => controller.liveLatency() });
  // Refused (a request, the socket, or the refresh): stop everything that would ask again.
  access.on('denied', (denial) => {
    root.dataset.access = 'denied';
    status.deny(denial.message);
    link.destroy();
    catchUp.destroy();
  });
  access.start();
  link.start();
  controller.start();

  return () => {
    catchUp.destroy();
    layer.destroy();
    offRefusal();
    link.destroy();
    offLatency();
    latency.destroy();
    status.destroy();
    controller.destroy();
    debug.destroy();
    access.destroy();
  };
}

const stop = start();
window.addEventListener('pagehide', (event) => {
  // A page kept in the back/forward cache may come back; only a real unload tears down.
  if (!event.persisted) stop();
}, { once: true });
