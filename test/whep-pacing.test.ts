// A WHEP viewer's send queue is bounded by age and paced by time, not by event-loop turns.
// Regression (BENCHMARKS.md, 500 LL-HLS + 20 WHEP): the origin sent each viewer 8 packets per
// event-loop turn and bounded its queue by packet count; on a CPU-bound origin whose turns took
// ~100 ms a 400-packet queue held seconds of media, and WHEP p95 went from 55 ms to 4483 ms.
import { Worker } from 'node:worker_threads';
import t from 'tap';
import type { RtpOut } from '../codecs/rtp/index.js';
import type { FromWorker, ToWorker, WorkerInit } from '../loadtest/loadtest-protocol.js';
import { DEFAULT_VIEWER_MAX_QUEUE_MS, VIEWER_PACING, ViewerSendQueue, type QueuedPacket, type ViewerSendQueueOptions } from '../origin/webrtc/viewer-send-queue.js';
import { eventually, publishTestSource, startStack } from './helpers/stack.js';

/** A packetized frame: `count` packets of `bytes` payload bytes from packetizer sequence `firstSeq`, marker on the last. */
function frame(firstSeq: number, count: number, bytes: number, timestamp: number): RtpOut[] {
  return Array.from({ length: count }, (_, i) => ({
    payload: Buffer.alloc(bytes, (firstSeq + i) & 0xff),
    marker: i === count - 1,
    timestamp,
    sequenceNumber: (firstSeq + i) & 0xffff,
  }));
}
const view = (packets: readonly QueuedPacket[]) => packets.map((p) => ({ seq: p.seq, timestamp: p.out.timestamp, marker: p.out.marker, firstByte: p.out.payload[0] }));

/** The production settings: 400 packets, 250 ms, the real pacing rate. */
const PRODUCTION: ViewerSendQueueOptions = { maxPackets: 400, maxQueueMs: DEFAULT_VIEWER_MAX_QUEUE_MS, ...VIEWER_PACING };
/** Round numbers for exact schedules: 500-byte packets at 1000 bytes/ms = 0.5 ms each, a 4000-byte burst (8 packets), catch-up 100 bytes/ms. */
const EXACT: ViewerSendQueueOptions = { maxPackets: 400, maxQueueMs: 250, paceBytesPerMs: 1000, burstBytes: 4000, catchUpBytesPerMs: 100, maxChunkBytes: 1_000_000 };

t.test('a slow event loop: the queue keeps up with the stream, nothing is skipped, nothing waits more than two turns', async (t) => {
  // 720p30 at ~4 Mbit/s: 14 packets of 1200 bytes per frame, a 60-packet keyframe every 30 frames.
  // The loop turns only every 100 ms (the loaded origin). 8 packets a turn would have sent 80
  // packets/s of the 440 this stream needs; the queue must keep up with the stream instead.
  const queue = new ViewerSendQueue(PRODUCTION);
  const TURN_MS = 100;
  let seq = 0;
  let pending = 0;
  let wakeAt: number | null = null;
  let refused = 0;
  const pushedAt = new Map<number, number>();
  const sent: number[] = [];
  let longestWait = 0;
  let mostQueued = 0;
  // One drain per turn at most (its timer, or the next turn when behind) plus the one in sendFrame.
  const drain = (now: number): void => {
    const out = queue.take(now);
    for (const p of out.packets) {
      sent.push(p.seq);
      longestWait = Math.max(longestWait, now - pushedAt.get(p.seq)!);
    }
    queue.settled(out.packets.length); // the transport is done within the turn
    wakeAt = out.wakeAt;
  };
  for (let now = 0; now <= 10_000; now += TURN_MS) {
    if (wakeAt !== null && wakeAt <= now) drain(now); // the pacing timer or catch-up, late by up to a turn
    // Frames that reached the origin during the last turn are handled now, in order.
    for (; pending * (1000 / 30) <= now; pending++) {
      const keyframe = pending % 30 === 0;
      const packets = frame(seq, keyframe ? 60 : 14, 1200, pending * 3000);
      for (const p of packets) pushedAt.set(p.sequenceNumber, now);
      seq += packets.length;
      if (!queue.push(packets, keyframe, undefined, now)) refused += 1;
      if (wakeAt === null) drain(now); // sendFrame drains at once when no timer is pending
    }
    mostQueued = Math.max(mostQueued, queue.stats.queuedPackets);
  }
  t.equal(refused, 0, `all ${pending} frames queued`);
  t.same(sent, Array.from({ length: sent.length }, (_, i) => i), 'every packet sent once, in order, contiguous');
  t.ok(sent.length >= seq - mostQueued, `all but the last turn's packets sent (${sent.length} of ${seq})`);
  // A turn sends one chunk (<= 64 KB) and what sendFrame sends at once: a keyframe's turn spills
  // into the next one, and the next turn catches up.
  t.ok(longestWait <= 2 * TURN_MS, `no packet waited more than two turns (longest ${longestWait} ms)`);
  t.ok(mostQueued < 120, `the queue holds at most one turn of media (${mostQueued} packets)`);
  t.match(queue.stats, { skippedFrames: 0, lateSkips: 0, capSkips: 0 });
});

t.test('a keyframe on a quick loop is spread at the pacing rate after one burst (exact schedule)', async (t) => {
  const queue = new ViewerSendQueue(EXACT);
  t.ok(queue.push(frame(100, 20, 500, 9000), true, 1_000, 0));
  let out = queue.take(0);
  // The burst: 4000 bytes of link time (packets sent by -3.5, -3, ... 0 ms).
  t.same(out.packets.map((p) => p.seq), [100, 101, 102, 103, 104, 105, 106, 107]);
  t.equal(out.wakeAt, 0.5, 'the next packet is due 0.5 ms later (500 bytes at 1000 bytes/ms)');
  out = queue.take(0.5);
  t.same(out.packets.map((p) => p.seq), [108]);
  t.equal(out.wakeAt, 1);
  out = queue.take(0.9);
  t.same(out.packets, [], 'nothing early');
  t.equal(out.wakeAt, 1);
  out = queue.take(3);
  t.same(out.packets.map((p) => p.seq), [109, 110, 111, 112, 113], 'due at 1, 1.5, 2, 2.5, 3 ms');
  t.equal(out.wakeAt, 3.5);
  // A late turn gets everything that became due meanwhile (up to a chunk: see the next test).
  out = queue.take(40);
  t.same(out.packets.map((p) => p.seq), [114, 115, 116, 117, 118, 119]);
  t.equal(out.packets.at(-1)!.out.marker, true);
  t.equal(out.wakeAt, null, 'queue empty');
  t.match(queue.stats, { queuedPackets: 0, inFlight: 20, queuedFrames: 1, sentFrames: 1, skippedFrames: 0 });
  // Idle again: the next frame goes out at once.
  t.ok(queue.push(frame(120, 2, 500, 12000), false, 1_033, 100));
  t.same(view(queue.take(100).packets), [
    { seq: 120, timestamp: 12000, marker: false, firstByte: 120 },
    { seq: 121, timestamp: 12000, marker: true, firstByte: 121 },
  ]);
});

t.test('behind schedule after a stall: catch-up in chunks, each long turn gets at least the catch-up rate (exact schedule)', async (t) => {
  const queue = new ViewerSendQueue(EXACT);
  t.ok(queue.push(frame(0, 60, 500, 0), true, undefined, 0));
  const seqs = (now: number): { seqs: string; wakeAt: number | null } => {
    const out = queue.take(now);
    return { seqs: `${out.packets[0]?.seq}..${out.packets.at(-1)?.seq}`, wakeAt: out.wakeAt };
  };
  t.same(seqs(0), { seqs: '0..7', wakeAt: 0.5 }, 'the burst');
  // The loop stalls 20 ms: 40 packets are due, one chunk (the 4000-byte burst) goes, then the
  // caller yields to other I/O (wakeAt = now) and takes the next chunk.
  t.same(seqs(20), { seqs: '8..15', wakeAt: 20 });
  t.same(seqs(20), { seqs: '16..23', wakeAt: 20 });
  // A turn of 100 ms: at least 100 ms x 100 bytes/ms = 10,000 bytes (20 packets) in one take.
  t.same(seqs(120), { seqs: '24..43', wakeAt: 120 });
  t.same(seqs(120), { seqs: '44..51', wakeAt: 120 });
  t.same(seqs(120), { seqs: '52..59', wakeAt: null });
  t.match(queue.stats, { sentFrames: 1, skippedFrames: 0, lateSkips: 0, inFlight: 60 });
});

t.test('a frame waiting longer than maxQueueMs: the queue is dropped, the viewer resumes at the next keyframe with contiguous sequence numbers', async (t) => {
  const queue = new ViewerSendQueue(EXACT);
  // Before the first keyframe nothing is queued (a viewer starts on a keyframe).
  t.notOk(queue.push(frame(0, 3, 500, 0), false, undefined, 0));
  t.ok(queue.waitingForKeyframe);
  t.ok(queue.push(frame(3, 3, 500, 3000), true, undefined, 0));
  t.same(queue.take(0).packets.map((p) => p.seq), [0, 1, 2], 'the skipped frame leaves no gap');
  // The loop stalls: two frames are queued and nothing drains them for 300 ms.
  t.ok(queue.push(frame(6, 3, 500, 6000), false, undefined, 33));
  t.ok(queue.push(frame(9, 3, 500, 9000), false, undefined, 66));
  const late = queue.take(330);
  t.same(late, { packets: [], wakeAt: null }, 'frames queued 297 ms ago are not sent');
  t.ok(queue.waitingForKeyframe, 'behind: wait for a keyframe');
  t.match(queue.stats, { skippedFrames: 3, lateSkips: 1, queuedPackets: 0 });
  t.notOk(queue.push(frame(12, 3, 500, 12000), false, undefined, 331), 'no delta frame until a keyframe');
  t.ok(queue.push(frame(15, 4, 500, 15000), true, undefined, 333));
  t.same(view(queue.take(333).packets), [
    { seq: 3, timestamp: 15000, marker: false, firstByte: 15 },
    { seq: 4, timestamp: 15000, marker: false, firstByte: 16 },
    { seq: 5, timestamp: 15000, marker: false, firstByte: 17 },
    { seq: 6, timestamp: 15000, marker: true, firstByte: 18 },
  ], 'the keyframe continues right after the last packet the viewer got');
  t.match(queue.stats, { skippedFrames: 4, lateSkips: 1, capSkips: 0, sentFrames: 2 });

  // Exactly at the bound a frame is still sent; the age test is on time in the queue only.
  t.ok(queue.push(frame(19, 1, 500, 18000), false, undefined, 400));
  t.same(queue.take(650).packets.map((p) => p.seq), [7]);
  t.equal(queue.stats.lateSkips, 1);
});

t.test('a pushed frame finds the queue too old: dropped at once, even with no drain in between', async (t) => {
  const queue = new ViewerSendQueue(EXACT);
  t.ok(queue.push(frame(0, 1, 500, 0), true, undefined, 0));
  queue.take(0);
  t.ok(queue.push(frame(1, 1, 500, 3000), false, undefined, 10));
  // No timer ran for 400 ms; a new keyframe arrives: the stale delta goes, the keyframe starts.
  t.ok(queue.push(frame(2, 1, 500, 6000), true, undefined, 410));
  t.same(queue.take(410).packets.map((p) => p.seq), [1], 'the keyframe takes the dropped frame\'s sequence number');
  t.match(queue.stats, { skippedFrames: 1, lateSkips: 1 });
});

t.test('a frame already started is finished, never torn; only the frames behind it are dropped', async (t) => {
  const queue = new ViewerSendQueue(EXACT);
  t.ok(queue.push(frame(0, 20, 500, 0), true, undefined, 0));
  t.equal(queue.take(0).packets.length, 8, 'the keyframe started');
  t.ok(queue.push(frame(20, 2, 500, 3000), false, undefined, 1));
  const out = queue.take(400);
  t.same(out.packets.map((p) => p.seq), [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19], 'the rest of the keyframe, up to its marker');
  t.equal(out.packets.at(-1)!.out.marker, true);
  t.equal(out.wakeAt, null);
  t.match(queue.stats, { skippedFrames: 1, lateSkips: 1, sentFrames: 1 });
  t.ok(queue.waitingForKeyframe);
});

t.test('a fast-start backlog (the GOP so far) on a slow loop is not taken for a viewer that fell behind', async (t) => {
  // Regression (CI, test/whep fast start): the cached GOP went in as ordinary frames, all "queued
  // now"; on a loaded loop it drained at the catch-up rate for longer than maxQueueMs, so the
  // queue dropped it and the viewer's first second had a hole up to the next keyframe.
  // A keyframe of 8 packets and 9 deltas of 2, 500 bytes each: 13,000 bytes, 130 ms at catch-up rate.
  const gop = [{ packets: frame(0, 8, 500, 0), keyframe: true, wallClockMs: undefined }];
  for (let i = 1; i <= 9; i++) gop.push({ packets: frame(8 + (i - 1) * 2, 2, 500, i * 3000), keyframe: false, wallClockMs: undefined });
  const backlog = new ViewerSendQueue(EXACT);
  t.equal(backlog.pushBacklog(gop, 0), 10);
  t.equal(backlog.take(0).packets.length, 8, 'the keyframe goes out in the first burst');
  t.ok(backlog.push(frame(26, 2, 500, 30000), false, undefined, 33), 'the live frame queues behind the backlog');
  // The loop stalls until 300 ms: past maxQueueMs for "queued at 0", within it from the backlog's drain time.
  t.same(backlog.take(300).packets.map((p) => p.seq), Array.from({ length: 20 }, (_, i) => 8 + i), 'the rest of the GOP and the live frame, contiguous');
  t.match(backlog.stats, { sentFrames: 11, skippedFrames: 0, lateSkips: 0 });

  // The same frames pushed one by one (what fast start did) are dropped at that turn.
  const plain = new ViewerSendQueue(EXACT);
  for (const f of gop) plain.push(f.packets, f.keyframe, undefined, 0);
  plain.take(0);
  t.same(plain.take(300).packets, [], 'without the allowance the backlog is expired');
  t.equal(plain.stats.lateSkips, 1);

  // A backlog over the memory cap is not queued at all: the viewer starts at the next keyframe.
  const capped = new ViewerSendQueue({ ...EXACT, maxPackets: 16 });
  t.equal(capped.pushBacklog(gop, 0), 0);
  t.ok(capped.waitingForKeyframe);
  t.match(capped.stats, { queuedPackets: 0, queuedFrames: 0 });
});

t.test('the packet count stays a memory cap: a transport that does not settle skips the viewer to the next keyframe', async (t) => {
  const queue = new ViewerSendQueue({ ...EXACT, maxPackets: 16 });
  t.ok(queue.push(frame(0, 10, 500, 0), true, undefined, 0));
  t.equal(queue.take(100).packets.length, 10);
  t.equal(queue.stats.inFlight, 10);
  t.notOk(queue.push(frame(10, 7, 500, 3000), false, undefined, 133), '10 in flight + 7 > 16');
  t.match(queue.stats, { capSkips: 1, skippedFrames: 1 });
  queue.settled(10);
  t.notOk(queue.push(frame(17, 2, 500, 6000), false, undefined, 166), 'still waiting for a keyframe');
  t.ok(queue.push(frame(19, 2, 500, 9000), true, undefined, 200));
  t.same(queue.take(200).packets.map((p) => p.seq), [10, 11]);
});

/** Keep this thread's event loop turning slowly, as on a CPU-bound origin: every turn busy for blockMs. */
async function slowLoop(totalMs: number, blockMs: number): Promise<number> {
  const end = Date.now() + totalMs;
  let turns = 0;
  while (Date.now() < end) {
    const until = Date.now() + blockMs;
    while (Date.now() < until) {
      // busy: nothing else on this thread runs
    }
    turns += 1;
    await new Promise((resolve) => setImmediate(resolve)); // one turn of I/O and timers
  }
  return turns;
}

const p95 = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))] ?? Number.NaN;
};

/**
 * The load test's WHEP viewer in a worker thread: its own event loop, so blocking this thread
 * slows the origin only (a viewer on this loop could read 32 datagrams per socket per turn).
 */
function viewerThread(url: string, token: string): { worker: Worker; samples: Array<{ at: number; ageMs: number }>; ready: Promise<void>; stop: () => Promise<void> } {
  const api = import.meta.resolve('tsx/esm/api');
  const file = new URL('../loadtest/loadtest-worker.ts', import.meta.url).href;
  const code = `import(${JSON.stringify(api)}).then((api) => { api.register(); return import(${JSON.stringify(file)}); })`;
  const init: WorkerInit = { kind: 'whep', url, token, connections: 1, interfaceAddress: '127.0.0.1' };
  const worker = new Worker(code, { eval: true, workerData: init });
  const samples: Array<{ at: number; ageMs: number }> = [];
  let stopped: () => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'ready') resolve();
      else if (m.type === 'tick') m.sampleAt.forEach((at, i) => samples.push({ at, ageMs: m.sampleLatency[i]! }));
      else if (m.type === 'stopped') stopped();
    });
  });
  const stop = async (): Promise<void> => {
    const done = new Promise<void>((resolve) => (stopped = resolve));
    worker.postMessage({ type: 'stop' } satisfies ToWorker);
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 5000))]);
    await worker.terminate();
  };
  return { worker, samples, ready, stop };
}

t.test('a real WHEP viewer while every origin event-loop turn takes 100 ms: pictures stay fresh, the queue is never capped', async (t) => {
  const BLOCK_MS = 100;
  const stack = await startStack();
  t.teardown(() => stack.close());
  // ffmpeg as the console (its own process, real time): the picture keeps coming while we block.
  const publisher = publishTestSource(stack.rtmpUrl('wp1'));
  t.teardown(() => publisher.close());
  const live = await eventually(() => (stack.origin.registry.get('wp1')?.realtime.track ? stack.origin.registry.get('wp1') : undefined), 30_000, 'realtime feed at the origin');
  // How old each frame already is when it reaches the origin's WebRTC sender (edge + uplink).
  const arrivals: Array<{ at: number; ageMs: number }> = [];
  const onFrame = (frame: { wallClockMs: number | undefined }): void => {
    if (frame.wallClockMs !== undefined) arrivals.push({ at: Date.now(), ageMs: Date.now() - frame.wallClockMs });
  };
  live.realtime.on('frame', onFrame);
  t.teardown(() => live.realtime.off('frame', onFrame));
  const viewer = viewerThread(`${stack.originUrl}/whep/wp1`, stack.token('expert', 'wp1'));
  t.teardown(() => viewer.stop());
  await viewer.ready;
  viewer.worker.postMessage({ type: 'add', count: 1, overMs: 0 } satisfies ToWorker);
  await eventually(() => (viewer.samples.length >= 30 ? true : undefined), 30_000, '30 frames with a sender-report clock');

  const from = Date.now();
  const turns = await slowLoop(6000, BLOCK_MS);
  const until = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 1500)); // the worker reports once a second
  // Skip the first second: the backlog from before the slow loop.
  const inWindow = (at: number): boolean => at >= from + 1000 && at <= until;
  const viewerAges = viewer.samples.filter((s) => inWindow(s.at)).map((s) => s.ageMs);
  const originAges = arrivals.filter((a) => inWindow(a.at)).map((a) => a.ageMs);
  const sessions = ((await (await fetch(`${stack.originUrl}/api/webrtc/sessions`, { headers: stack.auth('admin') })).json()) as { sessions: Array<Record<string, number>> }).sessions;
  const info = sessions[0]!;
  t.comment(`${turns} turns of >= ${BLOCK_MS} ms; viewer got ${viewerAges.length} frames (origin ${originAges.length}); age p95 at the origin ${p95(originAges)} ms, at the viewer ${p95(viewerAges)} ms; session ${JSON.stringify(info)}`);
  t.ok(originAges.length > 0 && viewerAges.length >= originAges.length / 2, `the viewer keeps getting pictures (${viewerAges.length} of ${originAges.length})`);
  // Sent 8 packets a turn, this viewer's queue grew to its 400-packet cap (seconds of media),
  // then it was skipped to the next keyframe over and over. Now a turn sends all that is due.
  t.equal(info.capSkips, 0, 'the packet cap (memory bound) was never reached');
  // Slack: a frame may wait one turn in the queue and arrive during the next.
  const bound = DEFAULT_VIEWER_MAX_QUEUE_MS + 2 * BLOCK_MS;
  t.ok(p95(viewerAges) <= p95(originAges) + bound, `the viewer's pictures are at most ${bound} ms older than at the origin (p95 ${p95(viewerAges)} vs ${p95(originAges)} ms)`);
});
