// Entry of the edge monitor page (/monitor/<stream>, served by the edge): the surgeon's screen.
// Video over WHEP from the origin; the expert's drawings shown the moment they arrive (the
// surgeon's own console is ahead of any network copy, so there is no playhead to wait for); the
// surgeon may draw too. Torn down in reverse order when the page goes away.
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

function start(): () => void {
  const root = byId('scopecast-monitor', HTMLElement);
  const statusLine = byId('scopecast-status', HTMLElement);
  const bus = new Bus<WatchEvents>();
  const debug = new DebugState({ bus, target: window });
  const offState = bus.on('state', (state, message) => {
    statusLine.textContent = message;
    statusLine.dataset.state = state;
  });
  const { stream, fadeMs } = root.dataset;
  const whepUrl = checkedUrl(root.dataset.whepUrl, ['http:', 'https:']);
  const wsUrl = checkedUrl(root.dataset.wsUrl, ['ws:', 'wss:']);
  if (!isValidStreamName(stream) || !whepUrl || !wsUrl) {
    bus.emit('state', 'error', 'This monitor page is misconfigured');
    return () => {
      offState();
      debug.destroy();
    };
  }

  let shown: number | null = null;
  const offLatency = bus.on('latency', (ms) => (shown = ms));
  const link: LatencyLink = new LatencyLink({
    url: wsUrl,
    role: 'surgeon',
    current: () => (shown === null ? null : { path: 'webrtc', latencyMs: shown }),
    // A reconnect resumes after the last drawing received: none lost, none twice.
    hello: () => layer.hello(),
  });
  const video = byId('scopecast-monitor-video', HTMLVideoElement);
  const player = new MonitorPlayer({ video, badge: byId('scopecast-latency', HTMLElement), bus, whepUrl, now: link.now });
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
  player.start();
  link.start();

  return () => {
    tools.destroy();
    layer.destroy();
    link.destroy();
    player.destroy();
    offLatency();
    offState();
    debug.destroy();
  };
}

const stop = start();
// Leaving ends the WHEP session (even into the back/forward cache); coming back starts afresh.
window.addEventListener('pagehide', () => stop(), { once: true });
window.addEventListener('pageshow', (event) => {
  if (event.persisted) window.location.reload();
});
