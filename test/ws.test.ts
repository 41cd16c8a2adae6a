// The origin's WebSocket over a real socket: clock sync against the origin, latency reports into
// /api/status and /metrics, an edge's clock offset applied to its stamps, and hostile frames.
// Viewers carry their token in the URL (?token=, as browsers must); edges their ingest key.
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { ClockSync } from '../lib/clock-sync.js';
import type { ServerMessage } from '../lib/ws-protocol.js';
import { build, type OriginApp } from '../origin/index.js';
import { bearer, scrapeHeaders, testSecurity, withToken } from './helpers/auth.js';
import { cmafFixture } from './helpers/fixtures.js';
import { eventually } from './helpers/stack.js';

const KEY = 'ws-test-ingest-key-0123456789';
/** The edge's credential on the upgrade of /ws. */
const EDGE = { 'x-scopecast-ingest-key': KEY };

async function origin(t: Test): Promise<{ o: OriginApp; url: string; ws: string }> {
  const o = await build({ http: { host: '127.0.0.1', port: 0 }, ingest: { keys: [KEY] }, recordings: { enabled: false }, ...testSecurity(t), logLevel: 'silent' });
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

async function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const socket = new WebSocket(url, { headers });
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
  const c = await connect(withToken(`${ws}/ws/endo`, 'trainee', 'endo'));
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
  // The role comes from the token; hello only names it (and could only narrow it).
  const c = await connect(withToken(`${ws}/ws/endo`, 'expert', 'endo'));
  c.send({ type: 'hello', role: 'expert' });
  for (const ms of [120, 140, 160]) c.send({ type: 'report', path: 'webrtc', latencyMs: ms });
  const status = await eventually(async () => {
    const s = (await (await fetch(`${url}/api/status`, { headers: bearer('admin') })).json()) as { streams: Array<{ stream: string; viewerList: Array<{ role: string; latencyMs: number }>; history: unknown[] }> };
    const endo = s.streams.find((x) => x.stream === 'endo');
    return endo?.viewerList[0]?.latencyMs === 160 ? endo : undefined;
  }, 3000, 'the report in /api/status');
  t.equal(status.viewerList[0]!.role, 'expert');
  t.ok(status.history.length >= 1);
  const metrics = await (await fetch(`${url}/metrics`, { headers: scrapeHeaders() })).text();
  t.match(metrics, /scopecast_latency_seconds_count\{stream="endo",path="webrtc",hop="end_to_end"\} 3/);
  t.match(metrics, /scopecast_viewers\{stream="endo",path="webrtc"\} 1/);
  t.ok(fragments.length > 0);
  c.socket.close();
  await eventually(async () => {
    const s = (await (await fetch(`${url}/api/status`, { headers: bearer('admin') })).json()) as { streams: Array<{ viewerList: unknown[] }> };
    return s.streams[0]?.viewerList.length === 0 ? true : undefined;
  }, 3000, 'the viewer gone');
});

t.test('a viewer is what its token says: saying another role in hello changes nothing', async (t) => {
  const { url, ws } = await origin(t);
  const c = await connect(withToken(`${ws}/ws/endo`, 'trainee', 'endo'));
  t.teardown(() => c.socket.close());
  c.send({ type: 'hello', role: 'expert' });
  c.send({ type: 'report', path: 'llhls', latencyMs: 700 });
  const status = await eventually(async () => {
    const s = (await (await fetch(`${url}/api/status`, { headers: bearer('admin') })).json()) as { streams: Array<{ stream: string; viewerList: Array<{ role: string; latencyMs: number | null }> }> };
    const endo = s.streams.find((x) => x.stream === 'endo');
    return endo?.viewerList[0]?.latencyMs === 700 ? endo : undefined;
  }, 3000, 'the report in /api/status');
  t.equal(status.viewerList[0]!.role, 'trainee', 'a trainee token saying "expert" is still a trainee');
  t.equal((await fetch(`${url}/api/status`, { headers: bearer('expert', 'endo') })).status, 403, '/api/status is for admins');
});

t.test('the upgrade is refused without the right credential: no socket opens', async (t) => {
  const { ws } = await origin(t);
  const refused = async (url: string, headers: Record<string, string> = {}): Promise<number> => {
    const socket = new WebSocket(url, { headers });
    return new Promise<number>((resolve, reject) => {
      socket.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        socket.terminate();
      });
      socket.once('open', () => reject(new Error(`${url}: opened`)));
      socket.on('error', () => {});
    });
  };
  t.equal(await refused(`${ws}/ws/endo`), 401, 'viewer without a token');
  t.equal(await refused(withToken(`${ws}/ws/endo`, 'trainee', 'other')), 403, "another stream's token");
  t.equal(await refused(withToken(`${ws}/ws/endo`, 'publisher', 'endo')), 403, 'a publisher token is not a viewer');
  t.equal(await refused(`${ws}/ws`), 401, 'edge link without its key');
  t.equal(await refused(`${ws}/ws`, { 'x-scopecast-ingest-key': 'wrong-key-0123456789' }), 401, 'edge link with a wrong key');
  t.equal(await refused(withToken(`${ws}/ws`, 'admin', '*')), 401, 'a user token does not open the edge link');
});

t.test("an edge's measured offset moves its stamps onto the origin clock (PROGRAM-DATE-TIME)", async (t) => {
  const { o, ws } = await origin(t);
  const { init, fragments } = cmafFixture('av.cmaf');
  const pdt = async (stream: string, edge: string): Promise<number> => {
    const headers = { 'x-scopecast-ingest-key': KEY, 'content-type': 'application/octet-stream', 'x-scopecast-edge': edge };
    await o.app.inject({ method: 'PUT', url: `/ingest/${stream}/main/init`, headers, payload: init });
    await o.app.inject({ method: 'POST', url: `/ingest/${stream}/main/fragment`, headers, payload: fragments[0]! });
    const body = (await o.app.inject({ url: `/hls/${stream}/main/stream.m3u8`, headers: bearer('trainee', stream) })).body;
    return Date.parse(/#EXT-X-PROGRAM-DATE-TIME:(\S+)/.exec(body)![1]!);
  };
  const edge = await connect(`${ws}/ws`, EDGE);
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
  const open = (path: string): Promise<Client> => (path === '/ws' ? connect(`${ws}${path}`, EDGE) : connect(withToken(`${ws}${path}`, 'trainee', 'endo')));
  for (const [path, message, why] of cases) {
    const c = await open(path);
    c.send(message);
    const { code, reason } = await c.closed;
    t.equal(code, 1008, `${JSON.stringify(message).slice(0, 60)} -> 1008`);
    t.match(reason, why);
    t.ok(c.messages.some((m) => m.type === 'error' && m.code === 'SC_ERR_WS_MESSAGE'), 'error message sent before the close');
  }
  const big = await open('/ws/endo');
  big.send(JSON.stringify({ type: 'report', path: 'llhls', latencyMs: 1, pad: 'x'.repeat(70 * 1024) }));
  t.equal((await big.closed).code, 1009, 'over 64 KiB: closed as too big');
  const binary = await open('/ws/endo');
  binary.socket.send(Buffer.from([1, 2, 3]));
  t.match((await binary.closed).reason, /binary/);
  const flood = await open('/ws/endo');
  for (let i = 0; i < 150; i++) flood.send({ type: 'ping', id: i, t0: 1 });
  t.match((await flood.closed).reason, /messages per second/);
  // A token for every stream gets past the scope check to the name check.
  const badName = await connect(withToken(`${ws}/ws/..%2Fetc`, 'trainee', '*'));
  t.equal((await badName.closed).code, 1008);
  t.equal((await o.app.inject({ url: '/healthz' })).statusCode, 200, 'origin unharmed');
});

t.test('close() ends every client socket and the heartbeat timers', async (t) => {
  const { o, ws } = await origin(t);
  const clients = await Promise.all([1, 2, 3].map(() => connect(withToken(`${ws}/ws/endo`, 'trainee', 'endo'))));
  const edge = await connect(`${ws}/ws`, EDGE);
  await o.close();
  const codes = await Promise.all([...clients, edge].map((c) => c.closed));
  t.equal(codes.length, 4, 'all four sockets closed by the origin');
  await o.close();
  t.pass('close() twice is fine');
});
