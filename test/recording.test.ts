// Recordings at the origin: the segment hook, the VOD playlist writer, and whole recordings made
// by ingesting real CMAF through app.inject (playlist ffprobe decodes, annotation track in order,
// chapters, meta), the API (list/get/patch/marks with viewer and editor tokens, delete with an
// admin token), path traversal, disk errors, shutdown while live, reconnects and retention.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import t from 'tap';
import { parseInit, parseFragment } from '../codecs/fmp4/index.js';
import type { Annotation, AnnotationEvent } from '../lib/annotations.js';
import { issueToken } from '../lib/security/tokens.js';
import type { Segment } from '../origin/hls/part-store.js';
import { PartStore } from '../origin/hls/part-store.js';
import { Rendition } from '../origin/hls/rendition.js';
import { isRecordingId, newRecordingId, writeVodPlaylist, type RecordingDetails, type RecordingSummary } from '../origin/recording/index.js';
import { TEST_KEY, bearer, scrapeHeaders, testToken } from './helpers/auth.js';
import {
  avFixture,
  endStream,
  ingestCmaf,
  postFragment,
  putInit,
  recordingOrigin,
  run,
  type RecordingOrigin,
} from './helpers/recording.js';

const av = avFixture();
const avInfo = parseInit(av.init);

// ---------------------------------------------------------------------------------------------
// Pure pieces and the hook.

t.test('PartStore and Rendition report each completed segment once, with its init', async (t) => {
  const completed: number[] = [];
  const store = new PartStore({ windowSegments: 3, onSegmentComplete: (s) => completed.push(s.msn) });
  store.newGeneration();
  const part = (independent: boolean) => store.addPart({ data: Buffer.from([1]), duration: 0.2, independent, wallClockMs: undefined });
  part(true);
  part(false);
  t.same(completed, [], 'an open segment is not complete');
  part(true);
  t.same(completed, [0], 'the next keyframe completes it');
  store.newGeneration();
  t.same(completed, [0, 1], 'a new init completes the open segment');
  store.newGeneration();
  t.same(completed, [0, 1], 'an empty open segment is not reported');
  part(true);
  store.end();
  store.end();
  t.same(completed, [0, 1, 2], 'end completes the last one, once');

  const rendition = new Rendition({ name: 'main', partTarget: 0.2, windowSegments: 3, partHoldBackParts: 3, declaredBandwidth: 0 });
  const seen: Array<{ msn: number; generation: number; init: Buffer; bytes: number }> = [];
  rendition.on('segment', (segment: Segment, init: Buffer) => seen.push({ msn: segment.msn, generation: segment.generation, init, bytes: segment.data?.length ?? -1 }));
  const init2 = Buffer.concat([av.init]); // same bytes, another buffer: tells the generations apart
  rendition.setInit(av.init, avInfo);
  for (const f of av.fragments) rendition.addFragment(f, parseFragment(f, avInfo));
  t.equal(seen.length, 0);
  rendition.setInit(init2, avInfo);
  t.equal(seen.length, 1, 'encoder restart: the segment completes');
  t.equal(seen[0]!.init, av.init, 'with the init of its own generation');
  t.equal(seen[0]!.bytes, Buffer.concat(av.fragments).length);
  for (const f of av.fragments) rendition.addFragment(f, parseFragment(f, avInfo));
  rendition.end();
  t.equal(seen.length, 2);
  t.equal(seen[1]!.generation, 1);
  t.equal(seen[1]!.init, init2);
  rendition.close();
});

t.test('VOD playlist: PDT per segment, a discontinuity and its init, ENDLIST only when ended', async (t) => {
  const entries = [
    { index: 0, generation: 0, duration: 1.0, programDateTimeMs: Date.UTC(2026, 0, 2, 3, 4, 5, 6), discontinuity: false },
    { index: 1, generation: 0, duration: 1.4, programDateTimeMs: Date.UTC(2026, 0, 2, 3, 4, 6, 6), discontinuity: false },
    { index: 2, generation: 1, duration: 0.6, programDateTimeMs: Date.UTC(2026, 0, 2, 3, 4, 9, 0), discontinuity: true },
  ];
  t.equal(writeVodPlaylist(entries, { ended: true }), [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    '#EXT-X-TARGETDURATION:1',
    '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-MAP:URI="init_0.mp4"',
    '#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:05.006Z',
    '#EXTINF:1.00000,',
    'seg_0.m4s',
    '#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:06.006Z',
    '#EXTINF:1.40000,',
    'seg_1.m4s',
    '#EXT-X-DISCONTINUITY',
    '#EXT-X-MAP:URI="init_1.mp4"',
    '#EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:09.000Z',
    '#EXTINF:0.60000,',
    'seg_2.m4s',
    '#EXT-X-ENDLIST',
    '',
  ].join('\n'));
  const live = writeVodPlaylist(entries, { ended: false });
  t.match(live, /#EXT-X-PLAYLIST-TYPE:EVENT/);
  t.notMatch(live, /ENDLIST/);
  t.match(writeVodPlaylist([{ ...entries[0]!, duration: 1.6 }], { ended: true }), /#EXT-X-TARGETDURATION:2\n/, 'rounded EXTINF fits the target');
});

t.test('recording ids: whitelisted, from a valid stream name, UTC start and random hex', async (t) => {
  const id = newRecordingId('or_1-b', new Date(Date.UTC(2026, 10, 26, 1, 2, 3)), () => 'a1b2');
  t.equal(id, 'or_1-b-20261126T010203-a1b2');
  t.ok(isRecordingId(id));
  t.match(newRecordingId('or1', new Date()), /^or1-\d{8}T\d{6}-[0-9a-f]{4}$/);
  for (const bad of ['../x', 'or1', '-or1-20261126T010203-a1b2', 'or1-20261126T010203-A1B2', 'or1-20261126T010203-a1b2/..', `${'a'.repeat(65)}-20261126T010203-a1b2`, 'or1-20261126T010203-a1b2\u0000']) {
    t.notOk(isRecordingId(bad), JSON.stringify(bad));
  }
  t.throws(() => newRecordingId('../etc', new Date()));
});

// ---------------------------------------------------------------------------------------------
// Whole recordings.

// The least role each request needs: trainees read (a '*' token lists every stream's recordings),
// experts mark, admins delete.
const reader = (stream = '*'): { authorization: string } => bearer('trainee', stream);
const editor = (stream = '*'): { authorization: string } => bearer('expert', stream);
const admin = (): { authorization: string } => bearer('admin', '*');

async function onlyRecording(r: RecordingOrigin): Promise<RecordingSummary> {
  const list = (await r.origin.app.inject({ url: '/api/recordings', headers: reader() })).json<{ recordings: RecordingSummary[] }>().recordings;
  if (list.length !== 1) throw new Error(`expected one recording, got ${list.length}`);
  return list[0]!;
}

function annotation(i: number, mediaTime: number): Annotation {
  return { kind: 'pointer', id: `p${i}`, mediaTime, at: [0.1 * i, 0.5] };
}

t.test('a stream that goes live and ends is recorded: VOD playlist ffprobe decodes, annotations, chapters, meta', async (t) => {
  const r = await recordingOrigin(t);
  const { origin, hub } = r;
  const published: AnnotationEvent[] = [];
  await putInit(origin, 'or1', av.init);
  const live = await onlyRecording(r);
  t.match(live, { stream: 'or1', live: true, title: null, procedure: null });
  t.ok(isRecordingId(live.id));
  for (const [i, f] of av.fragments.entries()) {
    await postFragment(origin, 'or1', f);
    published.push(await hub.publish('or1', `conn-${i}`, i % 2 ? 'surgeon' : 'expert', annotation(i, 1_795_648_350_802 + i * 200)));
  }
  // The edge's encoder restarted: a new init, a discontinuity, a chapter.
  t.equal(await putInit(origin, 'or1', av.init), 201);
  for (const f of av.fragments) await postFragment(origin, 'or1', f);
  published.push(await hub.publish('or1', 'conn-x', 'expert', { kind: 'clear', id: 'c1', mediaTime: 1_795_648_351_900 }));
  await hub.publish('other', 'conn-y', 'expert', annotation(9, 1)); // another stream: not in this recording
  t.equal(await endStream(origin, 'or1'), 204);
  await r.recordings.settled();

  const dir = join(r.dir, live.id);
  t.same((await readdir(dir)).sort(), ['annotations.jsonl', 'chapters.json', 'init_0.mp4', 'init_1.mp4', 'meta.json', 'playlist.m3u8', 'seg_0.m4s', 'seg_1.m4s']);
  t.same(await readFile(join(dir, 'seg_0.m4s')), Buffer.concat(av.fragments), 'segment bytes are the fragments');
  t.same(await readFile(join(dir, 'init_1.mp4')), av.init);

  const playlist = (await origin.app.inject({ url: `/recordings/${live.id}/playlist.m3u8`, headers: reader('or1') }));
  t.equal(playlist.statusCode, 200);
  t.equal(playlist.headers['content-type'], 'application/vnd.apple.mpegurl');
  const body = playlist.body;
  t.match(body, /#EXT-X-PLAYLIST-TYPE:VOD\n/);
  t.match(body, /#EXT-X-ENDLIST\n$/);
  t.equal(body.match(/#EXT-X-PROGRAM-DATE-TIME:2026-11-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g)?.length, 2, 'PDT on every segment');
  t.match(body, /#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init_1\.mp4"\n/);
  t.notMatch(body, /PART|PRELOAD/);

  // Served over HTTP and decoded by ffprobe's HLS demuxer, as a player would fetch it (the
  // token on every request, segments included, as the library page's hls.js sends it).
  const url = await origin.app.listen({ host: '127.0.0.1', port: 0 });
  const probe = await run('ffprobe', ['-v', 'error', '-headers', `Authorization: ${reader('or1').authorization}\r\n`, '-count_frames', '-show_entries', 'stream=codec_type,codec_name,width,height,nb_read_frames', '-of', 'json', `${url}/recordings/${live.id}/playlist.m3u8`]);
  const streams = (JSON.parse(probe.stdout) as { streams: Array<{ codec_type: string; codec_name: string; width?: number; nb_read_frames?: string }> }).streams;
  const video = streams.find((s) => s.codec_type === 'video');
  t.equal(video?.codec_name, 'h264');
  t.equal(video?.width, 160);
  // Both generations of this fixture start at timestamp 0: ffmpeg's HLS demuxer drops a few
  // frames where they overlap after the discontinuity (hls.js does not). Each segment alone: 30.
  t.ok(Number(video?.nb_read_frames) > 50, `${video?.nb_read_frames} video frames decode from 2 x 30`);
  t.ok(streams.some((s) => s.codec_type === 'audio' && s.codec_name === 'aac'), 'audio too');
  const single = join(dirname(r.dir), 'first.mp4');
  const served = async (file: string): Promise<Buffer> => (await origin.app.inject({ url: `/recordings/${live.id}/${file}`, headers: reader('or1') })).rawPayload;
  await writeFile(single, Buffer.concat([await served('init_0.mp4'), await served('seg_0.m4s')]));
  const one = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', single]);
  t.equal(one.stdout.trim(), '30', 'init + first segment: every frame');

  const track = (await origin.app.inject({ url: `/recordings/${live.id}/annotations.jsonl`, headers: reader('or1') })).body.trim().split('\n').map((l) => JSON.parse(l) as AnnotationEvent);
  t.same(track, published, 'every event of the stream, in order, as the hub relayed it');
  t.same(track.map((e) => e.seq), [1, 2, 3, 4, 5, 6]);

  const details = (await origin.app.inject({ url: `/api/recordings/${live.id}`, headers: reader('or1') })).json<RecordingDetails>();
  t.match(details, { id: live.id, stream: 'or1', live: false, segments: 2, bookmarks: [], title: null });
  t.ok(details.endedAt && Date.parse(details.endedAt) >= Date.parse(details.startedAt));
  t.ok(Math.abs(details.durationSec - 2.02) < 0.05, `duration ${details.durationSec}`);
  t.equal(details.bytes, 2 * Buffer.concat(av.fragments).length);
  t.equal(details.mediaStartMs, 1_795_648_350_802);
  t.same(details.chapters.map((c) => c.kind), ['start', 'discontinuity']);
  t.equal(details.chapters[0]!.atMs, 1_795_648_350_802, 'start chapter at the first frame');
  const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as Record<string, unknown>;
  t.same(Object.keys(meta).sort(), ['bookmarks', 'bytes', 'durationSec', 'endedAt', 'id', 'mediaStartMs', 'procedure', 'segments', 'startedAt', 'stream', 'title', 'version']);
  t.equal(meta.segments, 2);
  t.equal((await origin.app.inject({ url: `/recordings/${live.id}/meta.json`, headers: reader('or1') })).statusCode, 404, 'meta is served by the API only');
  t.equal((await origin.app.inject({ url: `/recordings/${live.id}/playlist.m3u8` })).statusCode, 401, 'no token, no replay');
  t.equal((await origin.app.inject({ url: `/recordings/${live.id}/playlist.m3u8`, headers: reader('or2') })).statusCode, 403, "another stream's token");
});

t.test('API: list newest first, get, patch checks its input, bookmarks and chapters', async (t) => {
  const r = await recordingOrigin(t);
  const { origin } = r;
  await ingestCmaf(origin, 'or1', av);
  await endStream(origin, 'or1');
  await new Promise((resolve) => setTimeout(resolve, 1100)); // a later second: a later id and startedAt
  await ingestCmaf(origin, 'or2', av);
  await r.recordings.settled();
  const list = (await origin.app.inject({ url: '/api/recordings', headers: reader() })).json<{ recordings: RecordingSummary[] }>().recordings;
  t.same(list.map((x) => x.stream), ['or2', 'or1'], 'newest first');
  const scoped = (await origin.app.inject({ url: '/api/recordings', headers: reader('or1') })).json<{ recordings: RecordingSummary[] }>().recordings;
  t.same(scoped.map((x) => x.stream), ['or1'], "a token for one stream lists that stream's recordings only");
  t.same(Object.keys(list[0]!).sort(), ['durationSec', 'id', 'live', 'procedure', 'startedAt', 'stream', 'title']);
  t.same(list.map((x) => x.live), [true, false]);
  const id = list[1]!.id;

  const patch = (payload: unknown, headers = editor('or1')) => origin.app.inject({ method: 'PATCH', url: `/api/recordings/${id}`, headers, payload: payload as object });
  t.equal((await patch({ title: 'x' }, reader('or1'))).statusCode, 403, 'a trainee reads but does not edit');
  let res = await patch({ title: '  Lap chole, teaching case  ', procedure: 'Cholecystectomy' });
  t.equal(res.statusCode, 200);
  t.match(res.json(), { title: 'Lap chole, teaching case', procedure: 'Cholecystectomy' });
  for (const bad of [{ title: 'a'.repeat(121) }, { title: 'line\nbreak' }, { procedure: 'tab\there' }, { title: 'rtl\u202eoverride' }, { title: 42 }, { patient: 'x' }, {}, []]) {
    res = await patch(bad);
    t.equal(res.statusCode, 400, JSON.stringify(bad));
    t.equal(res.json().code, 'SC_ERR_RECORDING_INVALID');
  }
  res = await patch({ procedure: '' });
  t.equal(res.json().procedure, null, "'' clears a field");
  t.equal(res.json().title, 'Lap chole, teaching case', 'the other one stays');

  const start = 1_795_648_350_802;
  res = await origin.app.inject({ method: 'POST', url: `/api/recordings/${id}/bookmarks`, headers: editor('or1'), payload: { atMs: start + 500, label: 'Critical view' } });
  t.equal(res.statusCode, 201);
  const bookmark = res.json().bookmark;
  t.match(bookmark, { atMs: start + 500, label: 'Critical view' });
  t.match(bookmark.id, /^[0-9a-f]{16}$/);
  res = await origin.app.inject({ method: 'POST', url: `/api/recordings/${id}/chapters`, headers: editor('or1'), payload: { atMs: start + 300, label: 'Dissection' } });
  t.equal(res.statusCode, 201);
  for (const bad of [{ atMs: 'soon', label: 'x' }, { atMs: -1, label: 'x' }, { atMs: 1, label: '' }, { atMs: 1, label: 'a\u0007' }, { atMs: 1 }, { atMs: 1, label: 'x', extra: 1 }]) {
    res = await origin.app.inject({ method: 'POST', url: `/api/recordings/${id}/bookmarks`, headers: editor('or1'), payload: bad });
    t.equal(res.statusCode, 400, JSON.stringify(bad));
  }
  const details = (await origin.app.inject({ url: `/api/recordings/${id}`, headers: reader('or1') })).json<RecordingDetails>();
  t.same(details.bookmarks.map((b) => b.label), ['Critical view']);
  t.same(details.chapters.map((c) => [c.kind, c.label]), [['start', 'Start'], ['manual', 'Dissection']], 'chapters in media-time order');
  const onDisk = JSON.parse(await readFile(join(r.dir, id, 'meta.json'), 'utf8')) as RecordingDetails;
  t.equal(onDisk.title, 'Lap chole, teaching case');
  t.same(onDisk.bookmarks, details.bookmarks, 'bookmarks live in meta.json');
  t.same(JSON.parse(await readFile(join(r.dir, id, 'chapters.json'), 'utf8')), details.chapters);

  // The live one takes marks too, and keeps them after it ends.
  const liveId = list[0]!.id;
  t.equal((await origin.app.inject({ method: 'POST', url: `/api/recordings/${liveId}/bookmarks`, headers: editor('or1'), payload: { atMs: start, label: 'x' } })).statusCode, 403, "an expert of another stream may not mark this one");
  res = await origin.app.inject({ method: 'POST', url: `/api/recordings/${liveId}/bookmarks`, headers: editor('or2'), payload: { atMs: start, label: 'live mark' } });
  t.equal(res.statusCode, 201);
  await origin.app.inject({ method: 'PATCH', url: `/api/recordings/${liveId}`, headers: editor('or2'), payload: { title: 'Live case' } });
  await endStream(origin, 'or2');
  await r.recordings.settled();
  const ended = JSON.parse(await readFile(join(r.dir, liveId, 'meta.json'), 'utf8')) as RecordingDetails;
  t.match(ended, { title: 'Live case', bookmarks: [{ label: 'live mark' }] });
  t.ok(ended.endedAt);

  t.equal((await origin.app.inject({ url: '/api/recordings/or9-20260101T000000-abcd', headers: reader() })).statusCode, 404);
  t.equal((await origin.app.inject({ url: '/api/recordings/or9-20260101T000000-abcd', headers: reader() })).json().code, 'SC_ERR_RECORDING_NOT_FOUND');
  t.equal((await origin.app.inject({ method: 'PATCH', url: '/api/recordings/or9-20260101T000000-abcd', headers: editor(), payload: { title: 'x' } })).statusCode, 404);
});

t.test('delete: an admin token only, never while live', async (t) => {
  const r = await recordingOrigin(t);
  const { origin } = r;
  await ingestCmaf(origin, 'or1', av);
  const { id } = await onlyRecording(r);
  const del = (headers: Record<string, string> = {}) => origin.app.inject({ method: 'DELETE', url: `/api/recordings/${id}`, headers });
  let res = await del();
  t.equal(res.statusCode, 401, 'no token');
  t.equal(res.json().code, 'SC_ERR_UNAUTHORIZED');
  res = await del(bearer('surgeon', 'or1'));
  t.equal(res.statusCode, 403, "the case's own surgeon reads and marks, but does not delete");
  t.equal(res.json().code, 'SC_ERR_FORBIDDEN');
  t.equal((await del({ 'x-scopecast-admin-key': 'recording-test-admin-key-0123456789' })).statusCode, 401, 'the retired admin key header opens nothing');
  res = await del(admin());
  t.equal(res.statusCode, 409, 'live');
  t.equal(res.json().code, 'SC_ERR_RECORDING_LIVE');
  t.ok(existsSync(join(r.dir, id)));
  await endStream(origin, 'or1');
  t.equal((await del(bearer('expert', 'or1'))).statusCode, 403);
  res = await del(admin());
  t.equal(res.statusCode, 200);
  t.same(res.json(), { deleted: id });
  t.notOk(existsSync(join(r.dir, id)), 'gone from disk');
  t.equal((await origin.app.inject({ url: `/api/recordings/${id}`, headers: reader() })).statusCode, 404);
  t.equal((await del(admin())).statusCode, 404, 'twice');
  t.same((await origin.app.inject({ url: '/api/recordings', headers: reader() })).json().recordings, []);
});

t.test('nobody else may delete: every other role, and admin tokens that are forged or expired', async (t) => {
  const r = await recordingOrigin(t);
  await ingestCmaf(r.origin, 'or1', av);
  await endStream(r.origin, 'or1');
  const { id } = await onlyRecording(r);
  const forged = issueToken({ id: TEST_KEY.id, secret: 'not-the-signing-secret-0123456789-abcdef' }, { sub: 'mallory', role: 'admin', stream: '*', ttlSeconds: 600 });
  const expired = testToken('admin', '*', { now: Date.now() - 2 * 3600_000, ttlSeconds: 600 });
  const attempts: Array<[string, string, number]> = [
    ...(['trainee', 'expert', 'surgeon', 'publisher', 'edge', 'scraper'] as const).map((role): [string, string, number] => [role, testToken(role, '*'), 403]),
    ['forged admin', forged, 401],
    ['expired admin', expired, 401],
  ];
  for (const [what, token, status] of attempts) {
    const res = await r.origin.app.inject({ method: 'DELETE', url: `/api/recordings/${id}`, headers: { authorization: `Bearer ${token}` } });
    t.equal(res.statusCode, status, what);
  }
  t.ok(existsSync(join(r.dir, id)), 'still on disk');
});

t.test('path traversal on ids and file names reads nothing outside the recordings dir', async (t) => {
  const r = await recordingOrigin(t);
  const { origin } = r;
  await ingestCmaf(origin, 'or1', av);
  await endStream(origin, 'or1');
  await r.recordings.settled();
  const { id } = await onlyRecording(r);
  // A file next to the recordings dir, and one inside the recording that is not served.
  const secret = `secret-${Math.random().toString(16).slice(2)}`;
  await writeFile(join(dirname(r.dir), 'secret.m3u8'), secret);
  await writeFile(join(r.dir, 'secret.m3u8'), secret);
  const long = 'a'.repeat(4096);
  const attempts = [
    `/recordings/..%2F..%2Fetc%2Fpasswd/playlist.m3u8`,
    `/recordings/..%2Fsecret.m3u8/playlist.m3u8`,
    `/recordings/${id}/..%2F..%2Fsecret.m3u8`,
    `/recordings/${id}/..%2Fsecret.m3u8`,
    `/recordings/${id}/%2Fetc%2Fpasswd`,
    `/recordings/%2Fetc%2Fpasswd/playlist.m3u8`,
    `/recordings/${id}%00/playlist.m3u8`,
    `/recordings/${id}/playlist.m3u8%00.txt`,
    `/recordings/%00/playlist.m3u8`,
    `/recordings/${id}/meta.json`,
    `/recordings/${id}/chapters.json`,
    `/recordings/${id}/seg_0.m4s.tmp`,
    `/recordings/${id}/seg_-1.m4s`,
    `/recordings/${id}/../../secret.m3u8`,
    `/recordings/${id}/..`,
    `/recordings/${long}/playlist.m3u8`,
    `/recordings/${id}/${long}.m4s`,
    `/recordings/.%2E/secret.m3u8`,
    `/api/recordings/..%2F..%2Fetc`,
    `/api/recordings/${long}`,
    `/api/recordings/${id}%2F..%2F..`,
    `/library/..%2F..%2Fetc`,
    `/library/${long}`,
  ];
  for (const url of attempts) {
    const res = await origin.app.inject({ url, headers: reader() });
    // 414: fastify refuses a path parameter over maxParamLength before any handler runs.
    t.ok([400, 404, 414].includes(res.statusCode), `${url.slice(0, 70)} -> ${res.statusCode}`);
    t.notOk(res.body.includes(secret) || res.body.includes('root:'), 'nothing from outside');
  }
  for (const url of [`/api/recordings/..%2F${id}`, `/api/recordings/${long}`, '/api/recordings/%2Ftmp']) {
    const res = await origin.app.inject({ method: 'DELETE', url, headers: admin() });
    t.ok([400, 404, 414].includes(res.statusCode), `DELETE ${url.slice(0, 60)} -> ${res.statusCode}`);
    res.statusCode === 400 && t.equal(res.json().code, 'SC_ERR_RECORDING_INVALID');
  }
  t.ok(existsSync(join(dirname(r.dir), 'secret.m3u8')) && existsSync(join(r.dir, id, 'playlist.m3u8')), 'nothing deleted');
  t.equal((await origin.app.inject({ url: `/recordings/${id}/seg_0.m4s`, headers: reader() })).statusCode, 200, 'the real files are served');
  t.equal((await origin.app.inject({ url: `/recordings/${id}/seg_9.m4s`, headers: reader() })).statusCode, 404);
});

t.test('a disk error is logged and counted; ingest and the origin carry on', async (t) => {
  const r = await recordingOrigin(t);
  const { origin } = r;
  await putInit(origin, 'or1', av.init);
  await r.recordings.settled();
  const { id } = await onlyRecording(r);
  // The recording directory turns into a file: every later write fails (root ignores chmod).
  await rm(join(r.dir, id), { recursive: true });
  await writeFile(join(r.dir, id), 'not a directory');
  for (const f of av.fragments) t.equal(await postFragment(origin, 'or1', f), 201, 'ingest unaffected');
  await putInit(origin, 'or1', av.init);
  for (const f of av.fragments) await postFragment(origin, 'or1', f);
  t.equal(await endStream(origin, 'or1'), 204);
  await r.recordings.settled();
  const metrics = (await origin.app.inject({ url: '/metrics', headers: scrapeHeaders() })).body;
  const count = (op: string): number => Number(new RegExp(`scopecast_recording_errors_total\\{op="${op}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
  t.ok(count('segment') >= 2, `segment errors counted (${count('segment')})`);
  t.ok(count('playlist') >= 1, 'playlist errors counted');
  t.equal((await origin.app.inject({ url: '/healthz' })).statusCode, 200);
  t.equal((await origin.app.inject({ url: '/hls/or1/main/stream.m3u8', headers: reader('or1') })).statusCode, 200, 'live HLS served as usual');
});

t.test('close while live: the open segment is written, the playlist ended; close is idempotent', async (t) => {
  const r = await recordingOrigin(t);
  const { origin } = r;
  await ingestCmaf(origin, 'or1', av); // one segment, still open
  const { id } = await onlyRecording(r);
  await origin.close();
  await r.recordings.close();
  const playlist = await readFile(join(r.dir, id, 'playlist.m3u8'), 'utf8');
  t.match(playlist, /seg_0\.m4s\n#EXT-X-ENDLIST\n$/);
  t.same(await readFile(join(r.dir, id, 'seg_0.m4s')), Buffer.concat(av.fragments));
  const meta = JSON.parse(await readFile(join(r.dir, id, 'meta.json'), 'utf8')) as RecordingDetails;
  t.equal(meta.segments, 1);
  t.ok(meta.endedAt);
  await t.rejects(r.recordings.list(), { code: 'SC_ERR_INVALID_STATE' });
});

t.test('a publisher that reconnects within the grace time continues its case', async (t) => {
  const r = await recordingOrigin(t, { reconnectGraceMs: 10_000 });
  const { origin } = r;
  await ingestCmaf(origin, 'or1', av);
  await endStream(origin, 'or1');
  await r.recordings.settled();
  const { id } = await onlyRecording(r);
  t.match(await readFile(join(r.dir, id, 'playlist.m3u8'), 'utf8'), /ENDLIST/, 'ended meanwhile');
  await ingestCmaf(origin, 'or1', av);
  t.match(await onlyRecording(r), { id, live: true }, 'the same recording, live again');
  await endStream(origin, 'or1');
  await r.recordings.settled();
  const details = (await origin.app.inject({ url: `/api/recordings/${id}`, headers: reader('or1') })).json<RecordingDetails>();
  t.same(details.chapters.map((c) => c.kind), ['start', 'reconnect']);
  t.equal(details.segments, 2);
  const playlist = await readFile(join(r.dir, id, 'playlist.m3u8'), 'utf8');
  t.match(playlist, /seg_0\.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init_1\.mp4"\n[^]*seg_1\.m4s\n#EXT-X-ENDLIST\n$/);
  t.equal(playlist.match(/ENDLIST/g)?.length, 1);
});

async function heldGone(r: RecordingOrigin, id: string): Promise<void> {
  for (let i = 0; i < 100 && r.recordings.isHeld(id); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  if (r.recordings.isHeld(id)) throw new Error(`${id} still held after its grace time`);
}

t.test('retention: the sweep deletes recordings that started more than retentionDays ago', async (t) => {
  const r = await recordingOrigin(t, { recordings: { retentionDays: 7 }, reconnectGraceMs: 0 });
  const { origin } = r;
  await ingestCmaf(origin, 'old', av);
  await endStream(origin, 'old');
  await ingestCmaf(origin, 'new', av);
  await endStream(origin, 'new');
  const list = (await origin.app.inject({ url: '/api/recordings', headers: reader() })).json<{ recordings: RecordingSummary[] }>().recordings;
  const oldId = list.find((x) => x.stream === 'old')!.id;
  const newId = list.find((x) => x.stream === 'new')!.id;
  await heldGone(r, oldId);
  await heldGone(r, newId);
  const metaPath = join(r.dir, oldId, 'meta.json');
  const meta = JSON.parse(await readFile(metaPath, 'utf8')) as { startedAt: string };
  meta.startedAt = new Date(Date.now() - 8 * 86_400_000).toISOString();
  await writeFile(metaPath, JSON.stringify(meta));
  // A directory that is not a recording is never touched.
  await mkdir(join(r.dir, 'not-a-recording'));
  t.same(await r.recordings.sweep(), [oldId]);
  t.notOk(existsSync(join(r.dir, oldId)));
  t.ok(existsSync(join(r.dir, newId)));
  t.ok(existsSync(join(r.dir, 'not-a-recording')));
  t.same(await r.recordings.sweep(), [], 'nothing else is old');
  t.same(await r.recordings.sweep(Date.now() + 8 * 86_400_000), [newId], 'a week later the other one goes too');
});

t.test('retentionDays 0 keeps everything; recordings disabled records nothing but serves the API', async (t) => {
  const keep = await recordingOrigin(t, { recordings: { retentionDays: 0 }, reconnectGraceMs: 0 });
  await ingestCmaf(keep.origin, 'or1', av);
  await endStream(keep.origin, 'or1');
  const { id } = await onlyRecording(keep);
  await heldGone(keep, id);
  t.same(await keep.recordings.sweep(Date.now() + 10_000 * 86_400_000), []);

  const off = await recordingOrigin(t, { recordings: { enabled: false } });
  await ingestCmaf(off.origin, 'or1', av);
  t.same((await off.origin.app.inject({ url: '/api/recordings', headers: reader() })).json(), { recordings: [] });
  t.same(existsSync(off.dir) ? await readdir(off.dir) : [], []);
});
