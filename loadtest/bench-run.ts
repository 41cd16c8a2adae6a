// The side-by-side bench itself; started by loadtest/bench.ts (npm run bench), which explains why
// it runs in its own process. Options: --duration 20 --warmup 5 --only llhls,whep,nms-flv,nginx-hls
// --source-size 1280x720.
//
// scopecast side by side with two anchors, in one run, from one pixel-stamped source:
//   llhls      scopecast: edge re-encode -> origin LL-HLS -> Node LL-HLS client (blocking reload)
//   whep       scopecast: edge re-encode -> origin WHEP -> Node werift client
//   nms-flv    anchor: plain node-media-server 4.4, RTMP -> HTTP-FLV, read with fetch
//   nginx-hls  anchor: nginx + nginx-rtmp-module, HLS 1 s fragments, read at the live edge
// Every viewer pipes what it receives into ffmpeg and reads the console's stamp from each decoded
// frame (latency = decode time - stamp), all four at the same time on the same stream.
//
// The source: one synthetic console (its own process, 720p30 x264 4 Mbit/s + AAC, as
// bench-latency but at the 720p the anchors in DESIGN.md were measured with) publishes to one
// ffmpeg relay that copies the same packets to the edge, node-media-server and nginx (see
// rtmp-fanout.ts for why a relay and not three consoles or the tee muxer).
//
// Results: a Markdown table on stdout, bench-results/bench-<time>.json and .html (chart).
// Exit 1 with the reason if a server, the relay or the console cannot start or dies, or a viewer
// saw no frame; SIGINT/SIGTERM end every process this started and exit 130.
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from '../lib/net.js';
import { NginxRtmpAnchor, NmsFlvAnchor, measureHttpFlv, measureLiveEdgeHls, spawnOwned } from './anchors/index.js';
import { benchHtml, benchTable, type BenchViewer } from './bench-report.js';
import { Cleanup } from './cleanup.js';
import { measureNodeLlHls, measureNodeWebRtc, sleep, type MeasureWindow, type Measurement } from './measure.js';
import { RtmpFanout } from './rtmp-fanout.js';
import { ScopecastStack } from './scopecast-stack.js';

const VIEWERS = {
  llhls: { label: 'scopecast LL-HLS (Node LL-HLS client)', anchor: false },
  whep: { label: 'scopecast WHEP (Node werift client)', anchor: false },
  'nms-flv': { label: 'node-media-server 4.4 RTMP -> HTTP-FLV', anchor: true },
  'nginx-hls': { label: 'nginx-rtmp HLS, 1 s fragments, live edge', anchor: true },
} as const;
type ViewerKey = keyof typeof VIEWERS;
const VIEWER_KEYS = Object.keys(VIEWERS) as ViewerKey[];
const STREAM = 'bench';
const FPS = 30;
const BITRATE_KBPS = 4000; // the synthetic console's default, as in bench-latency

function usage(message: string): never {
  console.error(`${message}\nusage: npm run bench [-- --duration S --warmup S --only ${VIEWER_KEYS.join(',')} --source-size WxH]`);
  process.exit(2);
}

function options(): { duration: string; warmup: string; only?: string; 'source-size': string } {
  try {
    return parseArgs({
      options: {
        duration: { type: 'string', default: '20' },
        warmup: { type: 'string', default: '5' },
        only: { type: 'string' },
        'source-size': { type: 'string', default: '1280x720' },
      },
    }).values;
  } catch (err) {
    return usage((err as Error).message);
  }
}
const args = options();
const durationS = Number(args.duration);
const warmupS = Number(args.warmup);
if (!(durationS > 0)) usage(`--duration ${args.duration}: a number of seconds > 0`);
if (!(warmupS >= 0)) usage(`--warmup ${args.warmup}: a number of seconds >= 0`);
const only = args.only?.split(',').map((s) => s.trim()).filter(Boolean) ?? VIEWER_KEYS;
const unknown = only.filter((k) => !VIEWER_KEYS.includes(k as ViewerKey));
if (unknown.length > 0 || only.length === 0) usage(`--only ${args.only}: choose from ${VIEWER_KEYS.join(', ')}`);
const selected = VIEWER_KEYS.filter((k) => only.includes(k));
const sourceSize = String(args['source-size']);
if (!/^\d+x\d+$/.test(sourceSize)) usage(`--source-size ${sourceSize}: WxH, e.g. 1280x720`);

// One controller ends every wait and measurement: Ctrl-C, or anything this run depends on dying.
const stop = new AbortController();
let failure: string | null = null;
let finished = false;
const fail = (reason: string): void => {
  if (failure || finished) return;
  failure = reason;
  stop.abort();
};
const stopped = new Promise<never>((_, reject) => stop.signal.addEventListener('abort', () => reject(new Error(failure ?? 'stopped')), { once: true }));
stopped.catch(() => {});
/** Any startup step, cut short when the run is stopped. */
const step = <T>(p: Promise<T>): Promise<T> => Promise.race([p, stopped]);

const cleanup = new Cleanup();
let interruptedAt = 0;
const onSignal = (signal: NodeJS.Signals): void => {
  // Ctrl-C reaches npm, tsx and us at once: repeats within 2 s are the same request.
  if (interruptedAt) {
    if (Date.now() - interruptedAt < 2000) return;
    console.error(`${signal} again: killing every process now`);
    cleanup.killNow();
    process.exit(130);
  }
  interruptedAt = Date.now();
  console.error(`${signal}: stopping the bench and ending every process it started`);
  fail(`interrupted (${signal})`);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

// The viewers' clients and decoders' stdout are read in this event loop (with the edge and
// origin): its delay while measuring is part of every latency measured here, so it is reported.
const loopDelay = monitorEventLoopDelay({ resolution: 10 });

/** Share of all CPUs busy over the next second (Linux /proc/stat), or null where unreadable. */
async function cpuBusy(): Promise<number | null> {
  const sample = async (): Promise<number[] | null> =>
    readFile('/proc/stat', 'utf8').then((t) => t.split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number), () => null);
  const a = await sample();
  await sleep(1000);
  const b = await sample();
  if (!a || !b) return null;
  const delta = b.map((v, i) => v - (a[i] ?? 0));
  const total = delta.reduce((x, y) => x + y, 0);
  const idle = (delta[3] ?? 0) + (delta[4] ?? 0); // idle + iowait
  return total > 0 ? 1 - idle / total : null;
}
// Other work on the box inflates every row: measured before anything starts, and reported.
const busyBefore = await cpuBusy();
const loadBefore = loadavg()[0] ?? 0;

async function run(): Promise<BenchViewer[]> {
  const wants = (k: ViewerKey): boolean => selected.includes(k);
  const scopecast = wants('llhls') || wants('whep') ? new ScopecastStack(STREAM) : null;
  const nms = wants('nms-flv') ? new NmsFlvAnchor(STREAM) : null;
  const nginx = wants('nginx-hls') ? new NginxRtmpAnchor(STREAM) : null;
  if (scopecast) {
    cleanup.add('scopecast edge + origin', () => scopecast.close());
    await step(scopecast.start());
  }
  if (nms) {
    cleanup.add('node-media-server', () => nms.close(), () => nms.pid);
    await step(nms.start());
    void nms.unexpectedExit().then(fail);
  }
  if (nginx) {
    cleanup.add('nginx', () => nginx.close(), () => nginx.pid);
    await step(nginx.start({ fragmentS: 1, playlistS: 4, signal: stop.signal }));
    void nginx.unexpectedExit().then(fail);
  }

  const targets = [scopecast?.publishUrl, nms?.publishUrl, nginx?.publishUrl].filter((u): u is string => u !== undefined);
  const fanout = new RtmpFanout(`rtmp://127.0.0.1:${await freePort()}/live/${STREAM}`, targets);
  cleanup.add('RTMP fanout', () => fanout.close(), () => fanout.pid);
  fanout.start((exit) => fail(`the RTMP fanout (ffmpeg copying the source to the servers) exited: ${exit.stderrTail.trim() || `code ${exit.code}`}`));
  await step(fanout.listening(5000, stop.signal));

  // The console is its own process, as a real one is its own device: painting frames in this
  // event loop would delay the edge, origin and viewers measured here.
  const consoleEntry = fileURLToPath(new URL('../bin/synthetic-console.ts', import.meta.url));
  const source = spawnOwned(process.execPath, ['--import', 'tsx', consoleEntry, fanout.inputUrl, '--size', sourceSize, '--fps', String(FPS)], { stdio: ['ignore', 'ignore', 'inherit'], dieWithParent: true });
  cleanup.add('synthetic console', async () => void (await source.stop()), () => source.child.pid);
  void source.exited.then((exit) => fail(`the synthetic console exited (code ${exit.code}, signal ${exit.signal})`));

  await step(
    Promise.all([
      scopecast?.ready(stop.signal, 20_000),
      nms?.ready(stop.signal, 20_000),
      nginx?.ready(stop.signal, 20_000),
    ]),
  );
  await step(sleep(2000, stop.signal)); // let live windows fill, like a viewer joining a running case

  const window: MeasureWindow = { warmupS, durationS, signal: stop.signal };
  const measure: Record<ViewerKey, () => Promise<Measurement>> = {
    llhls: () => measureNodeLlHls(scopecast!.masterUrl, window, scopecast!.token('trainee')),
    whep: () => measureNodeWebRtc(scopecast!.whepUrl, window, scopecast!.token('expert')),
    'nms-flv': () => measureHttpFlv(nms!.flvUrl, window),
    'nginx-hls': () => measureLiveEdgeHls(nginx!.playlistUrl, window),
  };
  console.error(`measuring ${selected.join(', ')} side by side: ${warmupS} s warm-up + ${durationS} s`);
  if (busyBefore !== null && busyBefore > 0.15) {
    console.error(`warning: the CPUs were ${Math.round(busyBefore * 100)}% busy before the run started: other work competes with the bench and inflates every row`);
  }
  loopDelay.enable();
  // A viewer that fails stops the others early; allSettled lets each close its client and decoder.
  const settled = await Promise.allSettled(
    selected.map((key) =>
      measure[key]().catch((err: Error) => {
        fail(`${key} viewer: ${err.message}`);
        throw err;
      }),
    ),
  );
  loopDelay.disable();
  if (failure) throw new Error(failure);
  finished = true;
  return settled.map((s, i) => {
    const key = selected[i]!;
    const m = (s as PromiseFulfilledResult<Measurement>).value;
    return { key, label: VIEWERS[key].label, anchor: VIEWERS[key].anchor, result: m.result, startedAt: m.startedAt, series: m.series };
  });
}

// Watchdog: closing must not hang the run forever.
const teardown = async (): Promise<void> => {
  const timer = setTimeout(() => {
    console.error('closing took over 20 s: killing every process');
    cleanup.killNow();
    process.exit(1);
  }, 20_000);
  timer.unref();
  await cleanup.run();
  clearTimeout(timer);
};

let viewers: BenchViewer[];
try {
  viewers = await run();
} catch (err) {
  await teardown();
  const reason = failure ?? (err as Error).message;
  console.error(`bench failed: ${reason}`);
  process.exit(interruptedAt ? 130 : 1);
}
await teardown();
if (failure) {
  console.error(`bench failed: ${failure}`);
  process.exit(interruptedAt ? 130 : 1);
}

const date = new Date().toISOString();
const machine = { cpus: cpus().length, model: cpus()[0]?.model ?? '?', node: process.version };
const setup = [
  `Source: synthetic console ${sourceSize}p${FPS}, x264 ultrafast zerolatency ${BITRATE_KBPS} kbit/s, 1 s GOP, AAC; one encode, copied by an ffmpeg relay to every server (same frames, same stamps).`,
  'scopecast: edge (node-media-server ingest, endoscopy-1080p profile: 1280x720p30 x264 ultrafast re-encode, 200 ms CMAF parts) -> origin (LL-HLS PART-HOLD-BACK 0.6 s, blocking reload; WHEP via werift).',
  'Anchors: node-media-server 4.4 (plain, own process) RTMP -> HTTP-FLV; nginx 1.22 + nginx-rtmp-module HLS (hls_fragment 1s, hls_playlist_length 4s), playlist polled every 100 ms, newest segment first.',
  `Every viewer decodes with ffmpeg as bytes arrive (segments and parts in a burst) and reads the pixel stamp: latency = decode time - stamp. All viewers at once; percentiles after a ${warmupS} s warm-up, over ${durationS} s. ${machine.cpus} cores, ${machine.model}, node ${machine.node}.`,
];
const loop = { p50Ms: loopDelay.percentile(50) / 1e6, p99Ms: loopDelay.percentile(99) / 1e6, maxMs: loopDelay.max / 1e6 };
setup.push(
  `Machine: CPUs ${busyBefore === null ? '?' : `${Math.round(busyBefore * 100)}%`} busy in the second before the run (other work on the box), 1-min load average ${loadBefore.toFixed(1)}; this process's event-loop delay while measuring (the edge, origin and viewers share it): p50 ${loop.p50Ms.toFixed(0)} ms, p99 ${loop.p99Ms.toFixed(0)} ms, max ${loop.maxMs.toFixed(0)} ms.`,
);
const table = benchTable(viewers);
console.log(`\nscopecast vs anchors, side by side — ${date}`);
for (const line of setup) console.log(line);
console.log(`\n${table}\n`);
mkdirSync('bench-results', { recursive: true });
const base = join('bench-results', `bench-${date.replace(/[:.]/g, '-')}`);
const anchorMedians = Object.fromEntries(viewers.filter((v) => v.anchor).map((v) => [v.key, v.result.latency.median]));
writeFileSync(
  `${base}.json`,
  JSON.stringify(
    {
      benchmark: 'side-by-side',
      date,
      machine,
      setup,
      durationS,
      warmupS,
      source: { size: sourceSize, fps: FPS, bitrateKbps: BITRATE_KBPS },
      cpuBusyBefore: busyBefore,
      loadAverageBefore: loadBefore,
      eventLoopDelayMs: loop,
      viewers: viewers.map((v) => ({
        key: v.key,
        label: v.label,
        anchor: v.anchor,
        result: v.result,
        medianRatioToAnchor: Object.fromEntries(Object.entries(anchorMedians).map(([k, med]) => [k, v.result.latency.median / med])),
        startedAt: v.startedAt,
        // [ms since this viewer started, latency ms] for every frame, warm-up included
        series: v.series.map(([at, l]) => [at - v.startedAt, l]),
      })),
    },
    null,
    2,
  ),
);
writeFileSync(`${base}.html`, benchHtml({ title: `scopecast vs anchors — ${date}`, setup, viewers, warmupS }));
console.log(`results: ${base}.json, chart: ${base}.html`);
const blind = viewers.filter((v) => v.result.latency.n === 0);
if (blind.length > 0) {
  console.error(`bench failed: no frame measured by ${blind.map((v) => v.key).join(', ')}`);
  process.exit(1);
}
process.exit(0);
