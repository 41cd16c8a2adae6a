// Hostile input on the RTMP listener: the gate in front of node-media-server's parser (pure), then
// the listener limits on a real edge: maxConnections, the handshake deadline (RTMPS: TLS included),
// the idle timeout, the chunk-buffer budget, and a real console unaffected by any of them.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { loadEdgeConfig } from '../configs/index.js';
import { DEFAULT_FRAME_LIMITS, RtmpGate } from '../edge/ingest/rtmp-limits.js';
import { TEST_INGEST_KEY, testAuthConfig } from './helpers/auth.js';
import { makeTestCa } from './helpers/certs.js';
import { ffmpegChildren } from './helpers/process.js';
import { rng } from './helpers/random.js';
import { encodeMessage, handshake, playSession, publishSession, segmentSession, type Segment } from './helpers/rtmp-mutator.js';
import { playScript, rtmpMetrics, silentSocket, startRtmpEdge, tcpConnections } from './helpers/rtmp-client.js';
import { eventually, publishTestSource } from './helpers/stack.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const ffmpegPublish = readFileSync(new URL('./fixtures/rtmp/ffmpeg-publish.bin', import.meta.url));
const TC_URL = 'rtmp://127.0.0.1:1935/live';
const flat = (segments: Segment[]): Buffer => Buffer.concat(segments.map((s) => s.bytes));
const publish = (options: { name?: string; chunkSize?: number } = {}): Buffer =>
  flat(publishSession(rng(7), { app: 'live', name: options.name ?? 'or1', tcUrl: TC_URL, ...(options.chunkSize ? { chunkSize: options.chunkSize } : {}) }));
/** Handshake + connect (+ createStream): a client that has not published yet. */
const connected = (): Segment[] =>
  publishSession(rng(8), { app: 'live', name: 'or1', tcUrl: TC_URL }).filter(
    (s) => s.kind === 'handshake' || s.command === 'connect' || s.command === 'createStream' || (s.typeAt !== undefined && s.bytes[s.typeAt] === 1),
  );
const message = (cid: number, type: number, payload: Buffer): Buffer => flat(encodeMessage({ cid, type, streamId: 1, timestamp: 0, payload }, 4096));
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
/** A format-0 chunk header announcing a message, with no payload (what makes NMS allocate). */
const announce = (cid: number, length: number, type = 9): Buffer => {
  const h = Buffer.alloc(11);
  h.writeUIntBE(length, 3, 3);
  h[6] = type;
  const basic = cid >= 320 ? Buffer.from([1, (cid - 64) & 0xff, (cid - 64) >> 8]) : Buffer.from([0, cid - 64]);
  return Buffer.concat([basic, h]);
};

t.test('config: rtmp limits default to 64 connections, 5 s to publish, 8 s idle (a silent publisher is found within 10 s); bounds are checked', async (t) => {
  const base = { origin: { ingestKey: TEST_INGEST_KEY }, auth: testAuthConfig() };
  const { maxConnections, handshakeTimeoutMs, idleTimeoutMs } = loadEdgeConfig(base).rtmp;
  t.equal(loadEdgeConfig(base).webrtc.silenceTimeoutMs, 8000, 'a WHIP publisher sending no RTP is ended after 8 s too');
  t.same({ maxConnections, handshakeTimeoutMs, idleTimeoutMs }, { maxConnections: 64, handshakeTimeoutMs: 5000, idleTimeoutMs: 8000 });
  t.throws(() => loadEdgeConfig({ ...base, rtmp: { maxConnections: 0, handshakeTimeoutMs: 10, idleTimeoutMs: 5 } }), {
    message: /maxConnections: must be >= 1[\s\S]*handshakeTimeoutMs: must be >= 100[\s\S]*idleTimeoutMs: must be >= 1000/,
  });
});

t.test('gate: valid client streams pass whole, split anywhere, and reach publish/play', async (t) => {
  const cases: Array<[string, Buffer, string]> = [
    ['ffmpeg (recorded)', ffmpegPublish, 'publishing'],
    ['synthetic publish, chunk size 4096', publish(), 'publishing'],
    ['synthetic publish, chunk size 128', publish({ chunkSize: 128 }), 'publishing'],
    ['synthetic play', flat(playSession(rng(3), { app: 'live', name: 'or1', tcUrl: TC_URL })), 'playing'],
  ];
  for (const [name, bytes, stage] of cases) {
    const whole = new RtmpGate();
    const scan = whole.scan(bytes);
    t.equal(scan.violation, null, `${name}: no violation`);
    t.equal(Buffer.concat(scan.pieces).equals(bytes), true, `${name}: every byte passed on, in order`);
    t.equal(whole.stage, stage, `${name}: ${stage}`);
    t.ok(whole.bufferedBytes <= DEFAULT_FRAME_LIMITS.maxBufferedBytes);
    const bytewise = new RtmpGate();
    for (let i = 0; i < bytes.length; i++) {
      const piece = bytewise.scan(bytes.subarray(i, i + 1));
      if (piece.violation) t.fail(`${name}: violation at byte ${i}: ${piece.violation}`);
    }
    t.equal(bytewise.stage, stage, `${name}: same result one byte at a time`);
  }
  // Cut after every command (connect, releaseStream, FCPublish, createStream, publish, FCUnpublish,
  // deleteStream: one chunk each), so NMS can be stopped between them; nowhere else.
  const commandEnds: number[] = [];
  let at = 0;
  for (const s of segmentSession(ffmpegPublish)) {
    at += s.bytes.length;
    if (s.ends && s.ends !== '@setDataFrame' && at < ffmpegPublish.length) commandEnds.push(at);
  }
  const cuts: number[] = [];
  at = 0;
  for (const piece of new RtmpGate().scan(ffmpegPublish).pieces.slice(0, -1)) cuts.push((at += piece.length));
  t.same(cuts, commandEnds, 'the bytes are cut right after each command message');
  t.equal(commandEnds.length, 6);
});

t.test('gate: refuses what would make node-media-server allocate, stall, misframe or leak', async (t) => {
  const hs = handshake(rng(1)).bytes;
  const connect = flat(connected());
  const refusals: Array<[string, Buffer, RegExp]> = [
    ['not RTMP (TLS hello on the plain port)', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), /version byte 22/],
    ['a 16 MiB command before publish', Buffer.concat([connect, announce(70, 0xffffff, 20)]), /16777215 bytes, type 20/],
    ['video before publish', Buffer.concat([connect, message(6, 9, Buffer.from([0x17, 1, 0, 0, 0]))]), /type 9 before publish/],
    ['metadata before publish', Buffer.concat([connect, message(4, 18, Buffer.from([2, 0, 1, 0x61]))]), /type 18 before publish/],
    ['chunk size 0 (NMS would compute NaN and stall)', Buffer.concat([hs, message(2, 1, u32(0))]), /chunk size 0/],
    ['chunk size with the top bit set', Buffer.concat([hs, message(2, 1, u32(0x80000000))]), /chunk size 2147483648/],
    ['a 2-byte set chunk size (NMS reads stale bytes)', Buffer.concat([hs, message(2, 1, Buffer.from([0, 1]))]), /set chunk size of 2 bytes/],
    ['a 0-byte window ack size (NMS reads past an empty buffer)', Buffer.concat([hs, message(2, 5, Buffer.alloc(0))]), /window acknowledgement size of 0/],
    ['a second publish on one connection', Buffer.concat([publish(), flat(publishSession(rng(9), { app: 'live', name: 'or2', tcUrl: TC_URL }).filter((s) => s.command === 'publish'))]), /publish after publish/],
    [
      '17 chunk streams',
      Buffer.concat([connect, ...Array.from({ length: 17 }, (_, i) => Buffer.concat([announce(64 + i, 4, 3), u32(i)]))]),
      new RegExp(`more than ${DEFAULT_FRAME_LIMITS.maxChunkStreams} chunk streams`),
    ],
    [
      'a new header inside an unfinished message (NMS would walk its offset back)',
      Buffer.concat([hs, announce(70, 300, 20), Buffer.alloc(128, 5), announce(70, 10, 20)]),
      /new message header on chunk stream 70 before its message ended/,
    ],
  ];
  for (const [name, bytes, reason] of refusals) {
    const gate = new RtmpGate();
    const scan = gate.scan(bytes);
    t.match(scan.violation, reason, name);
    t.same(scan.pieces, [], `${name}: nothing passed on`);
    t.match(gate.scan(Buffer.from([3])).violation, reason, `${name}: stays refused`);
  }
  // After publish, media messages may be big, but NMS's buffers stay within the budget.
  const big = (cid: number): Buffer => announce(cid, DEFAULT_FRAME_LIMITS.maxMediaMessageBytes);
  const gate = new RtmpGate();
  t.equal(gate.scan(Buffer.concat([publish(), big(70), Buffer.alloc(4096, 1)])).violation, null, 'an 8 MiB video message after publish');
  t.equal(gate.scan(Buffer.concat([big(71), Buffer.alloc(4096, 1)])).violation, null, 'a second one, interleaved on another chunk stream');
  t.match(gate.scan(big(72)).violation, /chunk buffers would hold \d+ bytes \(limit 20971520\)/, 'not a third');
  t.match(new RtmpGate().scan(Buffer.concat([publish(), announce(70, DEFAULT_FRAME_LIMITS.maxMediaMessageBytes + 1)])).violation, /limit 8388608/);
});

t.test('listener limits on a real edge', async (t) => {
  const limits = { maxConnections: 4, handshakeTimeoutMs: 1000, idleTimeoutMs: 2000 };
  const rtmp = await startRtmpEdge({ rtmp: { ...limits, publishGraceMs: 1000 }, streams: ['lim-console', 'lim-idle', 'lim-grace'] });
  t.teardown(() => rtmp.close());
  const port = rtmp.rtmpPort;
  const publishBytes = (stream: string): Buffer =>
    flat(publishSession(rng(11), { app: 'live', name: rtmp.publishName(stream), tcUrl: rtmp.tcUrl }));

  await t.test('a socket that sends nothing is closed at the handshake deadline', async (t) => {
    const silent = silentSocket(port);
    const ms = await silent.closed;
    t.ok(ms >= limits.handshakeTimeoutMs - 20, `closed after ${ms} ms`);
    t.ok(ms < limits.handshakeTimeoutMs + 2000, 'by the deadline, not by anything slower');
    // Handshake done, connect sent, never publishes: same deadline.
    const stalled = await playScript({ port, writes: [flat(connected())], close: 'linger', deadlineMs: 5000 });
    t.equal(stalled.end, 'server', 'a connection that never publishes is closed by the edge');
    t.ok(stalled.received > 3073, 'after the edge answered its handshake and connect');
    const m = await rtmpMetrics(rtmp.edge);
    t.equal(m.dropped.handshake_timeout, 2);
  });

  await t.test('more than maxConnections: the extra connections are closed on accept', async (t) => {
    const held = Array.from({ length: limits.maxConnections }, () => silentSocket(port));
    await eventually(async () => ((await rtmpMetrics(rtmp.edge)).connections === limits.maxConnections ? true : undefined), 5000, 'the held connections');
    const extra = [silentSocket(port), silentSocket(port)];
    const extraMs = await Promise.all(extra.map((s) => s.closed));
    t.equal(held.filter((s) => !s.socket.destroyed && s.socket.readyState === 'open').length, limits.maxConnections, 'the held ones are still open');
    for (const ms of extraMs) t.ok(ms < limits.handshakeTimeoutMs, `extra connection closed after ${ms} ms, before any deadline`);
    t.equal((await rtmpMetrics(rtmp.edge)).dropped.over_limit, 2);
    await Promise.all(held.map((s) => s.closed));
    await eventually(async () => ((await rtmpMetrics(rtmp.edge)).connections === 0 && (await tcpConnections(port)) === 0 ? true : undefined), 2000, 'no connections left');
  });

  await t.test('announcing 16 MiB messages on many chunk streams is refused before node-media-server allocates', async (t) => {
    gc();
    const before = process.memoryUsage().rss;
    // Each chunk stream announces a 16 MiB message and sends one chunk (4096 bytes) of it: unguarded,
    // NMS zero-fills a 16 MiB buffer per chunk stream, 1 GiB for these 260 KiB.
    const attack = Buffer.concat([flat(connected()), ...Array.from({ length: 64 }, (_, i) => Buffer.concat([announce(64 + i, 0xffffff, 9), Buffer.alloc(4096, 1)]))]);
    const result = await playScript({ port, writes: [attack], close: 'linger', deadlineMs: 5000 });
    const growth = process.memoryUsage().rss - before;
    t.equal(result.end, 'server');
    t.ok(growth < 64 * 2 ** 20, `rss grew ${(growth / 2 ** 20).toFixed(1)} MiB`);
    t.equal((await rtmpMetrics(rtmp.edge)).dropped.protocol, 1);
  });

  // Found by the fuzzer's memory bound: NMS made each refused session the publisher of its (free)
  // stream path and kept it, parser buffers and all, for its own 30 s grace after it closed.
  await t.test('refused publishes on many names are not kept in memory', async (t) => {
    gc();
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 100; i++) {
      // Not a listed console and no token: refused.
      const bytes = flat(publishSession(rng(100 + i), { app: 'live', name: `nobody-${i}`, tcUrl: rtmp.tcUrl }));
      t.equal((await playScript({ port, writes: [bytes], close: 'end', deadlineMs: 5000 })).end, 'server');
    }
    await eventually(async () => ((await rtmpMetrics(rtmp.edge)).connections === 0 ? true : undefined), 5000, 'all closed');
    await new Promise((r) => setTimeout(r, 200));
    gc();
    // Each one held ~1 MiB (NMS's parser buffers) for 30 s before the fix: ~100 MiB here.
    const growth = (process.memoryUsage().arrayBuffers - before) / 2 ** 20;
    t.ok(growth < 25, `buffers held after 100 refused publishes: ${growth.toFixed(1)} MiB`);
  });

  await t.test('a publisher that goes silent is closed after idleTimeoutMs', async (t) => {
    const result = await playScript({ port, writes: [publishBytes('lim-idle')], close: 'linger', deadlineMs: 10_000 });
    t.equal(result.end, 'server');
    t.ok(result.ms >= limits.idleTimeoutMs - 20, `closed after ${result.ms} ms of silence`);
    t.equal((await rtmpMetrics(rtmp.edge)).dropped.idle_timeout, 1);
    await eventually(() => (rtmp.edge.pipelines.size === 0 ? true : undefined), 10_000, 'its pipeline ended');
  });

  // Found by the fuzzer (test/rtmp-fuzz.test.ts): NMS treats a refused publish from the same address
  // within the grace window as a resume and drops the first publish's end; its pipeline and
  // encoder then ran forever and the stream name stayed busy.
  await t.test('a publish refused within the grace window does not keep the stream alive forever', async (t) => {
    const first = playScript({ port, writes: [publishBytes('lim-grace')], close: 'linger', deadlineMs: 10_000, onSocket: (s) => setTimeout(() => s.destroy(), 300) });
    const pipeline = await eventually(() => rtmp.edge.pipelines.get('lim-grace'), 5000, 'the first publish');
    await first;
    // Within the grace window, same address, a bad token: refused, then gone.
    const refused = flat(publishSession(rng(11), { app: 'live', name: 'lim-grace?token=not-a-token', tcUrl: rtmp.tcUrl }));
    const second = await playScript({ port, writes: [refused], close: 'end', deadlineMs: 5000 });
    t.equal(second.end, 'server');
    await eventually(() => (rtmp.edge.pipelines.has('lim-grace') ? undefined : true), 8000, 'the stream ended after the grace window');
    t.equal(pipeline.encoderPid, null, 'its encoder is gone');
    await eventually(async () => ((await ffmpegChildren()).length === 0 ? true : undefined), 10_000, 'no ffmpeg left');
  });

  await t.test('a real console is unaffected by the limits, also while they refuse others', async (t) => {
    const before = await rtmpMetrics(rtmp.edge);
    const consoleProc = publishTestSource(`rtmp://127.0.0.1:${port}/live/${rtmp.publishName('lim-console')}`, { size: '320x240' });
    t.teardown(() => consoleProc.close());
    const pipeline = await eventually(() => rtmp.edge.pipelines.get('lim-console'), 15_000, 'the console publishing');
    const encoder = await eventually(() => pipeline.encoderPid ?? undefined, 5000, 'its encoder');
    // Fill the remaining slots, try two more, let the deadlines and the idle timeout pass.
    const others = Array.from({ length: limits.maxConnections + 1 }, () => silentSocket(port));
    await Promise.all(others.map((s) => s.closed));
    await new Promise((r) => setTimeout(r, limits.idleTimeoutMs + 500));
    t.equal(rtmp.edge.pipelines.get('lim-console'), pipeline, 'still the same publish');
    t.equal(pipeline.encoderPid, encoder, 'and the same encoder');
    t.equal(consoleProc.pid !== undefined && (await ffmpegChildren()).includes(consoleProc.pid), true, 'the console is still connected');
    const after = await rtmpMetrics(rtmp.edge);
    t.equal((after.dropped.over_limit ?? 0) - (before.dropped.over_limit ?? 0), 2, 'two over the limit refused');
    t.equal((after.dropped.handshake_timeout ?? 0) - (before.dropped.handshake_timeout ?? 0), limits.maxConnections - 1, 'the others timed out');
    t.equal((after.dropped.idle_timeout ?? 0) - (before.dropped.idle_timeout ?? 0), 0, 'the console never idled out');
    t.equal((after.dropped.protocol ?? 0) + (after.dropped.parser_error ?? 0), (before.dropped.protocol ?? 0) + (before.dropped.parser_error ?? 0), 'nor broke a rule');
    await consoleProc.close();
    await eventually(() => (rtmp.edge.pipelines.size === 0 ? true : undefined), 10_000, 'the publish ended');
    await eventually(async () => ((await ffmpegChildren()).length === 0 ? true : undefined), 10_000, 'no ffmpeg left');
    await eventually(async () => ((await rtmpMetrics(rtmp.edge)).connections === 0 && (await tcpConnections(port)) === 0 ? true : undefined), 2000, 'no connections left');
  });
});

t.test('RTMPS: the deadline covers the TLS handshake; a TLS publisher goes through the gate', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scopecast-rtmps-limits-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await makeTestCa(dir, 'limits');
  const limits = { maxConnections: 4, handshakeTimeoutMs: 400, idleTimeoutMs: 1500 };
  const rtmp = await startRtmpEdge({ rtmp: limits, streams: ['tls-console'], tls: { certFile: ca.certFile, keyFile: ca.keyFile } });
  t.teardown(() => rtmp.close());

  const silent = silentSocket(rtmp.rtmpsPort);
  const ms = await silent.closed;
  t.ok(ms >= limits.handshakeTimeoutMs - 20 && ms < limits.handshakeTimeoutMs + 2000, `no TLS ClientHello: closed after ${ms} ms`);
  const tlsSilent = await playScript({ port: rtmp.rtmpsPort, tls: true, writes: [], close: 'linger', deadlineMs: 5000 });
  t.equal(tlsSilent.end, 'server', 'TLS up, no RTMP: closed by the edge');
  t.ok(tlsSilent.ms < limits.handshakeTimeoutMs + 2000);

  const bytes = flat(publishSession(rng(12), { app: 'live', name: rtmp.publishName('tls-console'), tcUrl: rtmp.tcUrl }));
  const session = playScript({ port: rtmp.rtmpsPort, tls: true, writes: [bytes], close: 'linger', deadlineMs: 10_000 });
  await eventually(() => rtmp.edge.pipelines.get('tls-console'), 10_000, 'the RTMPS publish reaching the edge');
  t.equal((await session).end, 'server', 'then idle: closed after idleTimeoutMs');
  const m = await rtmpMetrics(rtmp.edge);
  t.equal(m.dropped.handshake_timeout, 2);
  t.equal(m.dropped.idle_timeout, 1);
  await eventually(() => (rtmp.edge.pipelines.size === 0 ? true : undefined), 10_000, 'its pipeline ended');
  await eventually(async () => ((await rtmpMetrics(rtmp.edge)).connections === 0 && (await tcpConnections(rtmp.rtmpsPort)) === 0 ? true : undefined), 2000, 'no connections left');
});
