// Annotation relay over the origin's WebSocket, the same tests against the in-process hub and a
// real redis-server: exactly once and in order across forced reconnects, roles enforced on the
// server (from each viewer's token, never from what it says), and two origin processes sharing
// one Redis (and one signing key).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import type { Annotation, AnnotationEvent } from '../lib/annotations.js';
import { freePort, waitForPort } from '../lib/net.js';
import type { TokenRole } from '../lib/security/tokens.js';
import type { ServerMessage } from '../lib/ws-protocol.js';
import { build } from '../origin/index.js';
import { TEST_INGEST_KEY, testAuthConfig, testSecurity, withToken } from './helpers/auth.js';
import { startRedis, type RedisServer } from './helpers/redis.js';
import { eventually } from './helpers/stack.js';

interface Peer {
  socket: WebSocket;
  messages: ServerMessage[];
  send: (m: unknown) => void;
  closed: Promise<void>;
}

async function peer(url: string, hello: Record<string, unknown>): Promise<Peer> {
  const socket = new WebSocket(url);
  const messages: ServerMessage[] = [];
  socket.on('message', (d) => messages.push(JSON.parse(d.toString()) as ServerMessage));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const send = (m: unknown): void => socket.send(JSON.stringify(m));
  send({ type: 'hello', ...hello });
  return { socket, messages, send, closed };
}

/** A viewer's socket URL for a stream, with a token of that role for it (?token=, as pages send it). */
const socketUrl = (base: string, stream: string, role: TokenRole): string => withToken(`${base}/ws/${stream}`, role, stream);

const arrow = (id: string, mediaTime: number): Annotation => ({ kind: 'arrow', id, mediaTime, from: [0.1, 0.1], to: [0.5, 0.5] });
const events = (p: Peer): AnnotationEvent[] => p.messages.flatMap((m) => (m.type === 'annotation' ? [m.event] : []));

/** A viewer that reconnects with hello.since = the last seq it saw, like the pages do. */
class ResumingViewer {
  readonly seen: AnnotationEvent[] = [];
  #peer: Peer | null = null;
  readonly #url: string;
  constructor(url: string) {
    this.#url = url;
  }
  async connect(): Promise<void> {
    const since = this.seen.at(-1)?.seq ?? 0;
    const p = await peer(this.#url, { role: 'trainee', since });
    p.socket.on('message', (d) => {
      const m = JSON.parse(d.toString()) as ServerMessage;
      if (m.type === 'annotation') this.seen.push(m.event);
    });
    this.#peer = p;
  }
  /** Drop the connection abruptly (no close handshake), as a network cut would. */
  async cut(): Promise<void> {
    const p = this.#peer!;
    p.socket.terminate();
    await p.closed;
  }
  close(): void {
    this.#peer?.socket.close();
  }
}

async function relayTests(t: Test, redis: RedisServer | null): Promise<void> {
  const o = await build({ http: { host: '127.0.0.1', port: 0 }, ingest: { keys: [TEST_INGEST_KEY] }, redisUrl: redis?.url ?? '', recordings: { enabled: false }, ...testSecurity(t), logLevel: 'silent' });
  const base = (await o.app.listen({ host: '127.0.0.1', port: 0 })).replace(/^http/, 'ws');
  t.teardown(() => o.close());
  const stream = `case${redis ? 'r' : 'l'}`;

  await t.test('1,000 annotations across two forced reconnects arrive exactly once, in order', async (t) => {
    const viewer = new ResumingViewer(socketUrl(base, stream, 'trainee'));
    await viewer.connect();
    // Eight drawers in parallel (each stays under the per-socket rate limit); seq is the order.
    const drawers = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(() => peer(socketUrl(base, stream, 'expert'), { role: 'expert' })));
    const sent: string[] = [];
    const draw = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i += drawers.length) {
        await Promise.all(drawers.map(async (d, k) => {
          const id = `a${i + k}`;
          sent.push(id);
          d.send({ type: 'annotate', annotation: arrow(id, 1_800_000_000_000 + i + k) });
        }));
        await new Promise((r) => setTimeout(r, 25)); // one per 25 ms per drawer: 40/s each
      }
    };
    await draw(0, 296);
    await viewer.cut();
    await draw(296, 600); // drawn while the viewer is away
    await viewer.connect();
    await draw(600, 808);
    await viewer.cut();
    await viewer.connect(); // straight back
    await draw(808, 1000);
    await eventually(() => (viewer.seen.length >= 1000 ? true : undefined), 20_000, '1,000 annotations at the viewer');
    await new Promise((r) => setTimeout(r, 300)); // anything extra would show up now
    const seqs = viewer.seen.map((e) => e.seq);
    t.equal(viewer.seen.length, 1000, 'exactly 1,000 (no repeats)');
    t.same(seqs, [...seqs].sort((a, b) => a - b), 'in seq order');
    t.equal(new Set(seqs).size, 1000, 'no seq twice');
    t.equal(seqs.at(-1)! - seqs[0]! + 1, 1000, 'no gaps');
    t.same(new Set(viewer.seen.map((e) => e.annotation.id)), new Set(sent), 'every drawing arrived');
    t.ok(viewer.seen.every((e) => e.role === 'expert' && e.stream === stream));
    // Each drawer's own annotations keep their sending order.
    const firstDrawer = viewer.seen.filter((e) => e.author === viewer.seen[0]!.author).map((e) => Number(e.annotation.id.slice(1)));
    t.same(firstDrawer, [...firstDrawer].sort((a, b) => a - b), "one drawer's annotations in its order");
    viewer.close();
    for (const d of drawers) d.socket.close();
  });

  await t.test('a trainee token may not draw, whatever hello says: refused, connection kept; a surgeon token may', async (t) => {
    const room = `${stream}-2`;
    const trainee = await peer(socketUrl(base, room, 'trainee'), { role: 'trainee' });
    const watcher = await peer(socketUrl(base, room, 'trainee'), { role: 'trainee' });
    trainee.send({ type: 'annotate', annotation: arrow('nope', 1) });
    const refused = await eventually(() => trainee.messages.find((m) => m.type === 'refused'), 3000, 'a refusal');
    t.match(refused, { type: 'refused', code: 'SC_ERR_FORBIDDEN', id: 'nope' });
    t.equal(trainee.socket.readyState, WebSocket.OPEN, 'the trainee keeps watching');
    // Saying "expert" gains nothing: the role is the token's.
    const claims = await peer(socketUrl(base, room, 'trainee'), { role: 'expert' });
    claims.send({ type: 'annotate', annotation: arrow('claimed', 1) });
    t.match(await eventually(() => claims.messages.find((m) => m.type === 'refused'), 3000, 'a refusal'), { code: 'SC_ERR_FORBIDDEN', id: 'claimed' });
    const unnamed = await peer(socketUrl(base, room, 'trainee'), {});
    unnamed.socket.send(JSON.stringify({ type: 'annotate', annotation: arrow('x', 1) }));
    const surgeon = await peer(socketUrl(base, room, 'surgeon'), { role: 'surgeon' });
    surgeon.send({ type: 'annotate', annotation: { kind: 'text', id: 'lbl', mediaTime: 5, at: [0.2, 0.8], text: 'bleeding here' } });
    const got = await eventually(() => (events(watcher).length > 0 ? events(watcher) : undefined), 5000, "the surgeon's label");
    t.equal(got.length, 1, "only the surgeon's drawing was relayed");
    t.match(got[0], { role: 'surgeon', annotation: { kind: 'text', text: 'bleeding here' } });
    for (const p of [trainee, watcher, claims, unnamed, surgeon]) p.socket.close();
  });
}

t.test('in-process hub', async (t) => relayTests(t, null));

t.test('Redis hub (real redis-server)', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  await relayTests(t, redis);
});

t.test('two origin processes with one Redis both deliver to their viewers, in one order', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const dir = mkdtempSync(join(tmpdir(), 'scopecast-origins-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = fileURLToPath(new URL('../bin/origin.ts', import.meta.url));
  const origins: Array<{ child: ChildProcess; ws: string }> = [];
  for (const name of ['a', 'b']) {
    const port = await freePort();
    const config = join(dir, `${name}.json`);
    // One signing key for both: a token works on whichever origin the load balancer picks.
    writeFileSync(
      config,
      JSON.stringify({
        http: { host: '127.0.0.1', port },
        ingest: { keys: [TEST_INGEST_KEY] },
        redisUrl: redis.url,
        recordings: { dir: join(dir, name) },
        auth: testAuthConfig(),
        audit: { file: join(dir, `${name}-audit.jsonl`) },
        logLevel: 'warn',
      }),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script, '--config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
    t.teardown(async () => {
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
    });
    await waitForPort('127.0.0.1', port, 30_000);
    origins.push({ child, ws: `ws://127.0.0.1:${port}` });
  }
  const a = origins[0]!;
  const b = origins[1]!;
  const onA = await peer(socketUrl(a.ws, 'shared', 'trainee'), { role: 'trainee' });
  const onB = await peer(socketUrl(b.ws, 'shared', 'trainee'), { role: 'trainee' });
  const expertA = await peer(socketUrl(a.ws, 'shared', 'expert'), { role: 'expert' });
  const expertB = await peer(socketUrl(b.ws, 'shared', 'expert'), { role: 'expert' });
  await new Promise((r) => setTimeout(r, 300)); // both origins' readers in place
  for (let i = 0; i < 20; i++) {
    (i % 2 ? expertB : expertA).send({ type: 'annotate', annotation: arrow(`x${i}`, 1_800_000_000_000 + i) });
  }
  await eventually(() => (events(onA).length >= 20 && events(onB).length >= 20 ? true : undefined), 10_000, '20 annotations on both origins');
  const ids = (p: Peer): string[] => events(p).map((e) => `${e.seq}:${e.annotation.id}`);
  t.equal(events(onA).length, 20);
  t.same(ids(onA), ids(onB), 'both origins deliver the same events in the same order');
  t.same(new Set(events(onA).map((e) => e.author)).size, 2, 'drawn on both origins');
  for (const p of [onA, onB, expertA, expertB]) p.socket.close();
});

// Regression: a stream's blocking reader is a duplicate connection, which inherits no listeners;
// with Redis gone every reconnect attempt printed "[ioredis] Unhandled error event" to stderr.
t.test('Redis down: the per-stream reader reports errors through onError, not as unhandled', async (t) => {
  const { RedisAnnotationHub } = await import('../origin/annotations/redis-hub.js');
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const errors: string[] = [];
  const hub = new RedisAnnotationHub({ url: redis.url, onError: (err) => errors.push(err.message) });
  t.teardown(() => hub.close());
  const off = hub.subscribe('reader1', () => undefined);
  t.teardown(off);
  await hub.ready('reader1');
  const written: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void written.push(args.map(String).join(' '));
  try {
    await redis.kill();
    await eventually(() => (errors.length >= 2 ? true : undefined), 10_000, 'errors reported through onError');
  } finally {
    console.error = original;
  }
  t.same(written.filter((line) => line.includes('Unhandled error event')), [], 'nothing unhandled on stderr');
});
