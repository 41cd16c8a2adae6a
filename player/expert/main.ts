// Entry of the expert page: WebRTC (WHEP) first, the trainee page's LL-HLS pipeline as fallback.
// Wires the controllers on one bus and tears them down in reverse order when the page goes away
// (which also DELETEs the WHEP session).
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

function byId<T extends Element>(id: string, type: abstract new () => T): T {
  const el = document.getElementById(id);
  if (el instanceof type) return el;
  throw new Error(`expert page is missing #${id}`);
}

function start(): () => void {
  const root = byId('scopecast-expert', HTMLElement);
  const bus = new Bus<ExpertEvents>();
  const debug = new ExpertDebug({ bus, target: window });
  const view = new PageView({ bus, status: byId('scopecast-status', HTMLElement), pathLabel: byId('scopecast-path', HTMLElement) });

  const { stream, hlsPrefix = '/hls', whepPrefix = '/whep', fadeMs } = root.dataset;
  if (!isValidStreamName(stream)) {
    bus.emit('state', 'error', 'Invalid stream name');
    return () => {
      view.destroy();
      debug.destroy();
    };
  }

  const stage = byId('scopecast-stage', HTMLElement);
  let shown: number | null = null;
  const offLatency = bus.on('latency', (ms) => (shown = ms));
  // Declared before the controller so its badges measure on the origin-synced clock from the start.
  const link: LatencyLink = new LatencyLink({
    url: latencyLinkUrl(stream, location),
    role: 'expert',
    current: () => {
      const current = path.path;
      return shown === null || current === null ? null : { path: current, latencyMs: shown };
    },
    // A reconnect resumes after the last drawing received: none lost, none twice.
    hello: () => layer.hello(),
  });
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
  path.start();
  link.start();

  return () => {
    unmute.removeEventListener('click', onUnmute);
    tools.destroy();
    layer.destroy();
    link.destroy();
    offLatency();
    path.destroy();
    view.destroy();
    debug.destroy();
  };
}

const stop = start();
// Leaving always ends the WHEP session, even into the back/forward cache; coming back from there
// starts the page afresh rather than resurrecting a session the edge has dropped.
window.addEventListener('pagehide', () => stop(), { once: true });
window.addEventListener('pageshow', (event) => {
  if (event.persisted) window.location.reload();
});
