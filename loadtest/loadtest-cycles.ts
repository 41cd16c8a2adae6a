// Publish/unpublish cycles (DESIGN.md: memory flat over 200 cycles, no orphan ffmpeg, ever).
// Each cycle: an ffmpeg test source publishes to the edge over RTMP until the origin lists the
// stream live with media (and at least minPublishMs), then stops (alternately quitting cleanly
// and SIGKILLed, as a console that loses power); the cycle ends when the edge has no pipeline and
// no ffmpeg left. Edge and origin RSS are sampled after every cycle, ffmpeg under the edge counted
// from /proc after every cycle, at the end, and every ffmpeg ever seen under the edge is checked
// for still being alive anywhere (an orphan reparented to init would be).
import { cpus, loadavg } from 'node:os';
import { locateBinary } from '../codecs/ffmpeg/locate.js';
import { spawnOwned, type OwnedChild } from './anchors/index.js';
import type { RunContext, RunOutput } from './loadtest-context.js';
import { cpuBusyPct } from './loadtest-context.js';
import { ffmpegDescendants, readRssBytes, stillAlive } from './loadtest-proc.js';
import { fmtMb, lineChartSvg, markdownTable, reportHtml, rssTrend, rssTrendRows, type CycleRecord } from './loadtest-report.js';
import { ChildStack } from './loadtest-stack.js';
import { sleep } from './measure.js';

export interface CycleOptions {
  cycles: number;
  /** Keep publishing at least this long, ms (the origin must also have the stream live). */
  minPublishMs: number;
  /** Edge rtmp.publishGraceMs (undefined = the edge's default). */
  publishGraceMs: number | undefined;
  unpublish: 'clean' | 'kill' | 'alternate';
  logLevel: 'error' | 'warn' | 'info';
}

/** Pure: a short live test source, 720p30 x264 + AAC, published over RTMP until stopped. */
export function cyclePublisherArgs(url: string): string[] {
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    '-re', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30',
    '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30', '-bf', '0', '-b:v', '2000k', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '64k', '-ac', '1',
    '-f', 'flv', url,
  ];
}

const LIVE_TIMEOUT_MS = 20_000;

export async function runCycles(o: CycleOptions, ctx: RunContext): Promise<RunOutput> {
  const ffmpeg = locateBinary('ffmpeg');
  if (!ffmpeg) throw new Error('ffmpeg not found (set FFMPEG_PATH or install it)');
  const busyBefore = await cpuBusyPct();
  const loadBefore = loadavg()[0] ?? 0;
  const stack = new ChildStack({ stream: 'cycles', console: null, logLevel: o.logLevel, ...(o.publishGraceMs === undefined ? {} : { publishGraceMs: o.publishGraceMs }) });
  stack.registerWith(ctx.cleanup);
  void stack.unexpectedExit.then((reason) => ctx.fail(reason));
  console.error('starting origin and edge as child processes...');
  await ctx.step(stack.start(ctx.signal));
  const edgePid = stack.pid('edge')!;
  const originPid = stack.pid('origin')!;
  const cleanDeadlineMs = (o.publishGraceMs ?? 3000) + 15_000;

  const records: CycleRecord[] = [];
  const seen = new Set<number>();
  const problems: string[] = [];
  let publisher: OwnedChild | null = null;
  ctx.cleanup.add('publisher', async () => void (await publisher?.stop(2000)), () => publisher?.child.pid);
  let previousStart: string | null = null;
  const started = Date.now();
  for (let cycle = 1; cycle <= o.cycles && !ctx.signal.aborted; cycle++) {
    const unpublish = o.unpublish === 'alternate' ? (cycle % 2 === 0 ? 'kill' : 'clean') : o.unpublish;
    const t0 = Date.now();
    const current = spawnOwned(ffmpeg, cyclePublisherArgs(stack.publishUrl), { stdio: ['ignore', 'ignore', 'pipe'], dieWithParent: true });
    publisher = current;
    let stderr = '';
    current.child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
    let liveAfterMs: number | null = null;
    while (!ctx.signal.aborted && Date.now() - t0 < LIVE_TIMEOUT_MS) {
      for (const pid of await ffmpegDescendants(edgePid)) seen.add(pid);
      const info = await stack.streamInfo(ctx.signal);
      if (info && info.state === 'live' && info.startedAt !== previousStart && info.renditions.some((r) => r.segments > 0)) {
        liveAfterMs = Date.now() - t0;
        previousStart = info.startedAt;
        break;
      }
      if (current.child.exitCode !== null) break;
      await sleep(100, ctx.signal);
    }
    if (liveAfterMs === null && !ctx.signal.aborted) problems.push(`cycle ${cycle}: the origin never listed the stream live${current.child.exitCode !== null ? ` (publisher exited ${current.child.exitCode}: ${stderr.trim().slice(-300)})` : ''}`);
    const remaining = o.minPublishMs - (Date.now() - t0);
    if (remaining > 0) await sleep(remaining, ctx.signal);
    for (const pid of await ffmpegDescendants(edgePid)) seen.add(pid);
    const publishedMs = Date.now() - t0;
    if (unpublish === 'kill') current.child.kill('SIGKILL');
    else current.child.kill('SIGINT'); // ffmpeg finishes the FLV and closes the RTMP session
    const stoppedAt = Date.now();
    const timer = setTimeout(() => current.child.kill('SIGKILL'), 3000);
    await current.exited;
    clearTimeout(timer);
    publisher = null;

    // The cycle is over when the edge has dropped the stream (after its grace window) and no ffmpeg is left under it.
    let cleanAfterMs: number | null = null;
    let ffmpegAfter = -1;
    while (!ctx.signal.aborted && Date.now() - stoppedAt < cleanDeadlineMs) {
      const [streams, children] = [await stack.edgeStreams(), await ffmpegDescendants(edgePid)];
      ffmpegAfter = children.length;
      if (streams === 0 && children.length === 0) {
        cleanAfterMs = Date.now() - stoppedAt;
        break;
      }
      await sleep(100, ctx.signal);
    }
    if (ctx.signal.aborted) break;
    if (cleanAfterMs === null) problems.push(`cycle ${cycle}: ${ffmpegAfter} ffmpeg still under the edge ${cleanDeadlineMs / 1000} s after unpublish`);
    const info = await stack.streamInfo();
    const [edgeRss, originRss] = [await readRssBytes(edgePid), await readRssBytes(originPid)];
    const record: CycleRecord = {
      cycle,
      liveAfterMs,
      publishedMs,
      unpublish,
      cleanAfterMs,
      ffmpegAfter,
      originState: info?.state ?? 'none',
      edgeRssMb: (edgeRss ?? 0) / 2 ** 20,
      originRssMb: (originRss ?? 0) / 2 ** 20,
    };
    records.push(record);
    console.error(
      `cycle ${cycle}/${o.cycles} (${unpublish}): live after ${liveAfterMs ?? '—'} ms, clean after ${cleanAfterMs ?? '—'} ms, ffmpeg under edge ${ffmpegAfter}, origin stream ${record.originState}, RSS edge ${fmtMb(record.edgeRssMb)} origin ${fmtMb(record.originRssMb)}`,
    );
  }
  const finalUnderEdge = await ffmpegDescendants(edgePid);
  const aliveBeforeClose = await stillAlive(seen);
  await stack.close();
  const aliveAfterClose = await stillAlive(seen);
  const elapsedS = (Date.now() - started) / 1000;

  // --- the report ---
  const date = new Date().toISOString();
  const edgeTrend = rssTrend(records.map((r) => r.edgeRssMb));
  const originTrend = rssTrend(records.map((r) => r.originRssMb));
  const trends = rssTrendRows([
    { name: 'edge (node; ffmpeg are separate processes)', trend: edgeTrend },
    { name: 'origin', trend: originTrend },
  ]);
  const cyclesWithFfmpeg = records.filter((r) => r.ffmpegAfter !== 0).length;
  const liveTimes = records.map((r) => r.liveAfterMs).filter((v): v is number => v !== null).sort((a, b) => a - b);
  const cleanTimes = records.map((r) => r.cleanAfterMs).filter((v): v is number => v !== null).sort((a, b) => a - b);
  const median = (v: readonly number[]): string => (v.length ? `${Math.round(v[Math.floor(v.length / 2)]!)} ms` : '—');
  const orphanVerdict = finalUnderEdge.length === 0 && aliveBeforeClose.length === 0 && aliveAfterClose.length === 0 && cyclesWithFfmpeg === 0 ? 'PASS' : 'FAIL';
  const memoryVerdict = records.length >= 20 ? (edgeTrend.flat && originTrend.flat ? 'PASS' : 'FAIL') : 'TOO FEW CYCLES';
  const setup = [
    `Origin (bin/origin.ts) and edge (bin/edge.ts) as child processes on loopback, generated configs, auth on (publisher token on the RTMP URL); edge rtmp.publishGraceMs ${o.publishGraceMs ?? 'default (3000)'}.`,
    `Each cycle: ffmpeg testsrc2 1280x720p30 x264 ultrafast + AAC publishes to the edge (endoscopy-1080p profile re-encode) until the origin lists the stream live with a segment and at least ${o.minPublishMs} ms passed; then the publisher ${o.unpublish === 'alternate' ? 'quits cleanly (SIGINT) on odd cycles and is SIGKILLed on even ones' : o.unpublish === 'kill' ? 'is SIGKILLed' : 'quits cleanly (SIGINT)'}; the next cycle starts when the edge has no pipeline and no ffmpeg child left (deadline ${cleanDeadlineMs / 1000} s).`,
    `RSS from /proc/<pid>/status after each cycle; ffmpeg counted from /proc (descendants of the edge pid) after each cycle and at the end; every ffmpeg pid ever seen under the edge (${seen.size}) checked for being alive anywhere at the end.`,
    `Machine: ${cpus().length} cores, node ${process.version}; CPUs ${busyBefore === null ? '?' : `${Math.round(busyBefore)}%`} busy in the second before the run, 1-min load average ${loadBefore.toFixed(1)}.`,
  ];
  const summary = [
    `Cycles: ${records.length} of ${o.cycles} in ${Math.round(elapsedS)} s; publish -> origin live median ${median(liveTimes)} (max ${liveTimes.length ? `${liveTimes.at(-1)} ms` : '—'}); unpublish -> edge clean median ${median(cleanTimes)} (max ${cleanTimes.length ? `${cleanTimes.at(-1)} ms` : '—'}).`,
    `ffmpeg under the edge: ${cyclesWithFfmpeg} cycle(s) ended with ffmpeg left; after the last cycle: ${finalUnderEdge.length}; edge ffmpeg ever seen still alive before stack shutdown: ${aliveBeforeClose.length}, after: ${aliveAfterClose.length} -> **${orphanVerdict}** (must be exactly 0).`,
    `Memory: edge ${edgeTrend.flat ? 'flat' : 'growing'}, origin ${originTrend.flat ? 'flat' : 'growing'} -> **${memoryVerdict}** (flat: RSS mean of the last fifth of cycles at most max(5%, 5 MB) above the second fifth's).`,
    ...problems.slice(0, 10).map((p) => `Problem: ${p}`),
    ...(problems.length > 10 ? [`(${problems.length - 10} more problems in the JSON)`] : []),
  ];
  const title = `scopecast publish/unpublish cycles: ${records.length} — ${date}`;
  const text = [`\n${title}`, `Command: ${ctx.command}`, ...setup, '', markdownTable(trends.header, trends.rows), '', ...summary].join('\n');
  const rssSeries = [
    { label: 'edge RSS (MB)', points: records.map((r) => [r.cycle, r.edgeRssMb] as [number, number]) },
    { label: 'origin RSS (MB)', points: records.map((r) => [r.cycle, r.originRssMb] as [number, number]) },
  ];
  const ffSeries = [{ label: 'ffmpeg under the edge after the cycle', points: records.map((r) => [r.cycle, r.ffmpegAfter] as [number, number]) }];
  const timeSeries = [
    { label: 'publish -> origin live (ms)', points: records.filter((r) => r.liveAfterMs !== null).map((r) => [r.cycle, r.liveAfterMs!] as [number, number]) },
    { label: 'unpublish -> edge clean (ms)', points: records.filter((r) => r.cleanAfterMs !== null).map((r) => [r.cycle, r.cleanAfterMs!] as [number, number]) },
  ];
  const html = reportHtml(title, [`Command: ${ctx.command}`, ...setup, ...summary.map((s) => s.replace(/\*\*/g, ''))], [
    { heading: 'RSS per cycle', svg: lineChartSvg({ series: rssSeries, xLabel: 'cycle', yLabel: 'RSS, MB', yUnit: (v) => `${v} MB` }), table: trends },
    { heading: 'ffmpeg left under the edge', svg: lineChartSvg({ series: ffSeries, xLabel: 'cycle', yLabel: 'processes', yUnit: (v) => String(v), height: 220 }) },
    { heading: 'Cycle timing', svg: lineChartSvg({ series: timeSeries, xLabel: 'cycle', yLabel: 'ms', yUnit: (v) => `${v} ms`, height: 280 }) },
  ]);
  const json = {
    benchmark: 'loadtest-cycles',
    date,
    command: ctx.command,
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '?', node: process.version },
    setup,
    options: o,
    cpuBusyBeforePct: busyBefore,
    loadAverageBefore: loadBefore,
    elapsedS,
    cyclesDone: records.length,
    pids: { origin: originPid, edge: edgePid },
    rss: { edge: edgeTrend, origin: originTrend },
    ffmpeg: { cyclesWithFfmpegLeft: cyclesWithFfmpeg, afterLastCycle: finalUnderEdge.length, everSeen: seen.size, aliveBeforeClose, aliveAfterClose },
    verdicts: { orphans: orphanVerdict, memory: memoryVerdict },
    problems,
    cycles: records.map((r) => ({ ...r, edgeRssMb: Number(r.edgeRssMb.toFixed(1)), originRssMb: Number(r.originRssMb.toFixed(1)) })),
  };
  return { name: 'loadtest-cycles', text, json, html };
}
