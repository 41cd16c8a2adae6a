// The origin's WebSocket over a real socket: clock sync against the origin, latency reports into
// /api/status and /metrics, an edge's clock offset applied to its stamps, and hostile frames.
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { ClockSync } from '../lib/clock-sync.js';
import type { ServerMessage } from '../lib/ws-protocol.js';
import { build, type OriginApp } from '../origin/index.js';
import { cmafFixture } from './helpers/fixtures.js';
import { eventually } from './helpers/stack.js';

const KEY = 'ws-test-ingest-key-0123456789';

async function origin(t: Test): Promise<{ o: OriginApp; url: string; ws: string }> {
  const o = await build({ http: { host: '127.0.0.1', port: 0 }, ingest: { keys: [KEY] }, recordings: { enabled: false }, logLevel: 'silent' });
  const url = await o.app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => o.close());
  return { o, url, ws: url.replace(/^http/, 'ws') };
}

interface Client {
  socket: WebSocket;
  messages: ServerMessage[];
  closed: Promise<{ code: number; reason: string }>;
  send: (m: unknown) => void;
}

async function connect(url: string): Promise<Client> {
  const socket = new WebSocket(url);
  const messages: ServerMessage[] = [];
  socket.on('message', (d) => messages.push(JSON.parse(d.toString()) as ServerMessage));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return { socket, messages, closed, send: (m) => socket.send(typeof m === 'string' ? m : JSON.stringify(m)) };
}

t.test('clock sync against the origin over the socket: same machine, offset ~0', async (t) => {
  const { ws } = await origin(t);
  const c = await connect(`${ws}/ws/endo`);
  t.teardown(() => c.socket.close());
  await eventually(() => (c.messages.some((m) => m.type === 'welcome') ? true : undefined), 2000, 'welcome');
  const sync = new ClockSync({ send: (p) => c.send(p), burstGapMs: 10 });
  c.socket.on('message', (d) => {
    const m = JSON.parse(d.toString()) as ServerMessage;
    if (m.type === 'pong') sync.onPong(m);
  });
  sync.start();
  t.teardown(() => sync.destroy());
  await eventually(() => (sync.synced && (sync.rttMs ?? 99) < 50 ? true : undefined), 5000, 'a synced clock');
  await new Promise((r) => setTimeout(r, 300));
  // One clock on both ends: whatever the estimate says is its error (ms resolution on the server).
  t.ok(Math.abs(sync.offsetMs) <= 5, `offset ${sync.offsetMs.toFixed(2)} ms, rtt ${sync.rttMs?.toFixed(2)} ms`);
});

t.test('reports reach /api/status and the latency histogram; leaving removes the viewer', async (t) => {
  const { o, url, ws } = await origin(t);
  const { init, fragments } = cmafFixture('av.cmaf');
  const headers = { 'x-scopecast-ingest-key': KEY, 'content-type': 'application/octet-stream', 'x-scopecast-edge': 'edge-a' };
  t.equal((await o.app.inject({ method: 'PUT', url: '/ingest/endo/main/init', headers, payload: init })).statusCode, 201);
  const c = await connect(`${ws}/ws/endo`);
  c.send({ type: 'hello', role: 'expert' });
  for (const ms of [120, 140, 160]) c.send({ type: 'report', path: 'webrtc', latencyMs: ms });
  const status = await eventually(async () => {
    const s = (await (await fetch(`${url}/api/status`)).json()) as { streams: Array<{ stream: string; viewerList: Array<{ role: string; latencyMs: number }>; history: unknown[] }> };
    const endo = s.streams.find((x) => x.stream === 'endo');
    return endo?.viewerList[0]?.latencyMs === 160 ? endo : undefined;
  }, 3000, 'the report in /api/status');
  t.equal(status.viewerList[0]!.role, 'expert');
  t.ok(status.history.length >= 1);
  const metrics = await (await fetch(`${url}/metrics`)).text();
  t.match(metrics, /scopecast_latency_seconds_count\{stream="endo",path="webrtc",hop="end_to_end"\} 3/);
  t.match(metrics, /scopecast_viewers\{stream="endo",path="webrtc"\} 1/);
  t.ok(fragments.length > 0);
  c.socket.close();
  await eventually(async () => {
    const s = (await (await fetch(`${url}/api/status`)).json()) as { streams: Array<{ viewerList: unknown[] }> };
    return s.streams[0]?.viewerList.length === 0 ? true : undefined;
  }, 3000, 'the viewer gone');
});

t.test("an edge's measured offset moves its stamps onto the origin clock (PROGRAM-DATE-TIME)", async (t) => {
  const { o, ws } = await origin(t);
  const { init, fragments } = cmafFixture('av.cmaf');
  const pdt = async (stream: string, edge: string): Promise<number> => {
    const headers = { 'x-scopecast-ingest-key': KEY, 'content-type': 'application/octet-stream', 'x-scopecast-edge': edge };
    await o.app.inject({ method: 'PUT', url: `/ingest/${stream}/main/init`, headers, payload: init });
    await o.app.inject({ method: 'POST', url: `/ingest/${stream}/main/fragment`, headers, payload: fragments[0]! });
    const body = (await o.app.inject({ url: `/hls/${stream}/main/stream.m3u8` })).body;
    return Date.parse(/#EXT-X-PROGRAM-DATE-TIME:(\S+)/.exec(body)![1]!);
  };
  const edge = await connect(`${ws}/ws`);
  t.teardown(() => edge.socket.close());
  edge.send({ type: 'hello', role: 'edge', edgeId: 'slow-clock' });
  edge.send({ type: 'offset', offsetMs: 2500, rttMs: 3 });
  await new Promise((r) => setTimeout(r, 100));
  const plain = await pdt('a', 'other-edge');
  const corrected = await pdt('b', 'slow-clock');
  t.equal(corrected - plain, 2500, 'same fragment, stamped 2.5 s later for the edge whose clock is 2.5 s behind');
});

t.test('hostile frames get a clear error and a close, never a crash', async (t) => {
  const { o, ws } = await origin(t);
  const cases: Array<[string, unknown, RegExp]> = [
    ['/ws/endo', 'not json', /not JSON/],
    ['/ws/endo', [1, 2], /not a JSON object/],
    ['/ws/endo', { type: 'launch' }, /unknown message type/],
    ['/ws/endo', { type: 'report', path: 'smoke', latencyMs: 1 }, /path must be/],
    ['/ws/endo', { type: 'report', path: 'llhls', latencyMs: 'fast' }, /latencyMs/],
    ['/ws/endo', { type: 'report', path: 'llhls', latencyMs: 5, extra: 1 }, /unknown field/],
    ['/ws/endo', { type: 'hello', role: 'edge', edgeId: 'x' }, /edges connect to \/ws/],
    ['/ws/endo', { type: 'offset', offsetMs: 1, rttMs: 1 }, /offset is for edges/],
    ['/ws', { type: 'hello', role: 'expert' }, /viewers connect to/],
    ['/ws', { type: 'hello', role: 'edge', edgeId: '../../etc' }, /edgeId must match/],
    ['/ws', { type: 'edge-stats', stream: 'x', speed: 1, fps: 30, droppedFrames: 0, duplicatedFrames: 0, encodeMs: { llhls: 1, webrtc: 1 } }, /edge-stats is for edges/],
    ['/ws', { type: 'report', path: 'llhls', latencyMs: 5 }, /reports belong on/],
  ];
  for (const [path, message, why] of cases) {
    const c = await connect(`${ws}${path}`);
    c.send(message);
    const { code, reason } = await c.closed;
    t.equal(code, 1008, `${JSON.stringify(message).slice(0, 60)} -> 1008`);
    t.match(reason, why);
    t.ok(c.messages.some((m) => m.type === 'error' && m.code === 'SC_ERR_WS_MESSAGE'), 'error message sent before the close');
  }
  const big = await connect(`${ws}/ws/endo`);
  big.send(JSON.stringify({ type: 'report', path: 'llhls', latencyMs: 1, pad: 'x'.repeat(70 * 1024) }));
  t.equal((await big.closed).code, 1009, 'over 64 KiB: closed as too big');
  const binary = await connect(`${ws}/ws/endo`);
  binary.socket.send(Buffer.from([1, 2, 3]));
  t.match((await binary.closed).reason, /binary/);
  const flood = await connect(`${ws}/ws/endo`);
  for (let i = 0; i < 150; i++) flood.send({ type: 'ping', id: i, t0: 1 });
  t.match((await flood.closed).reason, /messages per second/);
  const badName = await connect(`${ws}/ws/..%2Fetc`);
  t.equal((await badName.closed).code, 1008);
  t.equal((await o.app.inject({ url: '/healthz' })).statusCode, 200, 'origin unharmed');
});

t.test('close() ends every client socket and the heartbeat timers', async (t) => {
  const { o, ws } = await origin(t);
  const clients = await Promise.all([1, 2, 3].map(() => connect(`${ws}/ws/endo`)));
  const edge = await connect(`${ws}/ws`);
  await o.close();
  const codes = await Promise.all([...clients, edge].map((c) => c.closed));
  t.equal(codes.length, 4, 'all four sockets closed by the origin');
  await o.close();
  t.pass('close() twice is fine');
});
