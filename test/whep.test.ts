// WHEP egress against the real chain: synthetic console -> RTMP -> edge (one encode, realtime
// CMAF feed) -> origin -> werift viewers on loopback.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { SyntheticConsole } from '../loadtest/index.js';
import { WhepClient, type WhepFrame } from '../loadtest/whep-client.js';
import { scrapeHeaders } from './helpers/auth.js';
import { eventually, startStack, type Stack, type StackOptions } from './helpers/stack.js';

const run = promisify(execFile);

async function liveStack(t: Test, stream: string, options: StackOptions = {}): Promise<Stack> {
  const stack = await startStack(options);
  t.teardown(() => stack.close());
  const source = new SyntheticConsole({ url: stack.rtmpUrl(stream), width: 1280, height: 720 });
  source.start();
  t.teardown(() => source.close());
  await eventually(() => (stack.origin.registry.get(stream)?.realtime.track ? true : undefined), 20_000, 'realtime feed at the origin');
  return stack;
}

t.test('a WHEP viewer receives decodable H.264 with sender reports on the edge clock', async (t) => {
  const stack = await liveStack(t, 'us2');
  // An expert token for the stream: the least role that may watch over WebRTC.
  const client = new WhepClient({ interfaceAddress: '127.0.0.1', token: stack.token('expert', 'us2') });
  t.teardown(() => client.close());
  const frames: WhepFrame[] = [];
  let broken = 0;
  client.on('frame', (f) => frames.push(f));
  client.on('broken', () => (broken += 1));
  const { status, location } = await client.connect(`${stack.originUrl}/whep/us2`);
  t.equal(status, 201);
  t.match(location, /^\/whep\/us2\/[0-9a-f-]{36}$/);
  // Decode from the first keyframe that arrived whole: under CPU load this in-process client can
  // lose a burst (it recovers at the next GOP, as a browser would).
  const firstKey = (): number => frames.findIndex((f) => f.keyframe);
  await eventually(() => (firstKey() >= 0 && frames.length - firstKey() >= 45 ? true : undefined), 20_000, '45 frames from a keyframe over WebRTC');
  // Sender reports come about once a second; a fast start can deliver 45 frames before the first.
  await eventually(() => (frames.some((f) => f.senderWallClockMs !== undefined) ? true : undefined), 10_000, 'a sender report');
  const got = frames.slice(firstKey()); // frames keeps growing while ffprobe runs
  const info = (await (await fetch(`${stack.originUrl}/api/webrtc/sessions`, { headers: stack.auth('admin') })).json()) as { sessions: Array<{ firstFrameKeyframe: boolean | null }> };
  t.equal(info.sessions[0]?.firstFrameKeyframe, true, 'the first frame the origin sends a viewer is a keyframe');
  if (firstKey() > 0) t.comment(`client lost the start of the first GOP (${firstKey()} frames before its first whole keyframe)`);
  const gaps = got.slice(1).filter((f, i) => ((f.rtpTimestamp - got[i]!.rtpTimestamp) | 0) !== 3000).length;
  t.comment(`broken frames: ${broken}, timestamp gaps: ${gaps}`);
  const dir = mkdtempSync(join(tmpdir(), 'scopecast-whep-'));
  // An access unit delimiter in front of each frame marks its boundary for ffmpeg's raw H.264
  // parser (RTP carries that boundary in the marker bit instead).
  const aud = Buffer.from([0, 0, 0, 1, 0x09, 0xf0]);
  writeFileSync(join(dir, 'in.h264'), Buffer.concat(got.flatMap((f) => [aud, f.annexB])));
  const probe = await run('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=width,height,nb_read_frames', '-of', 'json', join(dir, 'in.h264')]);
  const s = (JSON.parse(probe.stdout) as { streams: Array<{ width: number; height: number; nb_read_frames: string }> }).streams[0]!;
  t.equal(s.width, 1280);
  t.equal(s.height, 720);
  t.equal(Number(s.nb_read_frames), got.length, `${s.nb_read_frames} of ${got.length} frames decode`);
  const withClock = got.filter((f) => f.senderWallClockMs !== undefined);
  t.ok(withClock.length > 0, 'sender reports arrived');
  for (const f of withClock.slice(-5)) {
    const age = f.receivedAtMs - f.senderWallClockMs!;
    // The SR maps RTP time to the edge's encoder-input clock; under CPU overload the encoder
    // lags real time and the RTP-extrapolated clock can run ahead of arrival, so the sign is not
    // guaranteed here; a wrong clock (origin send time, or none) would be off by far more.
    t.ok(Math.abs(age) < 5000, `frame age from the SR wall clock: ${Math.round(age)} ms`);
  }
  t.equal(info.sessions.length, 1);
  await client.close();
  await eventually(async () => (((await (await fetch(`${stack.originUrl}/api/webrtc/sessions`, { headers: stack.auth('admin') })).json()) as { sessions: unknown[] }).sessions.length === 0 ? true : undefined), 5000, 'DELETE ends the session');
});

t.test('a viewer joining mid-GOP starts at once on the cached keyframe (fast start)', async (t) => {
  // Any keyframe of a 1 s GOP is younger than 5 s: every join that does not land exactly on a new
  // keyframe starts from the cache. Three joins make "all three landed on one" practically impossible.
  const stack = await liveStack(t, 'us5', { originWebrtc: { fastStartMaxAgeMs: 5000 } });
  const started: number[] = [];
  for (let i = 0; i < 3; i++) {
    const client = new WhepClient({ interfaceAddress: '127.0.0.1', token: stack.token('expert', 'us5') });
    const frames: WhepFrame[] = [];
    client.on('frame', (f) => frames.push(f));
    await client.connect(`${stack.originUrl}/whep/us5`);
    await eventually(() => (frames.length >= 40 ? true : undefined), 20_000, '40 frames');
    const info = (await (await fetch(`${stack.originUrl}/api/webrtc/sessions`, { headers: stack.auth('admin') })).json()) as {
      sessions: Array<{ firstFrameKeyframe: boolean | null; fastStartFrames: number; lateSkips: number; capSkips: number }>;
      streams: Array<{ staleFrames: number }>;
    };
    const session = info.sessions[0]!;
    t.equal(session.firstFrameKeyframe, true, `viewer ${i}: the first frame sent is a keyframe`);
    started.push(session.fastStartFrames);
    const key = frames.findIndex((f) => f.keyframe);
    const got = frames.slice(key);
    const gaps = got.slice(1).filter((f, j) => ((f.rtpTimestamp - got[j]!.rtpTimestamp) | 0) !== 3000);
    // A hole is allowed only where the origin says it skipped on purpose (media arriving stale from
    // an overloaded edge, or this viewer's queue falling behind), and it must end on a keyframe.
    const reported = { stale: info.streams[0]?.staleFrames ?? 0, late: session.lateSkips, cap: session.capSkips };
    if (reported.stale + reported.late + reported.cap === 0) {
      t.equal(gaps.length, 0, `viewer ${i}: cached and live frames are one contiguous sequence (${session.fastStartFrames} cached)`);
    } else {
      t.ok(gaps.every((f) => f.keyframe), `viewer ${i}: every hole ends on a keyframe (${gaps.length} holes; skips reported: ${JSON.stringify(reported)}; ${session.fastStartFrames} cached)`);
    }
    await client.close();
    await eventually(async () => (((await (await fetch(`${stack.originUrl}/api/webrtc/sessions`, { headers: stack.auth('admin') })).json()) as { sessions: unknown[] }).sessions.length === 0 ? true : undefined), 5000, 'session gone');
    await new Promise((r) => setTimeout(r, 150 + i * 170)); // land at different points of the GOP
  }
  t.ok(started.some((n) => n > 0), `at least one viewer started from the cache (${started.join(', ')} frames)`);
});

t.test('bad WHEP requests get clear errors', async (t) => {
  const stack = await liveStack(t, 'us3');
  const post = (stream: string, body: string, type = 'application/sdp', token = stack.token('expert', stream)) =>
    fetch(`${stack.originUrl}/whep/${stream}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': type }, body });
  const cases: Array<[string, string, number, string]> = [
    ['us3', 'hello', 400, 'SC_ERR_SDP'],
    ['us3', 'v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n', 400, 'SC_ERR_SDP'],
    ['us3', `v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\na=ice-ufrag:x\r\na=fingerprint:sha-256 00\r\n`, 400, 'SC_ERR_SDP'],
    ['us3', `v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\na=ice-ufrag:abcd\r\na=ice-pwd:x\r\na=fingerprint:sha-256 zz\r\n`, 400, 'SC_ERR_SDP'],
    ['us3', 'v=0' + 'x'.repeat(40 * 1024), 413, 'FST_ERR_CTP_BODY_TOO_LARGE'],
    ['nosuch', `v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\na=ice-ufrag:x\r\na=fingerprint:sha-256 00\r\n`, 404, 'SC_ERR_STREAM_NOT_FOUND'],
  ];
  for (const [stream, body, status, code] of cases) {
    const res = await post(stream, body);
    t.equal(res.status, status, `${stream} ${body.slice(0, 30)}`);
    t.equal(((await res.json()) as { code: string }).code, code);
  }
  // A token for every stream gets past the scope check to the name check.
  const badName = await post('..%2Fetc', 'v=0', 'application/sdp', stack.token('expert', '*'));
  t.equal(badName.status, 400);
  t.equal(((await badName.json()) as { code: string }).code, 'SC_ERR_STREAM_NAME');
  // Who may watch over WebRTC: experts, surgeons and admins of this stream; not trainees.
  const offer = `v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\na=ice-ufrag:x\r\na=fingerprint:sha-256 00\r\n`;
  const noToken = await fetch(`${stack.originUrl}/whep/us3`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: offer });
  t.equal(noToken.status, 401, 'no token');
  t.equal(((await noToken.json()) as { code: string }).code, 'SC_ERR_UNAUTHORIZED');
  t.equal((await post('us3', offer, 'application/sdp', stack.token('trainee', 'us3'))).status, 403, 'a trainee watches LL-HLS, not WebRTC');
  t.equal((await post('us3', offer, 'application/sdp', stack.token('expert', 'us4'))).status, 403, "another stream's expert token");
  t.ok([400, 415].includes((await post('us3', 'v=0', 'application/json')).status), 'wrong content type refused');
  t.equal((await fetch(`${stack.originUrl}/whep/us3/00000000-0000-0000-0000-000000000000`, { method: 'DELETE' })).status, 401, 'DELETE needs a token too');
  t.equal((await fetch(`${stack.originUrl}/whep/us3/00000000-0000-0000-0000-000000000000`, { method: 'DELETE', headers: stack.auth('expert', 'us3') })).status, 404);
  t.equal((await fetch(`${stack.originUrl}/whep/us3/x`, { method: 'PATCH' })).status, 405, 'no trickle');
  t.equal((await fetch(`${stack.edgeUrl}/healthz`)).status, 200, 'edge unharmed');
  t.equal((await fetch(`${stack.originUrl}/healthz`)).status, 200, 'origin unharmed');
});

t.test('20 viewers join and leave repeatedly; nothing leaks', async (t) => {
  const stack = await liveStack(t, 'us4');
  const before = process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
  for (let round = 0; round < 2; round++) {
    const clients = Array.from({ length: 20 }, () => new WhepClient({ interfaceAddress: '127.0.0.1', token: stack.token('expert', 'us4') }));
    const got = clients.map(() => 0);
    clients.forEach((c, i) => c.on('frame', () => (got[i] = (got[i] ?? 0) + 1)));
    await Promise.all(clients.map((c) => c.connect(`${stack.originUrl}/whep/us4`)));
    await eventually(() => (got.every((n) => n > 5) ? true : undefined), 20_000, `round ${round}: every viewer gets frames (${got.join(',')})`);
    const listed = (await (await fetch(`${stack.originUrl}/api/webrtc/sessions`, { headers: stack.auth('admin') })).json()) as { sessions: unknown[] };
    t.equal(listed.sessions.length, 20, `round ${round}: 20 sessions`);
    await Promise.all(clients.map((c) => c.close()));
    await eventually(async () => (((await (await fetch(`${stack.originUrl}/api/webrtc/sessions`, { headers: stack.auth('admin') })).json()) as { sessions: unknown[] }).sessions.length === 0 ? true : undefined), 10_000, 'all sessions gone');
  }
  const metrics = await (await fetch(`${stack.originUrl}/metrics`, { headers: scrapeHeaders() })).text();
  t.match(metrics, /scopecast_webrtc_sessions_total\{outcome="created"\} 40/);
  await stack.close();
  const after = await eventually(() => {
    const n = process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
    return n <= before ? n : undefined;
  }, 5000, 'UDP sockets released').catch(() => -1);
  t.ok(after >= 0 && after <= before, `UDP sockets after close: ${after} (before: ${before})`);
});
