// Two origins on one Redis: a stream pushed by its edge to origin A is listed on B and watchable
// there (B pulls it from A on the first viewer's request), LL-HLS on B carries A's clock stamps,
// a WHEP viewer on B gets frames, each origin's viewers show in the shared counts, B records
// nothing (A records the case once), the end reaches B's viewers, and close() leaves nothing.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { freePort } from '../lib/net.js';
import { build as buildOrigin, type OriginApp } from '../origin/index.js';
import type { EdgeApp } from '../edge/index.js';
import type { FfmpegProcess } from '../codecs/ffmpeg/index.js';
import { WhepClient } from '../loadtest/whep-client.js';
import { LlHlsClient } from '../loadtest/llhls-client.js';
import { FaultProxy } from '../loadtest/fault-proxy.js';
import { TEST_INGEST_KEY, bearer, testAuthConfig, testToken } from './helpers/auth.js';
import { startRedis, type RedisServer } from './helpers/redis.js';
import { eventually, publishTestSource } from './helpers/stack.js';
import { newestPart, startTestEdge } from './helpers/tiers.js';

async function startOrigin(
  dir: string,
  id: string,
  redisUrl: string,
  advertise?: (url: string) => Promise<string>,
  hls: Record<string, unknown> = {},
): Promise<{ origin: OriginApp; url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const advertiseUrl = advertise ? await advertise(url) : url;
  const origin = await buildOrigin({
    http: { host: '127.0.0.1', port },
    ingest: { keys: [TEST_INGEST_KEY] },
    hls,
    recordings: { dir: join(dir, `${id}-recordings`) },
    webrtc: { interfaceAddress: '127.0.0.1', additionalHostAddresses: ['127.0.0.1'] },
    auth: testAuthConfig(),
    audit: { file: join(dir, `${id}-audit.jsonl`) },
    redisUrl,
    cluster: { id, advertiseUrl, heartbeatSeconds: 0.5, pullIdleSeconds: 3 },
    logLevel: 'silent',
  });
  await origin.app.listen({ host: '127.0.0.1', port });
  return { origin, url };
}

/** Every PROGRAM-DATE-TIME in a media playlist, by part URI's neighbour segment. */
async function programDateTimes(url: string, stream: string, headers: Record<string, string>): Promise<string[]> {
  const media = await (await fetch(`${url}/hls/${stream}/main/stream.m3u8`, { headers })).text();
  return [...media.matchAll(/#EXT-X-PROGRAM-DATE-TIME:(\S+)/g)].map((m) => m[1]!);
}

interface Cluster {
  redis: RedisServer;
  a: { origin: OriginApp; url: string };
  b: { origin: OriginApp; url: string };
  edge: EdgeApp;
  publisher: FfmpegProcess;
  /** Where recordings and audit files of this cluster go. */
  dir: string;
  /** Viewer headers with a trainee token for the stream. */
  trainee: Record<string, string>;
}

/**
 * Redis, origins A and B on it, an edge pushing to A and a test source publishing `stream`,
 * live on A when this returns; everything is closed by the test's teardown.
 */
async function startCluster(
  t: Test,
  stream: string,
  options: { advertiseA?: (url: string) => Promise<string>; hlsB?: Record<string, unknown> } = {},
): Promise<Cluster> {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const dir = mkdtempSync(join(tmpdir(), 'scopecast-multi-origin-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const a = await startOrigin(dir, 'origin-a', redis.url, options.advertiseA);
  t.teardown(() => a.origin.close());
  const b = await startOrigin(dir, 'origin-b', redis.url, undefined, options.hlsB);
  t.teardown(() => b.origin.close());
  const rtmpPort = await freePort();
  const edge = await startTestEdge(dir, a.url, rtmpPort);
  t.teardown(() => edge.close());
  const publisher = publishTestSource(`rtmp://127.0.0.1:${rtmpPort}/live/${stream}?token=${testToken('publisher', stream)}`, { size: '320x180' });
  t.teardown(() => publisher.close());
  const trainee = bearer('trainee', stream);
  await eventually(() => newestPart(a.url, stream, trainee), 30_000, 'stream live on origin A');
  return { redis, a, b, edge, publisher, dir, trainee };
}

t.test('a stream ingested on origin A plays on origin B; counts shared; end reaches B', async (t) => {
  const stream = 'multi1';
  const { a, b, trainee, publisher, dir } = await startCluster(t, stream);
  const listed = await eventually(async () => {
    const body = (await (await fetch(`${b.url}/api/streams`, { headers: bearer('admin') })).json()) as { streams: Array<{ name: string; relayedFrom: string | null }> };
    return body.streams.find((s) => s.name === stream);
  }, 10_000, 'origin B lists the stream');
  t.equal(listed.relayedFrom, 'origin-a', 'origin B lists the stream as held by origin A');
  t.notOk(b.origin.registry.get(stream), 'B pulls nothing before a viewer asks');

  // The first viewer on B: the master playlist request starts the pull and waits for media.
  const master = await fetch(`${b.url}/hls/${stream}/index.m3u8`, { headers: trainee });
  t.equal(master.status, 200, 'master playlist on B');
  t.equal(b.origin.registry.get(stream)?.relayedFrom, 'origin-a', 'B holds a pulled copy');
  const firstOnB = await eventually(() => newestPart(b.url, stream, trainee), 10_000, 'parts on B');
  const later = await eventually(async () => {
    const n = await newestPart(b.url, stream, trainee);
    return n !== undefined && n >= firstOnB + 10 ? n : undefined;
  }, 15_000, 'B keeps getting parts');
  t.ok(later >= firstOnB + 10, `B's playlist grows (part ${firstOnB} -> ${later})`);
  // Same clock stamps: B's segments carry A's PROGRAM-DATE-TIMEs (latency is measured end to end).
  const onA = new Set(await programDateTimes(a.url, stream, trainee));
  const onB = await programDateTimes(b.url, stream, trainee);
  const shared = onB.filter((pdt) => onA.has(pdt));
  t.ok(shared.length >= 2, `B's PROGRAM-DATE-TIMEs are A's (${shared.length} of ${onB.length} segments match)`);
  const part = await fetch(`${b.url}/hls/${stream}/main/part_${later}.m4s`, { headers: trainee });
  t.equal(part.status, 200, 'a part is served from B');
  t.ok((await part.arrayBuffer()).byteLength > 0, 'with media');

  // The relay's cost: the same part (same bytes) reaches a blocking-reload viewer on B this much
  // later than one on A. Printed, not asserted (timings belong in benchmarks).
  const arrivals = { a: new Map<string, number>(), b: new Map<string, number>() };
  const clients = (['a', 'b'] as const).map((side) => {
    const client = new LlHlsClient(`${(side === 'a' ? a : b).url}/hls/${stream}/index.m3u8`, { token: testToken('trainee', stream) });
    client.on('part', (p) => arrivals[side].set(createHash('sha1').update(p.data).digest('hex'), p.arrivedAtMs));
    client.start();
    return client;
  });
  await new Promise((r) => setTimeout(r, 6000));
  await Promise.all(clients.map((c) => c.close()));
  const lags = [...arrivals.b].flatMap(([hash, at]) => (arrivals.a.has(hash) ? [at - arrivals.a.get(hash)!] : [])).sort((x, y) => x - y);
  t.ok(lags.length >= 10, `${lags.length} parts seen on both origins`);
  t.comment(`relay hop A -> B per part: median ${lags[Math.floor(lags.length / 2)]} ms, p95 ${lags[Math.floor(lags.length * 0.95)]} ms, max ${lags.at(-1)} ms (${lags.length} parts)`);

  // WebRTC on B, from the relayed realtime feed.
  const viewer = new WhepClient({ interfaceAddress: '127.0.0.1', token: testToken('expert', stream) });
  t.teardown(() => viewer.close());
  let frames = 0;
  viewer.on('frame', () => (frames += 1));
  await viewer.connect(`${b.url}/whep/${stream}`);
  await eventually(() => (frames >= 30 ? true : undefined), 20_000, 'WebRTC frames on B');
  t.ok(frames >= 30, `WHEP viewer on B received ${frames} frames`);

  // Shared counts: A sees B's WebRTC viewer.
  const counts = await eventually(async () => {
    const status = (await (await fetch(`${a.url}/api/cluster`, { headers: bearer('admin') })).json()) as {
      origins: Array<{ id: string }>;
      streams: Array<{ name: string; origin: string; viewers: { total: { webrtc: number }; byOrigin: Record<string, { webrtc: number }> } }>;
    };
    const entry = status.streams.find((s) => s.name === stream);
    return entry && (entry.viewers.byOrigin['origin-b']?.webrtc ?? 0) >= 1 ? { status, entry } : undefined;
  }, 10_000, 'B’s viewer in the shared counts');
  t.same(counts.status.origins.map((o) => o.id), ['origin-a', 'origin-b'], 'both origins in the cluster');
  t.equal(counts.entry.origin, 'origin-a', 'the stream is held by A');
  t.ok(counts.entry.viewers.total.webrtc >= 1, 'total WebRTC viewers include B’s');
  t.equal((await fetch(`${b.url}/api/cluster`, { headers: bearer('trainee', stream) })).status, 403, '/api/cluster is for admins');

  // The relay is the cluster's own: no key, no media; a bad name is refused before any lookup.
  t.equal((await fetch(`${a.url}/cluster/relay/${stream}`)).status, 401, 'relay without the cluster key: 401');
  t.equal((await fetch(`${a.url}/cluster/relay/${stream}`, { headers: bearer('admin') })).status, 401, 'relay with a user token: 401');
  t.equal((await fetch(`${a.url}/cluster/relay/..%2f..%2fetc`, { headers: { 'x-scopecast-ingest-key': TEST_INGEST_KEY } })).status, 400, 'relay of a traversal name: 400');

  // End at the source: B's viewers get ENDLIST; B recorded nothing, A recorded the case.
  publisher.close();
  await eventually(async () => {
    const text = await (await fetch(`${b.url}/hls/${stream}/main/stream.m3u8`, { headers: trainee })).text();
    return text.includes('#EXT-X-ENDLIST') ? true : undefined;
  }, 20_000, 'ENDLIST on B');
  t.pass('the end reached B');
  const recorded = (d: string): string[] => (existsSync(d) ? readdirSync(d).filter((n) => !n.startsWith('.')) : []);
  t.same(recorded(join(dir, 'origin-b-recordings')), [], 'B records nothing of a pulled stream');
  t.ok(recorded(join(dir, 'origin-a-recordings')).length >= 1, 'A recorded the case');
  await eventually(async () => {
    const status = (await (await fetch(`${a.url}/api/cluster`, { headers: bearer('admin') })).json()) as { streams: Array<{ name: string }> };
    return status.streams.some((s) => s.name === stream) ? undefined : true;
  }, 10_000, 'the stream leaves the directory');
  t.pass('the ended stream left the shared directory');

  viewer.close();
  await b.origin.close();
  await b.origin.close();
  t.equal(b.origin.cluster.pulling.length, 0, 'B closed: no pull left (close twice is fine)');
});

t.test('a pulled stream nobody watches is released; the owner going away ends the copy', async (t) => {
  const stream = 'multi2';
  const { a, b, trainee, edge } = await startCluster(t, stream);
  await eventually(async () => ((await fetch(`${b.url}/hls/${stream}/index.m3u8`, { headers: trainee })).status === 200 ? true : undefined), 10_000, 'B serves it');
  t.equal(b.origin.registry.get(stream)?.state, 'live', 'B pulled it');
  // pullIdleSeconds 3: nobody asks, the pull stops and the copy ends.
  await eventually(() => (b.origin.registry.get(stream)?.state === 'ended' ? true : undefined), 15_000, 'idle pull released');
  t.pass('an idle pull is released');
  // The next viewer pulls again.
  t.equal((await fetch(`${b.url}/hls/${stream}/index.m3u8`, { headers: trainee })).status, 200, 'a new viewer pulls again');
  t.equal(b.origin.registry.get(stream)?.state, 'live', 'live on B again');

  // Origin A closes: its relay ends, the directory loses the stream, B's copy ends (not a hang).
  await edge.close();
  await a.origin.close();
  await eventually(() => (b.origin.registry.get(stream)?.state === 'ended' ? true : undefined), 20_000, 'B’s copy ends');
  t.pass('B’s copy ended when A went away');
  t.equal((await fetch(`${b.url}/hls/${stream}/index.m3u8`, { headers: trainee })).status, 200, 'B still answers (ENDLIST window)');
});

t.test('Redis down: a pulled stream keeps flowing on B; the directory refills after the restart', async (t) => {
  const stream = 'multi3';
  const { a, b, trainee, redis } = await startCluster(t, stream);
  await eventually(() => newestPart(b.url, stream, trainee), 15_000, 'B pulled it');

  await redis.kill();
  const before = (await newestPart(b.url, stream, trainee))!;
  const during = await eventually(async () => {
    const n = await newestPart(b.url, stream, trainee);
    return n !== undefined && n >= before + 15 ? n : undefined;
  }, 15_000, 'parts on B while Redis is down');
  t.ok(during >= before + 15, `B kept getting parts with Redis down (${before} -> ${during})`);
  t.match(await (await fetch(`${b.url}/healthz`)).json(), { status: 'degraded', redis: 'down' }, 'B says degraded');

  await redis.start();
  await eventually(async () => {
    const body = (await (await fetch(`${b.url}/api/streams`, { headers: bearer('admin') })).json()) as { streams: Array<{ name: string; relayedFrom: string | null }> };
    const status = (await (await fetch(`${b.url}/api/cluster`, { headers: bearer('admin') })).json()) as { streams: Array<{ name: string; origin: string }> };
    return body.streams.some((s) => s.name === stream) && status.streams.some((s) => s.name === stream && s.origin === 'origin-a') ? true : undefined;
  }, 20_000, 'the directory knows the stream again');
  t.pass('after the restart the directory lists the stream on A again, without touching either origin');
  await eventually(async () => ((await (await fetch(`${b.url}/healthz`)).json()) as { status: string }).status === 'ok' || undefined, 20_000, 'B healthy again');
  t.pass('B healthy again');
});

t.test('the relay between origins breaks: B reconnects, its viewers keep one timeline', async (t) => {
  const stream = 'multi4';
  let link: FaultProxy | null = null;
  const { a, b, trainee } = await startCluster(t, stream, {
    // B reaches A only through a fault proxy (A advertises the proxy's address).
    advertiseA: async (url) => {
      const proxy = new FaultProxy({ host: '127.0.0.1', port: Number(new URL(url).port) });
      t.teardown(() => proxy.close());
      await proxy.listen();
      link = proxy;
      return `http://127.0.0.1:${proxy.port}`;
    },
    // Blocking reloads may wait out the whole outage (the default 6 s would answer 503 first).
    hlsB: { blockingTimeoutMs: 15_000 },
  });
  const proxy = link! as FaultProxy;
  // A few parts first: the client below, like the loadtest's, wants a segment in its first playlist.
  await eventually(async () => ((await newestPart(b.url, stream, trainee)) ?? 0) >= 5 || undefined, 15_000, 'B pulled it');
  const media = async (): Promise<string> => (await fetch(`${b.url}/hls/${stream}/main/stream.m3u8`, { headers: trainee })).text();

  // A viewer on B throughout (it also keeps the pull from being released as idle).
  const copy = b.origin.registry.get(stream);
  const viewer = new LlHlsClient(`${b.url}/hls/${stream}/index.m3u8`, { token: testToken('trainee', stream) });
  const seen: string[] = [];
  let viewerError: Error | null = null;
  viewer.on('part', (p) => seen.push(p.uri));
  viewer.on('error', (err) => (viewerError = err));
  viewer.start();
  t.teardown(() => viewer.close());

  // A reset (the link dropped) and then a 7 s blackhole (the link hangs longer than the relay's
  // silence limit, 3 pings = 6 s: B must give the connection up and open a new one).
  const before = (await newestPart(b.url, stream, trainee))!;
  proxy.resetAll();
  const afterReset = await eventually(async () => {
    const n = await newestPart(b.url, stream, trainee);
    return n !== undefined && n >= before + 10 ? n : undefined;
  }, 15_000, 'parts on B after the reset');
  proxy.set({ blackhole: true });
  await new Promise((r) => setTimeout(r, 7000));
  proxy.set({ blackhole: false });
  const restoredAt = Date.now();
  const resumed = await eventually(async () => {
    const n = await newestPart(b.url, stream, trainee);
    return n !== undefined && n >= afterReset + 20 ? n : undefined;
  }, 30_000, 'parts on B after the blackhole');
  t.ok(resumed > afterReset, `B's playlist went on after a reset and a 7 s blackhole (part ${before} -> ${afterReset} -> ${resumed}, ${Date.now() - restoredAt} ms after restore)`);
  t.notMatch(await media(), /#EXT-X-DISCONTINUITY/, 'no discontinuity: the resent init and window were recognised, not restarted');
  t.equal(b.origin.registry.get(stream), copy, 'the same stream on B the whole time');
  await viewer.close();
  t.equal(viewerError, null, 'the viewer on B saw no error');
  const numbers = seen.map((uri) => Number(/part_(\d+)/.exec(uri)?.[1]));
  t.ok(numbers.length >= 30 && numbers.every((n, i) => i === 0 || n === numbers[i - 1]! + 1), `the viewer fetched ${numbers.length} consecutive parts (${numbers[0]}..${numbers.at(-1)})`);
  const status = (await (await fetch(`${b.url}/api/cluster`, { headers: bearer('admin') })).json()) as { pulls: Array<{ stream: string; reconnects: number }> };
  const pull = status.pulls.find((p) => p.stream === stream);
  t.ok(pull && pull.reconnects >= 2, `the pull reconnected ${pull?.reconnects} times`);
});
