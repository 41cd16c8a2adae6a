// WHIP ingest without media: pure builders (encoder arguments, the SDP ffmpeg reads, keyframe
// detection), offer checks, config, and the HTTP routes through app.inject() (no listening port).
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import t, { type Test } from 'tap';
import { PROFILES, transcodeArgs } from '../codecs/profiles/index.js';
import { isH264KeyframePayload, rtpInputSdp } from '../codecs/rtp/index.js';
import { loadEdgeConfig } from '../configs/index.js';
import { build, type EdgeApp } from '../edge/index.js';
import { checkWhipOffer } from '../edge/ingest/whip-session.js';
import { ScopecastError } from '../lib/errors.js';
import { TEST_INGEST_KEY, bearer, testAuthConfig, testSecurity } from './helpers/auth.js';
import { fixturePath } from './helpers/fixtures.js';
import { processGone } from './helpers/process.js';
import { eventually } from './helpers/stack.js';
import { WhipPublisher } from './helpers/whip-publisher.js';

// The fixture was taken before the SDP input existed; regenerate it (make-transcode-args-fixture.ts)
// only for an intentional change to the profile's arguments.
t.test('FLV encoder arguments are byte-identical to before the SDP input existed', async (t) => {
  const fixture = JSON.parse(readFileSync(fixturePath('transcode-args-flv.json'), 'utf8')) as Record<string, string[]>;
  for (const [name, profile] of Object.entries(PROFILES)) {
    t.same(transcodeArgs(profile), fixture[`${name}/pipe`], `${name}: FLV on stdin`);
    t.same(transcodeArgs(profile, { kind: 'pipe' }), fixture[`${name}/pipe`], `${name}: explicit pipe`);
    t.same(transcodeArgs(profile, { kind: 'url', url: 'rtmp://127.0.0.1:1935/live/x' }), fixture[`${name}/url`], `${name}: FLV from a URL`);
  }
});

t.test('SDP input: RTP described on stdin, nothing probed, same outputs as FLV', async (t) => {
  const profile = PROFILES['endoscopy-1080p'];
  const sdp = transcodeArgs(profile, { kind: 'sdp' });
  const flv = transcodeArgs(profile);
  const i = sdp.indexOf('-i');
  t.same(sdp.slice(i - 5, i + 2), ['pipe,udp,rtp', '-f', 'sdp', '-reorder_queue_size', '0', '-i', 'pipe:0']);
  t.ok(sdp.includes('-protocol_whitelist'));
  t.same(sdp.slice(sdp.indexOf('-fpsprobesize'), sdp.indexOf('-fpsprobesize') + 2), ['-fpsprobesize', '0']);
  t.same(sdp.slice(i + 2), flv.slice(flv.indexOf('-i') + 2), 'everything after the input is the profile, unchanged');
  t.same(transcodeArgs(profile, { kind: 'sdp' }), sdp, 'pure');
});

t.test('the SDP ffmpeg reads matches the fixture; unsafe values are refused', async (t) => {
  const sdp = rtpInputSdp({
    name: 'or1-endoscopy',
    video: { port: 40000, payloadType: 102, fmtp: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f' },
    audio: { port: 40002, payloadType: 111, channels: 2, fmtp: 'minptime=10;useinbandfec=1' },
  });
  t.equal(sdp, readFileSync(fixturePath('whip-input.sdp'), 'utf8'));
  t.notMatch(rtpInputSdp({ video: { port: 40000, payloadType: 96 } }), /m=audio/, 'video only');
  t.throws(() => rtpInputSdp({ video: { port: 40000, payloadType: 96, fmtp: 'x=1\r\nm=audio 9 RTP/AVP 0' } }), TypeError);
  t.throws(() => rtpInputSdp({ video: { port: 0, payloadType: 96 } }), RangeError);
  t.throws(() => rtpInputSdp({ video: { port: 40000, payloadType: 128 } }), RangeError);
});

t.test('H.264 keyframe detection on RTP payloads', async (t) => {
  t.ok(isH264KeyframePayload(Buffer.from([0x65, 0x88])), 'IDR single NAL');
  t.ok(isH264KeyframePayload(Buffer.from([0x67, 0x42])), 'SPS single NAL');
  t.notOk(isH264KeyframePayload(Buffer.from([0x41, 0x9a])), 'P slice');
  t.ok(isH264KeyframePayload(Buffer.from([0x7c, 0x85, 0])), 'FU-A start of IDR');
  t.notOk(isH264KeyframePayload(Buffer.from([0x7c, 0x05, 0])), 'FU-A middle of IDR');
  t.notOk(isH264KeyframePayload(Buffer.from([0x7c, 0x81, 0])), 'FU-A start of P slice');
  t.ok(isH264KeyframePayload(Buffer.from([0x78, 0, 2, 0x09, 0xf0, 0, 2, 0x67, 0x42])), 'STAP-A with SPS');
  t.notOk(isH264KeyframePayload(Buffer.from([0x78, 0, 2, 0x09, 0xf0, 0, 9])), 'STAP-A, truncated, no keyframe');
  t.notOk(isH264KeyframePayload(Buffer.alloc(0)), 'padding');
});

const OFFER_HEAD = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\na=fingerprint:sha-256 00:11\r\n';

t.test('offer checks: a clear SC_ERR_SDP for each way an offer is unusable', async (t) => {
  const ok = `${OFFER_HEAD}m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 H264/90000\r\na=fmtp:97 packetization-mode=1;profile-level-id=42e01f\r\n`;
  t.doesNotThrow(() => checkWhipOffer(ok, 32 * 1024));
  const cases: Array<[string, string, RegExp]> = [
    ['too large', ok + 'a=x\r\n'.repeat(20_000), /larger than/],
    ['not SDP', 'hello', /must start with v=0/],
    ['no video', `${OFFER_HEAD}m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n`, /no video m-line/],
    ['recvonly video', ok.replace('a=sendonly', 'a=recvonly'), /does not send/],
    ['no ICE', ok.replace(/a=ice-ufrag:.*\r\n/, ''), /ICE credentials/],
    ['VP8 only', `${OFFER_HEAD}m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n`, /only H\.264/],
    ['mode 0 only', ok.replace('packetization-mode=1', 'packetization-mode=0'), /packetization-mode=1/],
  ];
  for (const [what, sdp, message] of cases) {
    const err = t.throws(() => checkWhipOffer(sdp, 32 * 1024), what) as ScopecastError;
    t.equal(err.code, 'SC_ERR_SDP', what);
    t.match(err.message, message, what);
  }
});

t.test('edge webrtc config: defaults, unknown keys and bad ranges rejected', async (t) => {
  // The least an edge config needs: its credential at the origin and the keys that verify tokens.
  const required = { origin: { ingestKey: TEST_INGEST_KEY }, auth: testAuthConfig() };
  const c = loadEdgeConfig(required);
  t.equal(c.webrtc.enabled, true);
  t.equal(c.webrtc.silenceTimeoutMs, 8000, "a publisher sending no RTP is found within 10 s");
  t.same(c.webrtc.portRange, []);
  const err = t.throws(() => loadEdgeConfig({ ...required, webrtc: { portRange: [50000, 40000], trickle: true } })) as ScopecastError;
  t.equal(err.code, 'SC_ERR_CONFIG_INVALID');
  t.match(err.message, /\/webrtc: unknown key "trickle"/);
  const cross = t.throws(() => loadEdgeConfig({ ...required, webrtc: { portRange: [50000, 40000] } })) as ScopecastError;
  t.match(cross.message, /\/webrtc\/portRange: min must be below max/);
});

async function edgeApp(t: Test): Promise<EdgeApp> {
  const security = testSecurity(t);
  const edge = await build({
    origin: { url: 'http://127.0.0.1:9', ingestKey: TEST_INGEST_KEY },
    webrtc: { interfaceAddress: '127.0.0.1', additionalHostAddresses: ['127.0.0.1'], maxSdpBytes: 8192 },
    // Arbitrary stream names publish here (PHI masking and its fail-closed refusal: phi-mask tests).
    consoles: { allowUnlisted: true },
    ...security,
    // Its recordings go to the test's temp dir (removed at the end), not data/edge.
    workDir: dirname(security.audit.file),
    logLevel: 'silent',
  });
  t.teardown(() => edge.close());
  return edge;
}

t.test('WHIP routes: bad names, bad SDP, size and type limits, PATCH, unknown sessions', async (t) => {
  const { app } = await edgeApp(t);
  // A publisher token for ok1: the least that may publish it.
  const publisher = bearer('publisher', 'ok1');
  const post = (url: string, body: string, type = 'application/sdp', headers: Record<string, string> = publisher) =>
    app.inject({ method: 'POST', url, headers: { ...headers, 'content-type': type }, payload: body });
  for (const name of ['-rf', 'a'.repeat(65), '..%2Fetc', 'x%20y', '%00']) {
    const res = await post(`/whip/${name}`, 'v=0');
    t.equal(res.statusCode, 400, `stream name ${name}`);
    t.equal(res.json().code, 'SC_ERR_STREAM_NAME');
  }
  // The name first, then the token, before the body is read.
  t.equal((await post('/whip/ok1', 'v=0', 'application/sdp', {})).statusCode, 401, 'no token');
  for (const [what, headers] of [['a viewer token', bearer('expert', 'ok1')], ["another stream's publisher token", bearer('publisher', 'ok2')]] as const) {
    const res = await post('/whip/ok1', 'v=0', 'application/sdp', headers);
    t.equal(res.statusCode, 403, what);
    t.equal(res.json().code, 'SC_ERR_FORBIDDEN', what);
  }
  const bad = await post('/whip/ok1', 'this is not sdp');
  t.equal(bad.statusCode, 400);
  t.equal(bad.json().code, 'SC_ERR_SDP');
  const vp8 = await post('/whip/ok1', `${OFFER_HEAD}m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n`);
  t.equal(vp8.json().code, 'SC_ERR_SDP');
  t.equal((await post('/whip/ok1', 'x'.repeat(9000))).statusCode, 413, 'larger than maxSdpBytes');
  t.equal((await post('/whip/ok1', 'v=0', 'text/plain')).statusCode, 415, 'not application/sdp');
  const patch = await app.inject({ method: 'PATCH', url: '/whip/ok1/00000000-0000-0000-0000-000000000000', headers: { 'content-type': 'application/trickle-ice-sdpfrag' }, payload: 'a=x' });
  t.equal(patch.statusCode, 405);
  t.equal(patch.headers['allow'], 'DELETE');
  t.equal(patch.json().code, 'SC_ERR_METHOD_NOT_ALLOWED');
  const unknown = await app.inject({ method: 'DELETE', url: '/whip/ok1/00000000-0000-0000-0000-000000000000', headers: publisher });
  t.equal(unknown.statusCode, 404);
  t.equal(unknown.json().code, 'SC_ERR_WEBRTC_SESSION');
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).json().status, 'ok', 'the edge keeps serving');
});

t.test('WHIP routes: 201 + answer + Location, 409 on a second publisher, DELETE ends encoder', async (t) => {
  const edge = await edgeApp(t);
  const publisher = new WhipPublisher();
  t.teardown(() => publisher.close({ skipDelete: true }));
  const offer = await publisher.offer();
  const headers = { ...bearer('publisher', 'inj1'), 'content-type': 'application/sdp' };
  const res = await edge.app.inject({ method: 'POST', url: '/whip/inj1', headers, payload: offer });
  t.equal(res.statusCode, 201);
  t.equal(res.headers['content-type'], 'application/sdp');
  const location = String(res.headers['location']);
  t.match(location, /^\/whip\/inj1\/[0-9a-f-]{36}$/);
  t.match(res.body, /^v=0/);
  t.match(res.body, /a=rtpmap:\d+ H264\/90000/);
  t.equal(res.body.match(/^a=rtpmap:/gm)?.length, 1, 'exactly one codec answered');
  t.match(res.body, /a=recvonly/);
  t.match(res.body, /a=candidate:.* 127\.0\.0\.1 /, 'loopback candidate');
  const again = await edge.app.inject({ method: 'POST', url: '/whip/inj1', headers, payload: offer });
  t.equal(again.statusCode, 409);
  t.equal(again.json().code, 'SC_ERR_STREAM_BUSY');
  const pipeline = edge.pipelines.get('inj1');
  t.equal(pipeline?.input.kind, 'whip');
  const pid = await new Promise<number>((resolve) => {
    const check = (): void => (pipeline?.encoderPid ? resolve(pipeline.encoderPid) : void setTimeout(check, 20));
    check();
  });
  t.equal((await edge.app.inject({ method: 'DELETE', url: location })).statusCode, 401, 'nobody ends a publish without a token');
  t.equal((await edge.app.inject({ method: 'DELETE', url: location, headers: bearer('publisher', 'other') })).statusCode, 403, "nor with another stream's");
  const del = await edge.app.inject({ method: 'DELETE', url: location, headers: bearer('publisher', 'inj1') });
  t.equal(del.statusCode, 200);
  t.ok(await processGone(pid, 5000), 'encoder gone after DELETE');
  // The pipeline then tries (bounded) to tell the unreachable origin, and removes itself.
  await eventually(() => (edge.pipelines.size === 0 ? true : undefined), 5000, 'pipeline removed');
  t.equal((await edge.app.inject({ method: 'DELETE', url: location, headers: bearer('publisher', 'inj1') })).statusCode, 404, 'DELETE twice');
});
