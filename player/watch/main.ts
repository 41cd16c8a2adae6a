// Entry of the trainee watch page: reads the stream from the page, wires the controllers on one
// bus, and tears them down (in reverse order) when the page goes away.
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

function required<T extends Element>(id: string, type: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`watch page is missing #${id}`);
  return el;
}

function start(): () => void {
  const root = required('scopecast-watch', HTMLElement);
  const video = required('scopecast-video', HTMLVideoElement);
  const badge = required('scopecast-latency', HTMLElement);
  const stage = required('scopecast-stage', HTMLElement);
  const statusLine = required('scopecast-status', HTMLElement);

  const bus = new Bus<WatchEvents>();
  const debug = new DebugState({ bus, target: window });

  const stream = root.dataset.stream;
  const hlsPrefix = root.dataset.hlsPrefix ?? '/hls';
  if (!isValidStreamName(stream)) {
    statusLine.textContent = 'Invalid stream name';
    statusLine.dataset.state = 'error';
    bus.emit('state', 'error', 'Invalid stream name');
    return () => debug.destroy();
  }

  const controller = new VideoController({
    video,
    bus,
    source: `${hlsPrefix}/${encodeURIComponent(stream)}/index.m3u8`,
    workerPath: HLS_WORKER_URL,
  });
  const status = new StatusController({ bus, actions: controller, element: statusLine });
  // The figure on screen is what gets reported: the same number the trainee sees.
  let shown: number | null = null;
  const offLatency = bus.on('latency', (ms) => (shown = ms));
  const link: LatencyLink = new LatencyLink({
    url: latencyLinkUrl(stream, location),
    role: 'trainee',
    current: () => (shown === null || video.paused ? null : { path: 'llhls', latencyMs: shown }),
    // A reconnect resumes after the last drawing received: none lost, none twice.
    hello: () => layer.hello(),
  });
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
  link.start();
  const catchUp = new CatchUpController({ video, measure: () => controller.liveLatency() });
  controller.start();

  return () => {
    catchUp.destroy();
    layer.destroy();
    link.destroy();
    offLatency();
    latency.destroy();
    status.destroy();
    controller.destroy();
    debug.destroy();
  };
}

const stop = start();
window.addEventListener('pagehide', (event) => {
  // A page kept in the back/forward cache may come back; only a real unload tears down.
  if (!event.persisted) stop();
}, { once: true });
