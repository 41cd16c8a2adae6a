// The viewer load test: N LL-HLS + M WHEP viewers on one origin, latency rise over a 1-viewer
// baseline (DESIGN.md target: 500 + 20 viewers, p95 rise <= 300 ms), errors by kind, and the
// CPU and memory of the origin (and of everything else on the box, this process included).
//
// Timeline: 1 LL-HLS + 1 WHEP viewer join; after a warm-up the baseline is measured; the other
// viewers join spread over the ramp; after a settle time the load window is measured. Viewers run
// in worker threads (LL-HLS split over a few, WHEP in its own), see loadtest-worker.ts.
import { cpus, loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { Agent, request } from 'undici';
import type { RunContext, RunOutput } from './loadtest-context.js';
import { cpuBusyPct } from './loadtest-context.js';
import { ProcSampler, type ProcPoint } from './loadtest-proc.js';
import type { FromWorker, ToWorker, ViewerClass, WorkerInit, WorkerTick } from './loadtest-protocol.js';
import {
  ERROR_NOTES,
  RISE_TARGET_MS,
  addErrors,
  classResult,
  errorRows,
  fmtMs,
  fmtPct,
  latencyTable,
  lineChartSvg,
  markdownTable,
  percentiles,
  perSecondQuantile,
  procSummary,
  procTable,
  reportHtml,
  systemSummary,
  type ClassResult,
  type ErrorTable,
  type PhaseBounds,
} from './loadtest-report.js';
import { DEFAULT_CLIP_SECONDS } from './clip-console.js';
import { ChildStack } from './loadtest-stack.js';
import { sleep } from './measure.js';

export interface ViewerLoadOptions {
  hls: number;
  whep: number;
  /** Seconds measured under load. */
  durationS: number;
  /** Seconds measured with 1 + 1 viewers. */
  baselineS: number;
  /** Seconds over which the other viewers join. */
  rampS: number;
  /** Seconds after the last join before the load window (and after the first join before the baseline). */
  settleS: number;
  /** Worker threads for the LL-HLS viewers. */
  hlsWorkers: number;
  /** The console: clip = a short clip encoded once and looped with -c copy; live = SyntheticConsole. */
  source: { size: string; fps: number; kind: 'clip' | 'live' };
  /** Aim at a running origin instead of starting a stack. */
  external: { originUrl: string; stream: string; token: string; whepToken: string; originPid: number | null } | null;
  logLevel: 'error' | 'warn' | 'info';
}

const LABEL: Record<ViewerClass, string> = { hls: 'LL-HLS', whep: 'WHEP' };

interface WorkerHandle {
  kind: ViewerClass;
  worker: Worker;
  last: WorkerTick | null;
  /** The worker has loaded its modules and listens. */
  ready: Promise<void>;
  stopped: Promise<void>;
}

export async function runViewerLoad(o: ViewerLoadOptions, ctx: RunContext): Promise<RunOutput> {
  const busyBefore = await cpuBusyPct();
  const loadBefore = loadavg()[0] ?? 0;

  // --- the system under test ---
  let masterUrl: string;
  let whepUrl: string;
  let hlsToken: string;
  let whepToken: string;
  const sampler = new ProcSampler(1000);
  let stack: ChildStack | null = null;
  if (o.external) {
    const base = o.external.originUrl.replace(/\/+$/, '');
    masterUrl = `${base}/hls/${o.external.stream}/index.m3u8`;
    whepUrl = `${base}/whep/${o.external.stream}`;
    hlsToken = o.external.token;
    whepToken = o.external.whepToken;
    if (o.external.originPid !== null) sampler.watch('origin', o.external.originPid);
    await ctx.step(waitForPlaylist(masterUrl, hlsToken, ctx.signal, 30_000));
  } else {
    const s = new ChildStack({ stream: 'loadtest', console: o.source, logLevel: o.logLevel });
    stack = s;
    s.registerWith(ctx.cleanup);
    void s.unexpectedExit.then((reason) => ctx.fail(reason));
    console.error('starting origin, edge and synthetic console as child processes...');
    await ctx.step(s.start(ctx.signal));
    await ctx.step(s.ready(ctx.signal, 60_000));
    masterUrl = s.masterUrl;
    whepUrl = s.whepUrl;
    hlsToken = s.token('trainee');
    whepToken = s.token('expert');
    sampler.watch('origin', s.pid('origin')!);
    sampler.watch('edge (node)', s.pid('edge')!);
    sampler.watch('edge ffmpeg', s.pid('edge')!, { ffmpegOf: true });
    sampler.watch('console (node)', s.pid('console')!);
    sampler.watch('console ffmpeg', s.pid('console')!, { ffmpegOf: true });
  }
  sampler.watch('load test (viewers, all threads)', process.pid);
  sampler.start();
  ctx.cleanup.add('sampler', () => sampler.stop());
  const probe = new HealthProbe(new URL('/healthz', masterUrl).href, 250);
  probe.start();
  ctx.cleanup.add('health probe', () => probe.stop());

  // --- viewers ---
  const samples: Record<ViewerClass, Array<[number, number]>> = { hls: [], whep: [] };
  const errors: ErrorTable = {};
  const pendingErrors: Array<{ at: number; errors: Record<string, number> }> = [];
  const loopTicks: Array<{ kind: ViewerClass; at: number; p99: number; max: number }> = [];
  const viewerTimeline: Record<ViewerClass, Array<[number, number]>> = { hls: [], whep: [] };
  const handles: WorkerHandle[] = [];
  const startWorker = (kind: ViewerClass, connections: number, token: string, url: string): WorkerHandle => {
    const init: WorkerInit = { kind, url, token, connections, ...(kind === 'whep' ? { interfaceAddress: '127.0.0.1' } : {}) };
    const worker = tsWorker(new URL('./loadtest-worker.ts', import.meta.url), init);
    let ready = (): void => {};
    const handle: WorkerHandle = { kind, worker, last: null, ready: new Promise<void>((resolve) => (ready = resolve)), stopped: Promise.resolve() };
    handle.stopped = new Promise((resolve) => {
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'ready') return ready();
        if (m.type === 'stopped') return resolve();
        handle.last = m;
        const list = samples[m.kind];
        for (let i = 0; i < m.sampleAt.length; i++) list.push([m.sampleAt[i]!, m.sampleLatency[i]!]);
        if (Object.keys(m.errors).length > 0) pendingErrors.push({ at: m.at, errors: m.errors });
        loopTicks.push({ kind: m.kind, at: m.at, p99: m.loopDelayMs.p99, max: m.loopDelayMs.max });
      });
      worker.once('error', (err) => ctx.fail(`a ${kind} viewer worker failed: ${err.message}`));
      worker.once('exit', () => resolve());
    });
    handles.push(handle);
    return handle;
  };
  const hlsWorkerCount = o.hls > 0 ? Math.max(1, Math.min(o.hlsWorkers, o.hls)) : 0;
  const hlsWorkers: WorkerHandle[] = [];
  for (let i = 0; i < hlsWorkerCount; i++) hlsWorkers.push(startWorker('hls', Math.ceil(o.hls / hlsWorkerCount) + 8, hlsToken, masterUrl));
  const whepWorker = o.whep > 0 ? startWorker('whep', 0, whepToken, whepUrl) : null;
  let stopping: Promise<void> | null = null;
  const stopWorkers = (): Promise<void> => (stopping ??= stopAll());
  const stopAll = async (): Promise<void> => {
    for (const h of handles) h.worker.postMessage({ type: 'stop' } satisfies ToWorker);
    const waited = new AbortController();
    const timeout = sleep(20_000, waited.signal).then(() => 'timeout' as const);
    if ((await Promise.race([Promise.all(handles.map((h) => h.stopped)), timeout])) === 'timeout') {
      console.error('viewer workers did not stop within 20 s: terminating them');
    }
    waited.abort();
    await Promise.all(handles.map((h) => h.worker.terminate()));
  };
  ctx.cleanup.add('viewer workers', stopWorkers);
  const add = (h: WorkerHandle | null | undefined, count: number, overMs: number): void => {
    if (h && count > 0) h.worker.postMessage({ type: 'add', count, overMs } satisfies ToWorker);
  };
  // Viewer counts over time, for the chart.
  const counter = setInterval(() => {
    for (const kind of ['hls', 'whep'] as const) {
      const hs = handles.filter((h) => h.kind === kind);
      if (hs.length) viewerTimeline[kind].push([Date.now(), hs.reduce((a, h) => a + (h.last?.withMedia ?? 0), 0)]);
    }
  }, 1000);
  ctx.cleanup.add('viewer counter', async () => clearInterval(counter));

  const loaded = Promise.all(handles.map((h) => h.ready));
  let loadTimer: NodeJS.Timeout | undefined;
  const tooSlow = new Promise<never>((_, reject) => (loadTimer = setTimeout(() => reject(new Error('viewer worker threads did not load within 120 s')), 120_000)));
  tooSlow.catch(() => {});
  try {
    await ctx.step(Promise.race([loaded, tooSlow]));
  } finally {
    clearTimeout(loadTimer);
  }

  const t0 = Date.now();
  console.error(`baseline: ${Math.min(1, o.hls)} LL-HLS + ${Math.min(1, o.whep)} WHEP viewer, ${o.settleS} s warm-up + ${o.baselineS} s`);
  add(hlsWorkers[0], Math.min(1, o.hls), 0);
  add(whepWorker, Math.min(1, o.whep), 0);
  await ctx.step(sleep(o.settleS * 1000, ctx.signal));
  const baselineFrom = Date.now();
  await ctx.step(sleep(o.baselineS * 1000, ctx.signal));
  const rampFrom = Date.now();
  console.error(`ramp: ${o.hls} LL-HLS + ${o.whep} WHEP viewers joining over ${o.rampS} s, then ${o.settleS} s to settle`);
  const rampMs = o.rampS * 1000;
  const restHls = Math.max(0, o.hls - 1);
  hlsWorkers.forEach((h, i) => add(h, Math.floor(restHls / hlsWorkers.length) + (i < restHls % hlsWorkers.length ? 1 : 0), rampMs));
  add(whepWorker, Math.max(0, o.whep - 1), rampMs);
  await ctx.step(sleep((o.rampS + o.settleS) * 1000, ctx.signal));
  const loadFrom = Date.now();
  console.error(`load: measuring ${o.durationS} s`);
  await ctx.step(sleep(o.durationS * 1000, ctx.signal));
  const loadTo = Date.now();
  const phases: PhaseBounds = { baseline: [baselineFrom, rampFrom], ramp: [rampFrom, loadFrom], load: [loadFrom, loadTo] };
  const joined: Record<ViewerClass, number> = { hls: 0, whep: 0 };
  const withMedia: Record<ViewerClass, number> = { hls: 0, whep: 0 };
  const totals: Record<ViewerClass, { media: number; bytes: number; requests: number }> = { hls: { media: 0, bytes: 0, requests: 0 }, whep: { media: 0, bytes: 0, requests: 0 } };
  for (const h of handles) {
    joined[h.kind] += h.last?.viewers ?? 0;
    withMedia[h.kind] += h.last?.withMedia ?? 0;
    totals[h.kind].media += h.last?.media ?? 0;
    totals[h.kind].bytes += h.last?.bytes ?? 0;
    totals[h.kind].requests += h.last?.requests ?? 0;
  }
  clearInterval(counter);
  await stopWorkers();
  await sampler.stop();
  await probe.stop();
  for (const e of pendingErrors) addErrors(errors, e.at, e.errors, phases);
  if (stack) await stack.close();

  // --- the report ---
  const classes: ClassResult[] = [];
  if (o.hls > 0) classes.push(classResult({ kind: 'hls', label: LABEL.hls, requested: o.hls, joined: joined.hls, withMedia: withMedia.hls, samples: samples.hls, phases }));
  if (o.whep > 0) classes.push(classResult({ kind: 'whep', label: LABEL.whep, requested: o.whep, joined: joined.whep, withMedia: withMedia.whep, samples: samples.whep, phases }));
  const procs = [...sampler.series.entries()].filter(([, pts]) => pts.length > 0).map(([name, pts]) => procSummary(name, pts, phases));
  const system = systemSummary(sampler.system, phases);
  const loopStats = (kind: ViewerClass, [from, to]: readonly [number, number]): { p99Mean: number; max: number } => {
    const ticks = loopTicks.filter((t) => t.kind === kind && t.at > from && t.at <= to);
    return { p99Mean: ticks.length ? ticks.reduce((a, t) => a + t.p99, 0) / ticks.length : Number.NaN, max: ticks.length ? Math.max(...ticks.map((t) => t.max)) : Number.NaN };
  };
  const loops = (['hls', 'whep'] as const).filter((k) => handles.some((h) => h.kind === k)).map((k) => ({ kind: k, baseline: loopStats(k, phases.baseline), load: loopStats(k, phases.load) }));
  const nCpu = cpus().length;
  const health = { baseline: percentiles(inWindow(probe.points, phases.baseline)), load: percentiles(inWindow(probe.points, phases.load)) };
  // CPU the rest of the machine used meanwhile: other people's work competes with this run too.
  const ours = (phase: 'baseline' | 'load'): number => procs.reduce((a, p) => a + (Number.isFinite(p[phase].cpuMeanPct) ? p[phase].cpuMeanPct : 0), 0);
  const otherWork = { baselinePct: system.baselinePct * nCpu - ours('baseline'), loadPct: system.loadPct * nCpu - ours('load') };
  const clientProc = procs.find((p) => p.name.startsWith('load test'));
  const originProc = procs.find((p) => p.name === 'origin');
  const date = new Date().toISOString();

  const lat = latencyTable(classes);
  const proc = procTable(procs);
  const err = errorRows(errors);
  const totalErrors = Object.values(errors).reduce((a, r) => a + r.baseline + r.ramp + r.load, 0);
  const setup = [
    o.external
      ? `Target: running origin ${o.external.originUrl}, stream ${o.external.stream}${o.external.originPid === null ? ' (no --origin-pid: origin CPU/RSS not sampled)' : `, origin pid ${o.external.originPid}`}.`
      : `Stack as child processes on loopback: ${o.source.kind === 'clip' ? `console: a ${DEFAULT_CLIP_SECONDS} s ${o.source.size}p${o.source.fps} test-pattern clip (x264 ultrafast 4 Mbit/s + AAC) encoded once, then published in a loop with -c copy (a stand-in for console hardware that takes ~1 % of a core instead of ~20 %; --console live paints and encodes every frame)` : `synthetic console ${o.source.size}p${o.source.fps} (x264 ultrafast 4 Mbit/s + AAC, painted and encoded live)`}, its own process -> edge (bin/edge.ts; endoscopy-1080p profile: 1280x720p30 x264 re-encode, 200 ms CMAF parts) -> origin (bin/origin.ts; LL-HLS 200 ms parts, blocking reload; WHEP via werift). Auth on: every request carries a bearer token.`,
    `Viewers: ${o.hls} LL-HLS in ${hlsWorkers.length} worker thread(s) (undici keep-alive pool, blocking playlist reload + each part fetched as listed, like hls.js in low-latency mode) and ${o.whep} WHEP (werift, ${whepWorker ? '1 worker thread' : 'none'}), all in this process. Baseline: 1 + 1 viewers, ${o.baselineS} s after ${o.settleS} s warm-up; ramp: joins spread over ${o.rampS} s + ${o.settleS} s settle; load: ${o.durationS} s.`,
    'Latency, LL-HLS: part fully arrived at the viewer - ingest wall clock of its first frame (EXT-X-PROGRAM-DATE-TIME of its segment + the parts before it); it includes the part\'s own duration (~200 ms) but no decoding and no player hold-back: 500 decoders would not fit on 2 cores, so no viewer decodes. WHEP: frame reassembled from RTP - its edge ingest wall clock from the RTCP sender reports. Origin, edge and viewers share this machine\'s clock.',
    `Machine: ${nCpu} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}; CPUs ${busyBefore === null ? '?' : fmtPct(busyBefore)} busy in the second before the run (other work on the box), 1-min load average ${loadBefore.toFixed(1)}; during the load window the whole machine was ${fmtPct(system.loadPct)} busy (baseline ${fmtPct(system.baselinePct)}), of which processes outside this run used ${fmtPct(otherWork.loadPct)} of one core (baseline ${fmtPct(otherWork.baselinePct)}).`,
    `Caveat: the viewers run on the same ${nCpu} cores as the origin${o.external ? '' : ', the edge\'s encoder and the console'}: the load test itself used ${fmtPct(clientProc?.load.cpuMeanPct ?? Number.NaN)} of one core under load (baseline ${fmtPct(clientProc?.baseline.cpuMeanPct ?? Number.NaN)}) against the origin's ${fmtPct(originProc?.load.cpuMeanPct ?? Number.NaN)}. A latency rise here is the origin's and the client's together; viewers on other machines would load the origin alone.`,
    `Viewer threads' event-loop delay (part of every latency they measure), p99 mean / max per tick: ${loops.map((l) => `${LABEL[l.kind]} baseline ${fmtMs(l.baseline.p99Mean)} / ${fmtMs(l.baseline.max)}, load ${fmtMs(l.load.p99Mean)} / ${fmtMs(l.load.max)}`).join('; ')}.`,
  ];
  const verdictLines = classes.map((c) => `${LABEL[c.kind]}: p95 ${fmtMs(c.baseline.p95)} with 1 viewer -> ${fmtMs(c.load.p95)} with ${c.requested}: rise ${fmtMs(c.riseP95Ms)} -> ${c.verdict} (target <= ${RISE_TARGET_MS} ms)`);
  const errorNotes = Object.keys(errors).filter((k) => ERROR_NOTES[k]).map((k) => `${k}: ${ERROR_NOTES[k]}`);
  const title = `scopecast load test: ${o.hls} LL-HLS + ${o.whep} WHEP viewers — ${date}`;
  const text = [
    `\n${title}`,
    `Command: ${ctx.command}`,
    ...setup,
    '',
    markdownTable(lat.header, lat.rows),
    '',
    ...verdictLines,
    '',
    markdownTable(proc.header, proc.rows),
    '(CPU in % of one core, sampled from /proc/<pid>/stat every second; "waiting for a CPU": share of the time the process\'s most-waiting thread was runnable but not running, from /proc/<pid>/task/*/schedstat — CPU starvation; RSS from /proc/<pid>/status.)',
    `Origin responsiveness (GET /healthz every 250 ms on its own connection): baseline p50 ${fmtMs(health.baseline.p50)}, p99 ${fmtMs(health.baseline.p99)}; load p50 ${fmtMs(health.load.p50)}, p99 ${fmtMs(health.load.p99)}, max ${fmtMs(health.load.max)}.`,
    '',
    totalErrors === 0 ? 'Errors: none.' : markdownTable(err.header, err.rows),
    ...errorNotes,
    `Traffic: LL-HLS ${totals.hls.requests} requests, ${totals.hls.media} parts, ${(totals.hls.bytes / 1e6).toFixed(0)} MB; WHEP ${totals.whep.media} frames, ${(totals.whep.bytes / 1e6).toFixed(0)} MB.`,
  ].join('\n');

  const tSec = (at: number): number => (at - t0) / 1000;
  const bands = [
    { from: tSec(phases.baseline[0]), to: tSec(phases.baseline[1]), label: 'baseline (1+1)' },
    { from: tSec(phases.ramp[0]), to: tSec(phases.ramp[1]), label: 'ramp' },
    { from: tSec(phases.load[0]), to: tSec(phases.load[1]), label: `load (${o.hls}+${o.whep})` },
  ];
  const latencySeries: Array<{ label: string; points: Array<[number, number]>; dashed?: boolean }> = classes.flatMap((c) => [
    { label: `${LABEL[c.kind]} p95 per second`, points: perSecondQuantile(samples[c.kind], t0, 0.95) },
    { label: `${LABEL[c.kind]} p50 per second`, points: perSecondQuantile(samples[c.kind], t0, 0.5), dashed: true },
  ]);
  latencySeries.push({ label: 'origin GET /healthz round trip, p99 per second', points: perSecondQuantile(probe.points, t0, 0.99) });
  const procPoints = (pts: readonly ProcPoint[], f: (p: ProcPoint) => number): Array<[number, number]> => pts.filter((p) => p.at >= t0).map((p) => [tSec(p.at), f(p)]);
  const cpuSeries = [...sampler.series.entries()].map(([name, pts]) => ({ label: name, points: procPoints(pts, (p) => p.cpuPct) }));
  cpuSeries.push({ label: `whole machine (${nCpu} cores = ${nCpu * 100}%)`, points: sampler.system.filter((s) => s.at >= t0).map((s) => [tSec(s.at), s.busyPct * nCpu] as [number, number]) });
  const rssSeries = [...sampler.series.entries()].filter(([name]) => !name.includes('ffmpeg')).map(([name, pts]) => ({ label: name, points: procPoints(pts, (p) => p.rssMb) }));
  const viewerSeries = (['hls', 'whep'] as const).filter((k) => viewerTimeline[k].length).map((k) => ({ label: `${LABEL[k]} viewers with media`, points: viewerTimeline[k].map(([at, n]) => [tSec(at), n] as [number, number]) }));
  const html = reportHtml(title, [`Command: ${ctx.command}`, ...setup], [
    { heading: 'Latency over time', svg: lineChartSvg({ series: latencySeries, xLabel: 'seconds since the first viewer joined', yLabel: 'latency (log scale)', yUnit: (v) => (v >= 1000 ? `${v / 1000} s` : `${v} ms`), log: true, bands, xUnit: ' s' }), paragraphs: verdictLines },
    { heading: 'Latency by phase', table: lat },
    { heading: 'CPU (% of one core)', svg: lineChartSvg({ series: cpuSeries, xLabel: 'seconds since the first viewer joined', yLabel: 'CPU, % of one core', yUnit: (v) => `${v}%`, bands, xUnit: ' s' }) },
    { heading: 'Memory (RSS)', svg: lineChartSvg({ series: rssSeries, xLabel: 'seconds since the first viewer joined', yLabel: 'RSS, MB', yUnit: (v) => `${v} MB`, bands, xUnit: ' s', height: 300 }), table: proc },
    { heading: 'Viewers', svg: lineChartSvg({ series: viewerSeries, xLabel: 'seconds since the first viewer joined', yLabel: 'viewers with media', yUnit: (v) => String(v), bands, xUnit: ' s', height: 260 }) },
    { heading: 'Errors', ...(totalErrors === 0 ? { paragraphs: ['None.'] } : { table: err, paragraphs: errorNotes }) },
  ]);
  const json = {
    benchmark: 'loadtest-viewers',
    date,
    command: ctx.command,
    machine: { cpus: nCpu, model: cpus()[0]?.model ?? '?', node: process.version },
    setup,
    options: { hls: o.hls, whep: o.whep, durationS: o.durationS, baselineS: o.baselineS, rampS: o.rampS, settleS: o.settleS, hlsWorkers: hlsWorkers.length, external: o.external ? { originUrl: o.external.originUrl, stream: o.external.stream, originPid: o.external.originPid } : null },
    cpuBusyBeforePct: busyBefore,
    loadAverageBefore: loadBefore,
    phases: { baseline: phases.baseline.map((t) => t - t0), ramp: phases.ramp.map((t) => t - t0), load: phases.load.map((t) => t - t0) },
    riseTargetMs: RISE_TARGET_MS,
    // The stack's processes (all ended by now; tests check that they are gone).
    pids: stack ? { origin: stack.pid('origin') ?? null, edge: stack.pid('edge') ?? null, console: stack.pid('console') ?? null } : null,
    classes,
    errors,
    totalErrors,
    traffic: totals,
    processes: procs,
    system,
    otherWorkCpuPct: otherWork,
    originHealthRttMs: health,
    viewerLoopDelayMs: loops,
    // Per second since the first join: [s, p50 ms, p95 ms, samples]
    latencyPerSecond: Object.fromEntries(
      classes.map((c) => {
        const p50 = perSecondQuantile(samples[c.kind], t0, 0.5);
        const p95 = new Map(perSecondQuantile(samples[c.kind], t0, 0.95));
        return [c.kind, p50.map(([s, v]) => [s, Math.round(v), Math.round(p95.get(s) ?? Number.NaN)])];
      }),
    ),
    // [s since the first join, CPU % of one core, RSS MB, % waiting for a CPU]
    processSeries: Object.fromEntries([...sampler.series.entries()].map(([name, pts]) => [name, pts.map((p) => [Number(tSec(p.at).toFixed(1)), Math.round(p.cpuPct), Math.round(p.rssMb), Math.round(p.waitPct)])])),
  };
  return { name: 'loadtest-viewers', text, json, html };
}

/** Values of [at, value] pairs inside a phase window. */
function inWindow(points: ReadonlyArray<readonly [number, number]>, [from, to]: readonly [number, number]): number[] {
  return points.filter(([at]) => at >= from && at < to).map(([, v]) => v);
}

/**
 * GET /healthz every intervalMs on a connection of its own (never queued behind viewers), from
 * this process's main thread, which does little else: how long the origin takes to answer a
 * trivial request, i.e. its event-loop delay plus its wait for a CPU.
 */
class HealthProbe {
  readonly points: Array<[at: number, rttMs: number]> = [];
  readonly #url: string;
  readonly #intervalMs: number;
  readonly #agent = new Agent({ connections: 1, pipelining: 1, keepAliveTimeout: 30_000 });
  #timer: NodeJS.Timeout | null = null;
  #inFlight: Promise<void> | null = null;

  constructor(url: string, intervalMs: number) {
    this.#url = url;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    this.#timer ??= setInterval(() => {
      this.#inFlight ??= this.#once().finally(() => (this.#inFlight = null));
    }, this.#intervalMs);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#inFlight;
    await this.#agent.close().catch(() => {});
  }

  async #once(): Promise<void> {
    const started = performance.now();
    try {
      const res = await request(this.#url, { dispatcher: this.#agent, headersTimeout: 10_000, bodyTimeout: 10_000 });
      await res.body.dump();
      if (res.statusCode === 200) this.points.push([Date.now(), performance.now() - started]);
    } catch {
      // a failed probe is no data point; the viewers' errors tell the story
    }
  }
}

/**
 * A worker thread running a .ts module. Workers do not inherit the parent's `--import tsx` hooks
 * on Node 20 ("Unknown file extension .ts"), so the worker registers tsx itself first.
 */
function tsWorker(file: URL, workerData: WorkerInit): Worker {
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then((api) => { api.register(); return import(${JSON.stringify(file.href)}); })`;
  return new Worker(code, { eval: true, workerData });
}

/** Waits for a running origin's master playlist (with the token) to answer 200. */
async function waitForPlaylist(url: string, token: string, signal: AbortSignal, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    signal.throwIfAborted();
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal }).catch((err: Error) => err);
    if (!(res instanceof Error) && res.ok) return;
    last = res instanceof Error ? res.message : `HTTP ${res.status}`;
    if (Date.now() > deadline) throw new Error(`${url}: no playable stream within ${timeoutMs / 1000} s (${last})`);
    await sleep(500, signal);
  }
}
