// Origin ingest + LL-HLS over app.inject(): no ports, real CMAF from test/fixtures.
import t, { type Test } from 'tap';
import { build, type OriginApp } from '../origin/index.js';
import { bearer, scrapeHeaders, testSecurity } from './helpers/auth.js';
import { cmafFixture } from './helpers/fixtures.js';

const KEY = 'origin-test-key-0123456789';
const { init, fragments } = cmafFixture('av.cmaf');

async function origin(t: Test, hls: Record<string, unknown> = {}): Promise<OriginApp> {
  const o = await build({ ingest: { keys: [KEY] }, hls: { blockingTimeoutMs: 1500, ...hls }, recordings: { enabled: false }, ...testSecurity(t), logLevel: 'silent' });
  t.teardown(() => o.close());
  return o;
}

/** A trainee watching `stream` (the least role LL-HLS needs): the headers of every viewer request here. */
const viewer = (stream = 'or1'): { authorization: string } => bearer('trainee', stream);
const watch = (o: OriginApp, url: string, stream = 'or1') => o.app.inject({ url, headers: viewer(stream) });

const ingestHeaders = { 'x-scopecast-ingest-key': KEY, 'content-type': 'application/octet-stream' };

async function putInit(o: OriginApp, stream = 'or1'): Promise<number> {
  const res = await o.app.inject({ method: 'PUT', url: `/ingest/${stream}/main/init`, headers: { ...ingestHeaders, 'x-scopecast-part-target': '0.2' }, payload: init });
  return res.statusCode;
}
async function postFragment(o: OriginApp, i: number, stream = 'or1'): Promise<number> {
  const res = await o.app.inject({ method: 'POST', url: `/ingest/${stream}/main/fragment`, headers: ingestHeaders, payload: fragments[i]! });
  return res.statusCode;
}

t.test('ingest builds a playlist with parts, a preload hint and program date time', async (t) => {
  const o = await origin(t);
  t.equal(await putInit(o), 201);
  for (let i = 0; i < fragments.length; i++) t.equal(await postFragment(o, i), 201, `fragment ${i}`);
  const master = await watch(o, '/hls/or1/index.m3u8');
  t.equal(master.statusCode, 200);
  t.match(master.body, /#EXT-X-STREAM-INF:BANDWIDTH=\d+,CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2",RESOLUTION=160x120/);
  t.match(master.body, /\nmain\/stream\.m3u8\n/);
  const media = await watch(o, '/hls/or1/main/stream.m3u8');
  t.equal(media.headers['content-type'], 'application/vnd.apple.mpegurl');
  const body = media.body;
  t.match(body, /#EXT-X-VERSION:9/);
  // PART-TARGET is the declared 0.2 s unless a part ran longer (this fixture's first part is
  // 0.221 s): every part must fit it, and PART-HOLD-BACK stays 3 part targets.
  const partTarget = Number(/#EXT-X-PART-INF:PART-TARGET=([\d.]+)/.exec(body)?.[1]);
  const holdBack = Number(/#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=([\d.]+)/.exec(body)?.[1]);
  t.ok(partTarget >= 0.2 && partTarget < 0.25, `part target ${partTarget}`);
  t.ok(Math.abs(holdBack - 3 * partTarget) < 0.002, `hold back ${holdBack}`);
  for (const m of body.matchAll(/#EXT-X-PART:DURATION=([\d.]+)/g)) t.ok(Number(m[1]) <= partTarget, `part ${m[1]} fits`);
  t.match(body, /#EXT-X-MAP:URI="init_0\.mp4"/);
  t.match(body, /#EXT-X-PROGRAM-DATE-TIME:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/);
  t.equal(body.match(/#EXT-X-PART:/g)?.length, fragments.length);
  t.match(body, /#EXT-X-PART:DURATION=0\.2\d*,URI="part_0\.m4s",INDEPENDENT=YES/);
  t.match(body, /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part_5\.m4s"/);
  t.notMatch(body, /#EXTINF/, 'the only segment is still open');
  const part = await watch(o, '/hls/or1/main/part_2.m4s');
  t.equal(part.statusCode, 200);
  t.same(part.rawPayload, fragments[2]);
  const initRes = await watch(o, '/hls/or1/main/init_0.mp4');
  t.same(initRes.rawPayload, init);
  // Every LL-HLS request carries a token for this stream: none is 401, another stream's is 403.
  t.equal((await o.app.inject({ url: '/hls/or1/main/part_2.m4s' })).statusCode, 401, 'no token');
  t.equal((await o.app.inject({ url: '/hls/or1/main/part_2.m4s', headers: viewer('or2') })).statusCode, 403, "another stream's token");
});

t.test('a new init starts a discontinuity; completed segments are listed and served', async (t) => {
  const o = await origin(t);
  await putInit(o);
  for (let i = 0; i < fragments.length; i++) await postFragment(o, i);
  await putInit(o);
  for (let i = 0; i < fragments.length; i++) await postFragment(o, i);
  const body = (await watch(o, '/hls/or1/main/stream.m3u8')).body;
  t.match(body, /#EXTINF:1\.0\d*,\nseg_0\.m4s/);
  t.match(body, /#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init_1\.mp4"/);
  const seg = await watch(o, '/hls/or1/main/seg_0.m4s');
  t.equal(seg.statusCode, 200);
  t.same(seg.rawPayload, Buffer.concat(fragments));
  t.equal((await watch(o, '/hls/or1/main/seg_1.m4s')).statusCode, 404, 'open segment is not served whole');
});

t.test('a duplicate fragment (edge retry) is acknowledged and ignored', async (t) => {
  const o = await origin(t);
  await putInit(o);
  t.equal(await postFragment(o, 0), 201);
  t.equal(await postFragment(o, 0), 200);
  const body = (await watch(o, '/hls/or1/main/stream.m3u8')).body;
  t.equal(body.match(/#EXT-X-PART:/g)?.length, 1);
});

t.test('blocking playlist reload returns as soon as the asked part exists', async (t) => {
  const o = await origin(t, { blockingTimeoutMs: 5000 });
  await putInit(o);
  await postFragment(o, 0);
  let answeredAt = 0;
  const blocked = watch(o, '/hls/or1/main/stream.m3u8?_HLS_msn=0&_HLS_part=2').then((res) => {
    answeredAt = Date.now();
    return res;
  });
  await new Promise((r) => setTimeout(r, 150));
  t.equal(answeredAt, 0, 'still blocked while part 2 does not exist');
  await postFragment(o, 1);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(answeredAt, 0, 'part 1 does not satisfy a request for part 2');
  const postedAt = Date.now();
  await postFragment(o, 2);
  const res = await blocked;
  t.equal(res.statusCode, 200);
  t.match(res.body, /URI="part_2\.m4s"/);
  t.ok(answeredAt >= postedAt, 'answered after the part arrived');
  // Also a blocked part request for the hinted part.
  const hinted = watch(o, '/hls/or1/main/part_3.m4s');
  await postFragment(o, 3);
  const partRes = await hinted;
  t.equal(partRes.statusCode, 200);
  t.same(partRes.rawPayload, fragments[3]);
});

t.test('bad blocking requests get 400 at once; unmet ones 503 after the timeout', async (t) => {
  const o = await origin(t, { blockingTimeoutMs: 300 });
  await putInit(o);
  await postFragment(o, 0);
  for (const query of ['_HLS_part=1', '_HLS_msn=-1', '_HLS_msn=abc', '_HLS_msn=0&_HLS_part=x', '_HLS_msn=3', '_HLS_msn=99999999']) {
    const started = Date.now();
    const res = await watch(o, `/hls/or1/main/stream.m3u8?${query}`);
    t.equal(res.statusCode, 400, query);
    t.equal(res.json().code, 'SC_ERR_HLS_BAD_REQUEST', query);
    t.ok(Date.now() - started < 250, `${query} answered without blocking`);
  }
  const res = await watch(o, '/hls/or1/main/stream.m3u8?_HLS_msn=2');
  t.equal(res.statusCode, 503);
  t.equal(res.json().code, 'SC_ERR_HLS_TIMEOUT');
  t.equal((await watch(o, '/hls/or1/main/part_50.m4s')).statusCode, 400, 'far beyond the hint');
});

t.test('ending a stream adds EXT-X-ENDLIST and releases blocked requests', async (t) => {
  const o = await origin(t, { blockingTimeoutMs: 5000 });
  await putInit(o);
  for (let i = 0; i < 3; i++) await postFragment(o, i);
  const blocked = watch(o, '/hls/or1/main/stream.m3u8?_HLS_msn=1');
  const del = await o.app.inject({ method: 'DELETE', url: '/ingest/or1', headers: ingestHeaders });
  t.equal(del.statusCode, 204);
  const res = await blocked;
  t.equal(res.statusCode, 200);
  t.match(res.body, /#EXT-X-ENDLIST\n$/);
  t.notMatch(res.body, /PRELOAD-HINT/);
  t.match(res.body, /seg_0\.m4s/);
  const info = (await watch(o, '/api/streams/or1')).json();
  t.equal(info.state, 'ended');
  t.equal((await o.app.inject({ method: 'DELETE', url: '/ingest/nosuch', headers: ingestHeaders })).statusCode, 404);
});

t.test('ingest refuses bad credentials, names, order, payloads and sizes with coded errors', async (t) => {
  const o = await origin(t);
  const put = (url: string, headers: Record<string, string>, payload: Buffer | string) =>
    o.app.inject({ method: 'PUT', url, headers, payload });
  let res = await put('/ingest/or1/main/init', { 'content-type': 'application/octet-stream' }, init);
  t.equal(res.statusCode, 401);
  t.equal(res.json().code, 'SC_ERR_INGEST_AUTH');
  res = await put('/ingest/or1/main/init', { ...ingestHeaders, 'x-scopecast-ingest-key': 'wrong-key-0123456789' }, init);
  t.equal(res.statusCode, 401);
  for (const name of ['..%2F..%2Fetc', '-loglevel', 'a%00b', 'x'.repeat(65), '%3Bls', 'a.b']) {
    res = await put(`/ingest/${name}/main/init`, ingestHeaders, init);
    t.equal(res.statusCode, 400, name);
    t.equal(res.json().code, 'SC_ERR_STREAM_NAME', name);
  }
  res = await o.app.inject({ method: 'POST', url: '/ingest/or1/main/fragment', headers: ingestHeaders, payload: fragments[0]! });
  t.equal(res.statusCode, 409);
  t.equal(res.json().code, 'SC_ERR_INGEST_ORDER');
  res = await put('/ingest/or1/main/init', ingestHeaders, Buffer.from('this is not an mp4 file at all'));
  t.equal(res.statusCode, 400);
  t.equal(res.json().code, 'SC_ERR_FMP4_PARSE');
  res = await put('/ingest/or1/main/init', ingestHeaders, Buffer.alloc(300 * 1024));
  t.equal(res.statusCode, 413);
  res = await put('/ingest/or1/main/init', { ...ingestHeaders, 'content-type': 'application/json' }, '{}');
  t.equal(res.statusCode, 400, 'JSON body refused');
  await putInit(o);
  res = await o.app.inject({ method: 'POST', url: '/ingest/or1/main/fragment', headers: ingestHeaders, payload: fragments[0]!.subarray(0, 100) });
  t.equal(res.statusCode, 400);
  t.equal(res.json().code, 'SC_ERR_FMP4_PARSE');
  t.equal((await watch(o, '/hls/or1/main/stream.m3u8')).statusCode, 200, 'stream unharmed');
});

t.test('unknown streams are 404; health, readiness and metrics answer', async (t) => {
  const o = await origin(t);
  t.equal((await watch(o, '/hls/nosuch/index.m3u8', 'nosuch')).statusCode, 404);
  t.equal((await watch(o, '/hls/nosuch/main/stream.m3u8', 'nosuch')).statusCode, 404);
  t.equal((await o.app.inject({ url: '/healthz' })).json().status, 'ok');
  t.equal((await o.app.inject({ url: '/readyz' })).statusCode, 200);
  await putInit(o);
  await postFragment(o, 0);
  t.equal((await o.app.inject({ url: '/metrics', headers: bearer('admin') })).statusCode, 401, '/metrics takes a scrape token, not a user token');
  const metrics = await o.app.inject({ url: '/metrics', headers: scrapeHeaders() });
  t.match(metrics.body, /scopecast_ingest_fragments_total\{stream="or1",rendition="main"\} 1/);
  t.match(metrics.body, /scopecast_latency_seconds_bucket\{le="[\d.]+",stream="or1",path="llhls",hop="edge_to_origin"\}/);
});

t.test('close() is idempotent and releases blocked requests', async (t) => {
  const o = await build({ ingest: { keys: [KEY] }, hls: { blockingTimeoutMs: 10_000 }, recordings: { enabled: false }, ...testSecurity(t), logLevel: 'silent' });
  await putInit(o);
  const blocked = watch(o, '/hls/or1/main/stream.m3u8?_HLS_msn=1');
  await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  await Promise.all([o.close(), o.close()]);
  const res = await blocked;
  t.ok(Date.now() - started < 2000, 'close did not wait for the blocking timeout');
  t.equal(res.statusCode, 503);
});
