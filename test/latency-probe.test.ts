// The timing contract's ground truth (DESIGN.md): a probe that decodes frames must agree with the
// metadata latency within one frame. Pure clock mapping on fixtures, then the real stack.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { parseFragment, parseInit, type FragmentInfo } from '../codecs/fmp4/index.js';
import { freePort } from '../lib/net.js';
import { firstVariantUri, parseMediaPlaylist } from '../loadtest/llhls-playlist.js';
import { LatencyProbe, frameClocks, llhlsUrl, type ProbeFrame } from '../loadtest/index.js';
import { summarize } from '../loadtest/stats.js';
import { cmafFixture } from './helpers/fixtures.js';
import { processGone } from './helpers/process.js';
import { eventually, startStack } from './helpers/stack.js';

t.test('frameClocks: prft wall clock at its media time, every video sample in decode order', async (t) => {
  const { init, fragments } = cmafFixture('av.cmaf');
  const info = parseInit(init);
  const second = parseFragment(fragments[1]!, info);
  // Fragment 2 of av.cmaf: prft track 1, wall clock 1795648350808 ms at media time 3400 (the
  // first sample's pts); six samples of 512 ticks at 15360 Hz.
  t.same(second.prft, { trackId: 1, wallClockMs: 1_795_648_350_808, mediaTime: 3400 });
  t.same(
    frameClocks(second, info),
    [3400, 3912, 4424, 4936, 5448, 5960].map((pts) => ({ pts, ingestWallClockMs: 1_795_648_350_808 + ((pts - 3400) * 1000) / 15360 })),
  );
  // Fragment 1: ffmpeg moved the first sample from pts 328 to 0 and lengthened it to 840 ticks; the
  // prft keeps media time 328. Anchoring on it keeps samples 2..6 exact (one frame apart).
  const first = parseFragment(fragments[0]!, info);
  t.same(first.prft, { trackId: 1, wallClockMs: 1_795_648_350_802, mediaTime: 328 });
  const clocks = frameClocks(first, info);
  t.same(clocks.map((c) => c.pts), [0, 840, 1352, 1864, 2376, 2888]);
  t.equal(clocks[1]!.ingestWallClockMs, 1_795_648_350_802 + 512_000 / 15360);
  t.equal(clocks[0]!.ingestWallClockMs, 1_795_648_350_802 - 328_000 / 15360, 'the stretched sample reads early by the stretch');
});

t.test('frameClocks: no clock without a prft for the video track; nothing without video', async (t) => {
  const { init, fragments } = cmafFixture('av.cmaf');
  const info = parseInit(init);
  const fragment = parseFragment(fragments[2]!, info);
  const { prft, ...withoutPrft } = fragment;
  t.ok(prft);
  const bare: FragmentInfo = withoutPrft;
  t.same(frameClocks(bare, info).map((c) => c.ingestWallClockMs), Array(6).fill(undefined));
  const audioPrft: FragmentInfo = { ...fragment, prft: { ...prft!, trackId: info.audioTrack!.id } };
  t.same(frameClocks(audioPrft, info).map((c) => c.ingestWallClockMs), Array(6).fill(undefined), 'a prft of the audio track is not the video clock');
  const { video: _video, ...audioOnly } = fragment;
  t.same(frameClocks(audioOnly, info), []);
  t.equal(llhlsUrl('http://127.0.0.1:8080', 'or 1'), 'http://127.0.0.1:8080/hls/or%201/index.m3u8');
});

t.test('probe lifecycle: a failing stream is an error event; close() is idempotent and ends the decoder', async (t) => {
  const probe = new LatencyProbe({ url: llhlsUrl(`http://127.0.0.1:${await freePort()}`, 'none') });
  let closed = 0;
  probe.on('closed', () => (closed += 1));
  const failed = new Promise<Error>((resolve) => probe.on('error', resolve));
  probe.start();
  probe.start(); // idempotent
  const pid = await eventually(() => probe.pid, 5000, 'the decoder');
  t.match((await failed).message, /fetch failed|ECONNREFUSED/);
  await Promise.all([probe.close(), probe.close()]);
  t.equal(closed, 1, 'closed emitted once');
  t.ok(await processGone(pid), 'decoder exited');
  t.equal(probe.stats.aligned, null, 'no drain after a failure: alignment unknown');
  t.equal(probe.stats.samplesFed, 0);
  t.throws(() => probe.start(), { code: 'SC_ERR_INVALID_STATE' });
});

t.test('probe without a valid token: the 401 is an error event naming the status', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  for (const token of [undefined, stack.token('publisher', 'probe')]) {
    const probe = new LatencyProbe({ url: llhlsUrl(stack.originUrl, 'probe'), ...(token ? { token } : {}) });
    const failed = new Promise<Error>((resolve) => probe.on('error', resolve));
    probe.start();
    t.match((await failed).message, token ? /HTTP 403/ : /HTTP 401/, token ? 'a publisher token does not watch' : 'no token');
    await probe.close();
  }
});

t.test('probe on the live stack: pixel stamp and metadata ingest clock agree within one frame', async (t) => {
  const fps = 30;
  const stack = await startStack();
  // The synthetic console in its own process (as a real console is its own device, and as the
  // latency bench runs it): painting 720p frames in this event loop, which also runs the edge's
  // RTMP server, made it skip frames that the edge then repeats (measured: 21-66 repeated frames
  // in 6 s in-process, 0-17 out of process), and each repeat shows an older picture than its clock.
  const script = fileURLToPath(new URL('../bin/synthetic-console.ts', import.meta.url));
  const source = spawn(process.execPath, ['--import', 'tsx', script, stack.rtmpUrl('probe'), '--size', '1280x720', '--fps', String(fps)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let sourceErr = '';
  source.stderr.on('data', (chunk: Buffer) => (sourceErr = (sourceErr + chunk.toString()).slice(-2000)));
  const sourceExit = new Promise<number | null>((resolve) => source.once('exit', (code) => resolve(code)));
  const stopSource = async (): Promise<number | null> => {
    if (source.exitCode === null && source.signalCode === null) source.kill('SIGTERM');
    return sourceExit;
  };
  t.teardown(async () => {
    await stopSource();
    await stack.close();
  });
  const url = llhlsUrl(stack.originUrl, 'probe');
  // The probe watches like a trainee's player: the least role LL-HLS needs.
  const token = stack.token('trainee', 'probe');
  const headers = { authorization: `Bearer ${token}` };
  // Join a running case, as a viewer does: a publish starts with the console's start-up (its
  // ffmpeg reads frame 0, then opens the RTMP output for ~1 s; the edge's constant frame rate
  // repeats frame 0 over that gap), measured to last 1.7 s of media, up to 3.4 s under load.
  await eventually(async () => {
    const res = await fetch(url, { headers });
    if (!res.ok) return undefined;
    const media = await (await fetch(new URL(firstVariantUri(await res.text()), url), { headers })).text();
    return parseMediaPlaylist(media).next.msn >= 3 ? true : undefined;
  }, 30_000, 'three complete segments at the origin');

  // Up to three 6 s windows: the design's one-frame agreement holds while the machine keeps up; a
  // stall of this shared 2-core box queues frames before the encoder (its socket and stdin), which
  // no metadata can see (measured: one window in 13 failed that way, median error 825 ms with the
  // pixel latency at 3.1 s). A real clock error fails every window.
  let frames: ProbeFrame[] = [];
  let absMedian = Number.POSITIVE_INFINITY;
  for (let attempt = 1; attempt <= 3 && !(absMedian <= 1000 / fps); attempt++) {
    frames = await measureWindow(t, url, token);
    absMedian = summarize(frames.map((f) => Math.abs(f.metadataErrorMs))).median;
    t.comment(`window ${attempt}: ${frames.length} frames, median |ingest - stamp| ${absMedian.toFixed(1)} ms, pixel latency median ${summarize(frames.map((f) => f.stampLatencyMs)).median.toFixed(0)} ms`);
  }

  // It closes its ffmpeg before exiting 0 (bin/cli.ts closeOnSignal): 0 means no orphan.
  t.equal(await stopSource(), 0, `console process closed its ffmpeg and exited 0 ${sourceErr}`);
  t.ok(frames.every((f) => Number.isFinite(f.stampMs) && Number.isFinite(f.ingestWallClockMs)), 'every matched frame has both clocks');
  t.same(frames.map((f) => f.index), [...frames.map((f) => f.index)].sort((a, b) => a - b), 'frames arrive in decode order');

  const error_ = summarize(frames.map((f) => f.metadataErrorMs));
  const absError = summarize(frames.map((f) => Math.abs(f.metadataErrorMs)));
  const stampLatency = summarize(frames.map((f) => f.stampLatencyMs));
  const metaLatency = summarize(frames.map((f) => f.metadataLatencyMs));
  const r = (n: number): string => n.toFixed(1);
  t.comment(`metadata error (ingest - stamp) ms: median ${r(error_.median)} p95 ${r(error_.p95)} min ${r(error_.min)} max ${r(error_.max)}`);
  t.comment(`latency ms from stamp: median ${r(stampLatency.median)} p95 ${r(stampLatency.p95)}; from metadata: median ${r(metaLatency.median)} p95 ${r(metaLatency.p95)}`);
  // Where a large error comes from: frames the edge repeated (same stamp twice: the console skipped
  // one) carry a clock newer than their picture; the parts' first frames carry the prft itself.
  const repeated = frames.filter((f, i) => i > 0 && f.stampMs === frames[i - 1]!.stampMs).length;
  const partStarts = frames.filter((f, i) => i === 0 || f.fragmentSequence !== frames[i - 1]!.fragmentSequence);
  t.comment(`${repeated} repeated frames; error of the parts' first frames (prft - stamp): median ${r(summarize(partStarts.map((f) => f.metadataErrorMs)).median)} ms`);
  const frameIntervalMs = 1000 / fps;
  t.ok(absError.median <= frameIntervalMs, `median |ingest wall clock - stamp| ${r(absError.median)} ms within one frame interval (${r(frameIntervalMs)} ms)`);
});

/** One probe run over a 6 s window: checks its own lifecycle and exact matching, returns its frames. */
async function measureWindow(t: Test, url: string, token: string): Promise<ProbeFrame[]> {
  const probe = new LatencyProbe({ url, token });
  t.teardown(() => probe.close());
  const frames: ProbeFrame[] = [];
  probe.on('frame', (f) => frames.push(f));
  let timer: NodeJS.Timeout | undefined;
  const window = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 6000)));
  const failed = new Promise<Error>((resolve) => probe.on('error', resolve));
  probe.start();
  const pid = await eventually(() => probe.pid, 5000, 'the decoder');
  const error = await Promise.race([failed, window]);
  clearTimeout(timer);
  await probe.close();
  await probe.close(); // idempotent
  t.equal(error, null, 'no client or decoder error');
  t.ok(await processGone(pid), 'decoder exited');
  t.throws(() => probe.start(), { code: 'SC_ERR_INVALID_STATE' });
  const stats = probe.stats;
  t.comment(`stats ${JSON.stringify(stats)}`);
  t.equal(stats.aligned, true, 'the drained decoder returned exactly one frame per sample: decode-order matching is exact');
  t.equal(stats.withoutPrft, 0, 'every fragment carried a prft for the video track');
  t.ok(stats.matched >= 100, `${stats.matched} frames matched`);
  t.equal(frames.length, stats.matched);
  return frames;
}
