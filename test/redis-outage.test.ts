// Redis killed and restarted with media flowing: the origin keeps serving LL-HLS parts the whole
// time, /healthz says "degraded" while Redis is away and "ok" again once it is back, and shared
// annotations work again after the restart — all without touching the origin.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import WebSocket from 'ws';
import { freePort } from '../lib/net.js';
import { build as buildOrigin } from '../origin/index.js';
import { TEST_INGEST_KEY, bearer, testAuthConfig, testToken } from './helpers/auth.js';
import { startRedis } from './helpers/redis.js';
import { eventually, publishTestSource } from './helpers/stack.js';
import { newestPart, startTestEdge } from './helpers/tiers.js';

t.test('media keeps flowing through a Redis outage; health degrades and recovers', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const dir = mkdtempSync(join(tmpdir(), 'scopecast-redis-outage-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const origin = await buildOrigin({
    http: { host: '127.0.0.1', port: 0 },
    ingest: { keys: [TEST_INGEST_KEY] },
    recordings: { dir: join(dir, 'recordings') },
    webrtc: { enabled: false },
    auth: testAuthConfig(),
    audit: { file: join(dir, 'origin-audit.jsonl') },
    redisUrl: redis.url,
    logLevel: 'silent',
  });
  t.teardown(() => origin.close());
  const originUrl = await origin.app.listen({ host: '127.0.0.1', port: 0 });
  const rtmpPort = await freePort();
  const edge = await startTestEdge(dir, originUrl, rtmpPort);
  t.teardown(() => edge.close());
  const stream = 'redisout1';
  const publisher = publishTestSource(`rtmp://127.0.0.1:${rtmpPort}/live/${stream}?token=${testToken('publisher', stream)}`, { size: '320x180' });
  t.teardown(() => publisher.close());

  const viewer = bearer('trainee', stream);
  const livePart = (): Promise<number | undefined> => newestPart(originUrl, stream, viewer);
  const health = async (): Promise<{ status: string; redis: string }> => (await (await fetch(`${originUrl}/healthz`)).json()) as { status: string; redis: string };

  await eventually(livePart, 30_000, 'stream live on LL-HLS');
  await eventually(async () => ((await health()).status === 'ok' ? true : undefined), 10_000, 'healthy with Redis');
  t.same(await health(), { status: 'ok', tier: 'origin', redis: 'up' }, 'health: ok, redis up');

  await redis.kill();
  const before = (await livePart())!;
  await eventually(async () => ((await health()).status === 'degraded' ? true : undefined), 10_000, 'health degrades');
  t.match(await health(), { status: 'degraded', redis: 'down' }, 'health: degraded while Redis is down');
  // Parts keep coming while Redis is away (one every 200 ms).
  const during = await eventually(async () => {
    const n = await livePart();
    return n !== undefined && n >= before + 10 ? n : undefined;
  }, 15_000, 'new parts during the outage');
  t.ok(during >= before + 10, `LL-HLS kept going during the outage (part ${before} -> ${during})`);

  await redis.start();
  await eventually(async () => ((await health()).status === 'ok' ? true : undefined), 20_000, 'health recovers');
  t.pass('health back to ok after Redis returns (no restart of the origin)');

  // Shared annotations work again: an expert's drawing reaches a trainee through Redis.
  const socket = (role: 'expert' | 'trainee'): Promise<{ ws: WebSocket; messages: Array<Record<string, unknown>> }> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`${originUrl.replace('http', 'ws')}/ws/${stream}?token=${testToken(role, stream)}`);
      const messages: Array<Record<string, unknown>> = [];
      ws.on('message', (d) => messages.push(JSON.parse(d.toString()) as Record<string, unknown>));
      ws.once('open', () => resolve({ ws, messages }));
      ws.once('error', reject);
    });
  const expert = await socket('expert');
  const trainee = await socket('trainee');
  t.teardown(() => {
    expert.ws.close();
    trainee.ws.close();
  });
  trainee.ws.send(JSON.stringify({ type: 'hello', role: 'trainee', since: 0 }));
  await new Promise((r) => setTimeout(r, 500));
  expert.ws.send(JSON.stringify({ type: 'annotate', annotation: { kind: 'arrow', id: 'after-outage', mediaTime: Date.now(), from: [0.1, 0.1], to: [0.5, 0.5] } }));
  const got = await eventually(() => trainee.messages.find((m) => m.type === 'annotation'), 10_000, 'the drawing after the outage');
  t.match(got, { type: 'annotation', event: { annotation: { id: 'after-outage' } } }, 'annotations relayed through Redis again');
});
