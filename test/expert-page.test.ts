import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import t from 'tap';
import { expertPlugin } from '../origin/expert-plugin.js';
import { playerPlugin } from '../origin/player-plugin.js';
import {
  DEFAULT_PATH_POLICY,
  INITIAL_PATH_CONTEXT,
  decidePath,
  frameLatency,
  isSdpAnswer,
  preferredCodecs,
  renderExpertPage,
  sessionUrl,
  whepResponseError,
  type ExpertDebugSnapshot,
  type PathContext,
  type WebRtcOutcome,
} from '../player/index.js';
import { WEBRTC_VIEWER_ROLES } from '../lib/security/access.js';
import { testAccessControl, withAccessRoutes } from './helpers/access-control.js';
import { withToken } from './helpers/auth.js';
import { isBlankStats, videoFrameStats, withBrowser } from './helpers/browser.js';
import { observePage, serveHlsDirs, startLiveHls, waitForSnapshot, waitForState } from './helpers/hls.js';

const BROWSER_ARGS = [
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
];

// ---------------------------------------------------------------------------------------------
// Pure pieces.

t.test('decidePath: frames use WebRTC; a failed start retries every 10 s; a drop reconnects 1,2,4,8,8 s', async (t) => {
  const failed: WebRtcOutcome = { kind: 'failed', error: { type: 'webrtcError', details: 'whepRejected', fatal: true, httpStatus: 404 } };
  const dropped: WebRtcOutcome = { kind: 'dropped', error: { type: 'webrtcError', details: 'connectionLost', fatal: true } };
  const frames: WebRtcOutcome = { kind: 'frames' };

  t.same(decidePath(INITIAL_PATH_CONTEXT, frames), { decision: { action: 'use-webrtc' }, next: INITIAL_PATH_CONTEXT });
  let context: PathContext = INITIAL_PATH_CONTEXT;
  const retries: number[] = [];
  for (let i = 0; i < 3; i++) {
    const { decision, next } = decidePath(context, failed);
    t.equal(decision.action, 'fallback');
    if (decision.action === 'fallback') retries.push(decision.retryInMs);
    context = next;
  }
  t.same(retries, [10_000, 10_000, 10_000], 'never started: steady background retry');

  const drop = decidePath(INITIAL_PATH_CONTEXT, dropped);
  t.same(drop.decision, { action: 'fallback', retryInMs: 1000 }, 'a drop falls back at once and reconnects after 1 s');
  context = drop.next;
  const backoff: number[] = [];
  for (let i = 0; i < 5; i++) {
    const { decision, next } = decidePath(context, failed);
    if (decision.action === 'fallback') backoff.push(decision.retryInMs);
    context = next;
  }
  t.same(backoff, [2000, 4000, 8000, 8000, 8000], 'failed reconnects back off, capped at 8 s');
  const back = decidePath(context, frames);
  t.same(back, { decision: { action: 'use-webrtc' }, next: INITIAL_PATH_CONTEXT }, 'frames end the reconnect run');
  t.same(decidePath(back.next, dropped).decision, { action: 'fallback', retryInMs: 1000 }, 'the next drop starts at 1 s again');

  const fast = { ...DEFAULT_PATH_POLICY, retryMs: 50, reconnectInitialMs: 10, reconnectMaxMs: 25 };
  t.same(decidePath(INITIAL_PATH_CONTEXT, failed, fast).decision, { action: 'fallback', retryInMs: 50 });
  t.same(decidePath({ reconnecting: true, attempt: 4 }, failed, fast).decision, { action: 'fallback', retryInMs: 25 });

  // A refused token is not a WebRTC problem: no LL-HLS fallback, no retry.
  for (const httpStatus of [401, 403]) {
    const refused: WebRtcOutcome = { kind: 'failed', error: { type: 'webrtcError', details: 'whepRejected', fatal: true, httpStatus } };
    t.same(decidePath(INITIAL_PATH_CONTEXT, refused), { decision: { action: 'denied' }, next: INITIAL_PATH_CONTEXT }, `WHEP ${httpStatus}`);
    t.same(decidePath({ reconnecting: true, attempt: 2 }, refused).decision, { action: 'denied' }, `WHEP ${httpStatus} while reconnecting`);
  }
});

t.test('WHEP client pieces: codec order, answer check, error data, session URL', async (t) => {
  const codecs = [
    { mimeType: 'video/VP8' },
    { mimeType: 'video/rtx', sdpFmtpLine: 'apt=96' },
    { mimeType: 'video/H264', sdpFmtpLine: 'level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f' },
    { mimeType: 'video/H264', sdpFmtpLine: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f' },
    { mimeType: 'video/H264', sdpFmtpLine: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f' },
    { mimeType: 'video/AV1' },
  ];
  t.same(preferredCodecs(codecs, 'video/H264').map((c) => `${c.mimeType} ${c.sdpFmtpLine ?? ''}`), [
    'video/H264 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
    'video/H264 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f',
    'video/H264 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f',
    'video/rtx apt=96',
  ]);
  t.same(preferredCodecs([{ mimeType: 'audio/opus' }, { mimeType: 'audio/PCMU' }], 'audio/opus'), [{ mimeType: 'audio/opus' }]);
  t.same(preferredCodecs([{ mimeType: 'video/VP8' }], 'video/H264'), [], 'no H264 decoder: no preference set');

  t.ok(isSdpAnswer('v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n'));
  t.notOk(isSdpAnswer('hello, not sdp'));
  t.notOk(isSdpAnswer('{"type":"error"}'));
  t.notOk(isSdpAnswer('v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n'), 'an answer without video is of no use');

  t.same(whepResponseError(404, JSON.stringify({ type: 'error', code: 'SC_ERR_STREAM_NOT_FOUND', message: 'stream not found', details: {}, fatal: true })),
    { type: 'webrtcError', details: 'whepRejected', fatal: true, httpStatus: 404, code: 'SC_ERR_STREAM_NOT_FOUND' });
  t.same(whepResponseError(503, '<html>busy</html>'), { type: 'webrtcError', details: 'whepRejected', fatal: true, httpStatus: 503 });

  t.equal(sessionUrl('/whep/endo/abc', '/whep/endo', 'http://127.0.0.1:8080/expert/endo'), 'http://127.0.0.1:8080/whep/endo/abc');
  t.equal(sessionUrl('abc', '/whep/endo/', 'http://h/expert/endo'), 'http://h/whep/endo/abc', 'relative to the POST URL');
  t.equal(sessionUrl(null, '/whep/endo', 'http://h/'), null);
});

t.test('frameLatency: expectedDisplayTime - captureTime, corrected by the clock offset; none without captureTime', async (t) => {
  t.equal(frameLatency({ expectedDisplayTime: 10_250.4, captureTime: 10_000 }), 250);
  t.equal(frameLatency({ expectedDisplayTime: 10_250, captureTime: 10_000 }, -40), 210);
  t.equal(frameLatency({ expectedDisplayTime: 10_250 }), null);
  t.equal(frameLatency({ expectedDisplayTime: 10_250, captureTime: 0 }), null);
  t.equal(frameLatency({ expectedDisplayTime: 10_250, captureTime: Number.NaN }), null);
});

t.test('expert page HTML escapes what it embeds', async (t) => {
  const html = renderExpertPage({ stream: '"><script>x</script>', hlsPrefix: '/hls', whepPrefix: '/whep', scriptUrl: '/s.js', videoJsCssUrl: '/c.css' });
  t.notMatch(html, /<script>x/);
  t.match(html, /data-stream="&quot;&gt;&lt;script&gt;x&lt;\/script&gt;"/);
  t.match(html, /data-whep-prefix="\/whep"/);
});

// ---------------------------------------------------------------------------------------------
// Routes.

t.test('routes: bad stream names are 400 SC_ERR_STREAM_NAME; page, bundle and assets are served locally with the CSP', async (t) => {
  const app = Fastify();
  await app.register(expertPlugin, { hlsPrefix: '/hls', whepPrefix: '/whep' });
  // Registered next to the watch page, as the origin does: no route clashes.
  await app.register(playerPlugin, { hlsPrefix: '/hls' });
  t.teardown(() => app.close());
  for (const url of ['/expert/..%2Fx', '/expert/..%2Fetc', '/expert/a;rm', '/expert/a%20b', `/expert/${'x'.repeat(65)}`]) {
    const res = await app.inject(url);
    t.equal(res.statusCode, 400, url);
    t.same(res.json(), { type: 'error', code: 'SC_ERR_STREAM_NAME', message: res.json().message, details: {}, fatal: true }, url);
  }
  const page = await app.inject('/expert/endo-1_A');
  t.equal(page.statusCode, 200);
  t.equal(page.headers['cache-control'], 'no-cache');
  t.match(page.headers['content-type'], /^text\/html/);
  const watch = await app.inject('/watch/endo-1_A');
  t.equal(page.headers['content-security-policy'], watch.headers['content-security-policy'], 'same CSP as the watch page');
  const csp = String(page.headers['content-security-policy']);
  t.match(csp, /default-src 'none'/);
  t.match(csp, /connect-src 'self'(;|$)/);
  t.match(csp, /script-src 'self'(;|$)/);
  t.equal(page.headers['referrer-policy'], 'no-referrer', 'a ?token= in the page URL never leaves in a Referer');
  t.match(page.body, /<title>scopecast expert — endo-1_A<\/title>/);
  t.match(page.body, /data-stream="endo-1_A" data-hls-prefix="\/hls" data-whep-prefix="\/whep"/);
  t.match(page.body, /<video id="scopecast-rtc"[^>]* playsinline muted autoplay>/);
  t.notMatch(page.body, /https?:\/\//, 'no external URLs in the page');

  const js = await app.inject('/player/expert.js');
  t.equal(js.statusCode, 200);
  t.match(js.headers['content-type'], /javascript/);
  // The WHEP page is small so the WHEP request starts early; video.js + hls.js come on demand.
  t.ok(js.body.length < 100_000, `the main bundle is small (${js.body.length} bytes)`);
  t.notMatch(js.body, /videojs|Hls\.DefaultConfig/, 'no video.js or hls.js in the main bundle');
  const fallback = await app.inject('/player/expert-fallback.js');
  t.equal(fallback.statusCode, 200);
  t.match(fallback.headers['content-type'], /javascript/);
  t.ok(fallback.body.length > 100_000, 'the fallback bundle carries video.js and hls.js');
  t.match(fallback.body, /__scopecastLlHlsFallback/);
  t.match(js.body, /application\/sdp/);
  const again = await app.inject({ url: '/player/expert.js', headers: { 'if-none-match': String(js.headers.etag) } });
  t.equal(again.statusCode, 304, 'bundle is built once and revalidates by ETag');
  for (const url of ['/player/expert.js.map', '/player/expert/video-js.css', '/player/expert/hls.worker.js', '/player/watch.js']) {
    t.equal((await app.inject(url)).statusCode, 200, url);
  }
});

t.test('plugin options: prefixes must be absolute paths', async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  await t.rejects(async () => {
    await app.register(expertPlugin, { whepPrefix: 'whep' });
    await app.ready();
  }, { code: 'SC_ERR_CONFIG_INVALID' });
});

// ---------------------------------------------------------------------------------------------
// The page in headless Chromium, with a live ffmpeg LL-HLS stream behind a stand-in WHEP route.

interface WhepLog {
  posts: Array<{ contentType: string | undefined; body: string }>;
  deletes: string[];
}

/** Answers a WHEP offer from a real peer (a second Chromium page sending its fake camera). */
interface Answerer {
  answer(offer: string): Promise<string>;
}

type WhepMode = 'not-live' | 'garbage' | Answerer;

async function buildApp(dir: string, mode: { value: WhepMode }, log: WhepLog): Promise<{ app: FastifyInstance; base: string }> {
  const app = Fastify();
  // Tokens as on the origin: WHEP for expert/surgeon/admin, LL-HLS for every viewer role.
  const access = testAccessControl();
  await withAccessRoutes(app, access);
  await app.register(expertPlugin, { hlsPrefix: '/hls', whepPrefix: '/whep' });
  serveHlsDirs(app, { test: dir }, { outage: false }, access);
  app.addContentTypeParser('application/sdp', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  const whepGuard = access.guard(WEBRTC_VIEWER_ROLES, (request) => (request.params as { stream: string }).stream);
  // Stand-in for the WHEP plugin: just the answers under test, behind the same token check.
  app.post<{ Params: { stream: string }; Body: string }>('/whep/:stream', { preHandler: whepGuard }, async (request, reply) => {
    log.posts.push({ contentType: request.headers['content-type'], body: request.body });
    const location = `/whep/${request.params.stream}/s${log.posts.length}`;
    if (mode.value === 'garbage') {
      return reply.code(201).header('Location', location).type('application/sdp').send('hello, this is not SDP');
    }
    if (typeof mode.value === 'object') {
      const answer = await mode.value.answer(request.body);
      return reply.code(201).header('Location', location).type('application/sdp').send(answer);
    }
    return reply.code(404).send({ type: 'error', code: 'SC_ERR_STREAM_NOT_FOUND', message: 'stream not found', details: {}, fatal: true });
  });
  // A blank page on this origin (a secure context) for the sending peer.
  app.get('/sender', async (_request, reply) => reply.type('text/html').send('<!doctype html><title>sender</title>'));
  // A DELETE without the token is refused like any other request (and not logged).
  app.delete('/whep/:stream/:session', { preHandler: whepGuard }, async (request, reply) => {
    log.deletes.push(request.url);
    return reply.code(200).send();
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, base: address };
}

t.test('expert page in Chromium: WHEP refused or garbled falls back to LL-HLS; a real peer plays over WebRTC', async (t) => {
  const { dir } = await startLiveHls(t);
  const mode: { value: WhepMode } = { value: 'not-live' };
  const log: WhepLog = { posts: [], deletes: [] };
  const { app, base } = await buildApp(dir, mode, log);
  t.teardown(() => app.close());

  await withBrowser(t, async (browser) => {
    t.test('POST /whep answers 404: LL-HLS plays, the failed POST is never DELETEd', async (t) => {
      mode.value = 'not-live';
      log.posts.length = 0;
      log.deletes.length = 0;
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const { pageErrors, foreign, consoleLines } = observePage(page, base);
      await page.goto(withToken(`${base}/expert/test`, 'expert', 'test'));
      t.equal(await page.title(), 'scopecast expert — test');
      await waitForSnapshot(page, 'path llhls', () => window.__scopecast?.state === 'playing' && (window.__scopecast as ExpertDebugSnapshot).path === 'llhls', null, 30_000, consoleLines);

      const t0 = await page.evaluate(() => window.__scopecast?.currentTime ?? 0);
      await sleep(2000);
      const t1 = await page.evaluate(() => window.__scopecast?.currentTime ?? 0);
      t.ok(t1 - t0 > 1, `currentTime advanced ${t0.toFixed(2)} -> ${t1.toFixed(2)}`);
      await waitForSnapshot(page, 'a latency figure', () => typeof window.__scopecast?.latencyMs === 'number', null, 10_000, consoleLines);

      const snapshot = (await page.evaluate(() => window.__scopecast)) as ExpertDebugSnapshot | undefined;
      t.ok(snapshot, 'window.__scopecast exists');
      if (!snapshot) return;
      t.equal(snapshot.path, 'llhls');
      t.equal(snapshot.state, 'playing');
      t.equal(snapshot.framesDecoded, 0, 'no WebRTC frames');
      t.ok((snapshot.latencyMs ?? 0) > 0 && (snapshot.latencyMs ?? 0) < 30_000, `LL-HLS latency ${snapshot.latencyMs} ms`);
      t.match(snapshot.errors[0], { type: 'webrtcError', details: 'whepRejected', fatal: true, httpStatus: 404, code: 'SC_ERR_STREAM_NOT_FOUND' });
      t.same(snapshot.errors.filter((e) => e.type !== 'webrtcError' && e.fatal), [], 'no fatal LL-HLS errors');

      t.equal(await page.locator('#scopecast-path').textContent(), 'LL-HLS fallback');
      t.equal(await page.locator('#scopecast-status').textContent(), 'Live');
      t.match(await page.locator('#scopecast-latency').textContent(), /^\d+ ms$/);
      t.equal(await page.locator('#scopecast-rtc').isVisible(), false, 'the WebRTC video is hidden');
      t.equal(await page.locator('.sc-hls video').count(), 1, 'the fallback has its own <video>');

      // What the WHEP client sent: one complete offer, recvonly H264 video and recvonly opus audio.
      t.ok(log.posts.length >= 1, 'POSTed an offer');
      const post = log.posts[0];
      t.equal(post?.contentType, 'application/sdp');
      const sdp = post?.body ?? '';
      t.match(sdp, /^v=0\r\n/);
      const [video = '', audio = ''] = ['video', 'audio'].map((kind) => sdp.split(/\r\n(?=m=)/).find((s) => s.startsWith(`m=${kind} `)) ?? '');
      t.match(video, /a=recvonly/);
      t.match(audio, /a=recvonly/);
      const videoCodecs = [...video.matchAll(/a=rtpmap:\d+ ([^/\r]+)/g)].map((m) => m[1]);
      const audioCodecs = [...audio.matchAll(/a=rtpmap:\d+ ([^/\r]+)/g)].map((m) => m[1]);
      t.ok(videoCodecs.length > 0 && videoCodecs.every((c) => c === 'H264' || c === 'rtx'), `video codecs ${videoCodecs.join(',')}`);
      t.same([...new Set(audioCodecs)], ['opus'], 'audio offers opus only');
      t.match(sdp, /a=candidate:/, 'ICE candidates are in the offer (no trickle)');

      await page.close({ runBeforeUnload: false });
      await sleep(300);
      t.same(log.deletes, [], 'a failed POST left nothing to DELETE');
      t.same(pageErrors, [], 'no uncaught page errors');
      t.same(foreign, [], 'no request leaves the origin');
    });

    t.test('201 with a body that is not SDP: falls back without page errors and DELETEs the session it created', async (t) => {
      mode.value = 'garbage';
      log.posts.length = 0;
      log.deletes.length = 0;
      const page = await browser.newPage();
      const { pageErrors, foreign, consoleLines } = observePage(page, base);
      await page.goto(withToken(`${base}/expert/test`, 'expert', 'test'));
      await waitForState(page, 'playing', 30_000, consoleLines);
      const snapshot = (await page.evaluate(() => window.__scopecast)) as ExpertDebugSnapshot | undefined;
      t.equal(snapshot?.path, 'llhls');
      t.match(snapshot?.errors[0], { type: 'webrtcError', details: 'whepBadAnswer', fatal: true });
      t.equal(log.posts.length, 1);
      t.same(log.deletes, ['/whep/test/s1'], 'the session the 201 created is ended');
      await page.close();
      t.same(pageErrors, [], 'no uncaught page errors');
      t.same(foreign, [], 'no request leaves the origin');
    });

    t.test('a trainee link on the expert page: WHEP answers 403 and the page says so (no quiet LL-HLS)', async (t) => {
      mode.value = 'not-live';
      log.posts.length = 0;
      log.deletes.length = 0;
      const page = await browser.newPage();
      const { pageErrors, foreign, consoleLines } = observePage(page, base);
      const whep: number[] = [];
      const hls: string[] = [];
      page.on('response', (r) => {
        if (r.url().includes('/whep/')) whep.push(r.status());
        if (r.url().includes('/hls/')) hls.push(r.url());
      });
      await page.goto(withToken(`${base}/expert/test`, 'trainee', 'test'));
      t.equal(page.url(), `${base}/expert/test`, 'the token left the address bar');
      await waitForState(page, 'denied', 15_000, consoleLines);
      const snapshot = (await page.evaluate(() => window.__scopecast)) as ExpertDebugSnapshot;
      t.match(snapshot.errors[0], { type: 'webrtcError', details: 'whepRejected', httpStatus: 403, code: 'SC_ERR_FORBIDDEN' });
      t.equal(snapshot.path, null, 'no delivery path');
      t.same(whep, [403], 'WHEP refused the trainee token');
      t.equal(log.posts.length, 0, 'the stand-in never saw the offer');
      t.equal(await page.locator('#scopecast-status').textContent(), 'This link (trainee) does not open the expert view — ask the coordinator for a new link.');
      t.equal(await page.locator('#scopecast-status').getAttribute('data-state'), 'denied');
      t.equal(await page.locator('#scopecast-stage').isVisible(), false, 'no empty player under the message');
      await sleep(3500);
      t.same(whep, [403], 'no WHEP retry');
      t.same(hls, [], 'no LL-HLS fallback for a trainee link');
      t.equal(await page.locator('.sc-hls video').count(), 0);
      t.same(pageErrors, [], 'no uncaught page errors');
      t.same(foreign, [], 'no request leaves the origin');
      await page.close();
    });

    t.test('no token: the message, no WHEP offer', async (t) => {
      const page = await browser.newPage();
      const { pageErrors, consoleLines } = observePage(page, base);
      const whep: string[] = [];
      page.on('request', (r) => { if (r.url().includes('/whep/') || r.url().includes('/hls/')) whep.push(r.url()); });
      await page.goto(`${base}/expert/test`);
      await waitForState(page, 'denied', 10_000, consoleLines);
      t.equal(await page.locator('#scopecast-status').textContent(), 'This link has no access token — ask the coordinator for a new link.');
      await sleep(500);
      t.same(whep, [], 'nothing was asked for');
      t.same(pageErrors, []);
      await page.close();
    });

    t.test('WebRTC from a real peer: plays with frame latency; a drop falls back to LL-HLS and reconnects', async (t) => {
      log.posts.length = 0;
      log.deletes.length = 0;
      const sender = await browser.newPage();
      await sender.goto(`${base}/sender`);
      // The sending peer: fake camera + microphone, H264 chosen by the offer's codec preference.
      const answerer: Answerer = {
        answer: (offer) => sender.evaluate(async (sdp) => {
          const w = window as unknown as { pcs?: RTCPeerConnection[] };
          const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
          const pc = new RTCPeerConnection();
          (w.pcs ??= []).push(pc);
          for (const track of media.getTracks()) pc.addTrack(track, media);
          await pc.setRemoteDescription({ type: 'offer', sdp });
          await pc.setLocalDescription(await pc.createAnswer());
          await new Promise<void>((resolve) => {
            if (pc.iceGatheringState === 'complete') resolve();
            pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
            setTimeout(resolve, 2000);
          });
          return pc.localDescription?.sdp ?? '';
        }, offer),
      };
      const dropPeers = (): Promise<void> => sender.evaluate(() => {
        const w = window as unknown as { pcs?: RTCPeerConnection[] };
        for (const pc of w.pcs ?? []) pc.close();
        w.pcs = [];
      });
      mode.value = answerer;

      const page = await browser.newPage();
      const { pageErrors, foreign, consoleLines } = observePage(page, base);
      await page.goto(withToken(`${base}/expert/test`, 'expert', 'test'));
      await waitForSnapshot(page, 'path webrtc', () => window.__scopecast?.state === 'playing' && (window.__scopecast as ExpertDebugSnapshot).path === 'webrtc', null, 20_000, consoleLines);
      t.equal(await page.locator('#scopecast-path').textContent(), 'WebRTC');
      t.equal(await page.locator('.sc-hls video').count(), 0, 'no LL-HLS pipeline while WebRTC plays');
      const t0 = await page.evaluate(() => window.__scopecast?.currentTime ?? 0);
      // Progress, not speed: a starved CI box may decode slowly.
      await waitForSnapshot(page, 'ten frames decoded', () => ((window.__scopecast as ExpertDebugSnapshot | undefined)?.framesDecoded ?? 0) > 10, null, 20_000, consoleLines);
      // The playhead moves on (bounded wait: a starved box may pause it for a moment).
      await waitForSnapshot(page, 'the playhead advancing', (start) => (window.__scopecast?.currentTime ?? 0) > Number(start), String(t0), 20_000, consoleLines);
      const snap1 = (await page.evaluate(() => window.__scopecast)) as ExpertDebugSnapshot;
      t.ok(snap1.currentTime > t0, `currentTime advanced ${t0.toFixed(2)} -> ${snap1.currentTime.toFixed(2)}`);
      t.ok(snap1.framesDecoded > 10, `framesDecoded ${snap1.framesDecoded}`);
      t.same(snap1.errors, [], 'no errors on a clean WebRTC start');
      const stats = await videoFrameStats(page, '#scopecast-rtc');
      t.ok(stats.width > 0 && !isBlankStats(stats), `WebRTC frame ${stats.width}x${stats.height}, variance ${stats.variance.toFixed(1)}`);
      // captureTime needs RTCP sender reports: give them a few seconds.
      await waitForSnapshot(page, 'a WebRTC latency figure', () => typeof window.__scopecast?.latencyMs === 'number', null, 10_000, consoleLines);
      const latency = await page.evaluate(() => window.__scopecast?.latencyMs ?? null);
      // A sanity bound (a wrong clock is off by hours), not a performance target.
      t.ok(latency !== null && latency >= 0 && latency < 10_000, `WebRTC frame latency ${latency} ms`);
      t.equal(log.deletes.length, 0, 'nothing DELETEd while playing');

      // The peer goes away and WHEP refuses for a while: LL-HLS takes over at once.
      mode.value = 'not-live';
      await dropPeers();
      await waitForSnapshot(page, 'path llhls after the drop', () => (window.__scopecast as ExpertDebugSnapshot).path === 'llhls', null, 15_000, consoleLines);
      const snap2 = (await page.evaluate(() => window.__scopecast)) as ExpertDebugSnapshot;
      t.match(snap2.errors.find((e) => e.type === 'webrtcError'), { details: 'connectionLost', fatal: true });
      t.same(log.deletes, ['/whep/test/s1'], 'the dropped session is DELETEd on switching');
      await waitForState(page, 'playing', 30_000, consoleLines);
      t.equal(await page.locator('#scopecast-path').textContent(), 'LL-HLS fallback');

      // WHEP works again: the background reconnect (backoff, at most 8 s) brings WebRTC back.
      const postsBefore = log.posts.length;
      mode.value = answerer;
      await waitForSnapshot(page, 'back on webrtc', () => (window.__scopecast as ExpertDebugSnapshot).path === 'webrtc', null, 20_000, consoleLines);
      t.equal(await page.locator('.sc-hls video').count(), 0, 'the LL-HLS pipeline was torn down');
      const last = `/whep/test/s${log.posts.length}`;
      t.ok(log.posts.length > postsBefore, 'reconnected with a new POST');

      await page.close({ runBeforeUnload: true });
      const deadline = Date.now() + 3000;
      while (!log.deletes.includes(last) && Date.now() < deadline) await sleep(50);
      t.ok(log.deletes.includes(last), `leaving the page DELETEs ${last}: ${JSON.stringify(log.deletes)}`);
      t.same(pageErrors, [], 'no uncaught page errors');
      t.same(foreign, [], 'no request leaves the origin');
      await sender.close();
    });
  }, BROWSER_ARGS);
});
