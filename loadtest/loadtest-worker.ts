// A worker thread of the load test: runs one class of viewers (LL-HLS or WHEP) and reports to the
// main thread once a second. Viewers are split over a few workers so that one event loop is not
// what limits them (its delay would show up as viewer latency): the per-tick event-loop delay is
// reported so a reader can tell the client's delay from the origin's.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { Agent } from 'undici';
import { HlsLoadViewer, type ViewerSink } from './loadtest-viewers.js';
import type { ToWorker, WorkerInit, WorkerTick } from './loadtest-protocol.js';

const init = workerData as WorkerInit;
const port = parentPort!;
// werift only where it is used: loading it costs seconds of a busy CPU.
const { WhepLoadViewer } = init.kind === 'whep' ? await import('./loadtest-whep-viewer.js') : { WhepLoadViewer: null };
type Viewer = { checkStall(now: number): void; close(): Promise<void>; start(): void; readonly hasMedia: boolean; readonly counters: { media: number; bytes: number; requests: number } };
const viewers: Viewer[] = [];
let at: number[] = [];
let latency: number[] = [];
let errors: Record<string, number> = {};
const sink: ViewerSink = {
  sample(atMs, latencyMs) {
    at.push(atMs);
    latency.push(latencyMs);
  },
  error(kind) {
    errors[kind] = (errors[kind] ?? 0) + 1;
  },
};

// One keep-alive pool for every LL-HLS viewer of this worker: each viewer holds one connection
// (its blocking reload, then its part fetches on the same socket), so the pool must not queue them.
const agent =
  init.kind === 'hls'
    ? new Agent({ connections: init.connections, pipelining: 1, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 60_000, headersTimeout: 15_000, bodyTimeout: 15_000 })
    : null;

const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
const joinTimers = new Set<NodeJS.Timeout>();

function addViewer(): void {
  const viewer: Viewer = WhepLoadViewer
    ? new WhepLoadViewer(init.url, { sink, ...(init.token ? { token: init.token } : {}), ...(init.interfaceAddress ? { interfaceAddress: init.interfaceAddress } : {}) })
    : new HlsLoadViewer(init.url, { dispatcher: agent!, sink, ...(init.token ? { token: init.token } : {}) });
  viewers.push(viewer);
  viewer.start();
}

function tick(): WorkerTick {
  const now = Date.now();
  for (const v of viewers) v.checkStall(now);
  const totals = { media: 0, bytes: 0, requests: 0 };
  let withMedia = 0;
  for (const v of viewers) {
    totals.media += v.counters.media;
    totals.bytes += v.counters.bytes;
    totals.requests += v.counters.requests;
    if (v.hasMedia) withMedia += 1;
  }
  const out: WorkerTick = {
    type: 'tick',
    kind: init.kind,
    at: now,
    sampleAt: at,
    sampleLatency: latency,
    errors,
    viewers: viewers.length,
    withMedia,
    ...totals,
    loopDelayMs: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
  };
  at = [];
  latency = [];
  errors = {};
  loop.reset();
  return out;
}

const ticker = setInterval(() => port.postMessage(tick()), 1000);

port.on('message', (message: ToWorker) => {
  if (message.type === 'add') {
    // Joins spread evenly over overMs, as viewers arriving at a case would.
    for (let i = 0; i < message.count; i++) {
      const delay = message.count > 1 ? (i * message.overMs) / (message.count - 1) : 0;
      const timer = setTimeout(() => {
        joinTimers.delete(timer);
        addViewer();
      }, delay);
      joinTimers.add(timer);
    }
  } else if (message.type === 'stop') {
    clearInterval(ticker);
    for (const timer of joinTimers) clearTimeout(timer);
    joinTimers.clear();
    void Promise.allSettled(viewers.map((v) => v.close())).then(async () => {
      port.postMessage(tick());
      await agent?.close().catch(() => {});
      loop.disable();
      port.postMessage({ type: 'stopped' });
      port.close();
    });
  }
});

// Loading this module can take seconds on a busy machine: the main thread waits for this.
port.postMessage({ type: 'ready' });
