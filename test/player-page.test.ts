import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Page } from 'playwright-core';
import t from 'tap';
import { FfmpegProcess } from '../codecs/ffmpeg/index.js';
import { playerPlugin } from '../origin/player-plugin.js';
import { LocalAnnotationHub } from '../origin/annotations/hub.js';
import { EdgeClocks } from '../origin/latency/edge-clocks.js';
import { LatencyBook } from '../origin/latency/latency-book.js';
import { wsPlugin } from '../origin/ws-plugin.js';
import {
  Bus,
  backoffDelay,
  decideRecovery,
  latencyLevel,
  measureLatency,
  renderWatchPage,
  type PlaybackActions,
  type PlayerError,
  type WatchEvents,
} from '../player/index.js';
import { LatencyBadge } from '../player/watch/latency-badge.js';
import { StatusController } from '../player/watch/status-controller.js';
import type { AccessControl } from '../lib/security/access.js';
import { testAccessControl, withAccessRoutes } from './helpers/access-control.js';
import { TEST_INGEST_KEY, testToken, withToken } from './helpers/auth.js';
import { isBlank, isBlankStats, screenshotElement, videoFrameStats, withBrowser } from './helpers/browser.js';
import { captureConsole, liveHlsArgs, observePage, serveHlsDirs, startLiveHls, waitForFile, waitForSnapshot, waitForState, type HlsSwitch } from './helpers/hls.js';

// ---------------------------------------------------------------------------------------------
// Fixtures: a real ffmpeg HLS muxer (helpers/hls.ts), and a tiny static route standing in for the HLS plugin.

async function buildApp(streams: Record<string, string>, control: HlsSwitch = { outage: false }): Promise<{ app: FastifyInstance; base: string; access: AccessControl }> {
  const app = Fastify();
  // Tokens as on the origin: the HLS stand-in and the socket check them; the page refreshes its own.
  const access = testAccessControl();
  await withAccessRoutes(app, access);
  await app.register(playerPlugin, { hlsPrefix: '/hls' });
  // The page's origin link (clock sync, latency reports, annotations) needs the real socket.
  await app.register(wsPlugin, { latency: new LatencyBook(), edgeClocks: new EdgeClocks(), annotations: new LocalAnnotationHub(), access, ingestKeys: [TEST_INGEST_KEY] });
  serveHlsDirs(app, streams, control, access);
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, base: address, access };
}

// ---------------------------------------------------------------------------------------------
// Pure pieces of the page.

t.test('decideRecovery: one place maps errors to actions', async (t) => {
  const err = (type: string, details: string, fatal = true, httpStatus?: number): PlayerError =>
    httpStatus === undefined ? { type, details, fatal } : { type, details, fatal, httpStatus };
  t.same(decideRecovery(err('networkError', 'fragLoadError', false), 0), { action: 'none' });
  t.same(decideRecovery(err('networkError', 'manifestLoadError', true, 404), 0), { action: 'reload', state: 'waiting' });
  t.same(decideRecovery(err('networkError', 'manifestLoadError', true, 503), 0), { action: 'reload', state: 'reconnecting' });
  t.same(decideRecovery(err('networkError', 'levelLoadError', true, 404), 0), { action: 'reload', state: 'reconnecting' });
  t.same(decideRecovery(err('mediaError', 'bufferAppendError'), 0), { action: 'recover-media' });
  t.same(decideRecovery(err('mediaError', 'bufferAppendError'), 1), { action: 'swap-codec-and-recover' });
  t.same(decideRecovery(err('mediaError', 'bufferAppendError'), 2), { action: 'restart', state: 'reconnecting' });
  t.same(decideRecovery(err('playerError', 'mseUnsupported'), 0), { action: 'give-up' });
  t.same(decideRecovery(err('muxError', 'fragParsingError'), 0), { action: 'restart', state: 'error' });
  // A refused token is refused again: no retry, whether hls.js gave up on it or not.
  t.same(decideRecovery(err('networkError', 'manifestLoadError', true, 401), 0), { action: 'denied' });
  t.same(decideRecovery(err('networkError', 'levelLoadError', true, 403), 0), { action: 'denied' });
  t.same(decideRecovery(err('networkError', 'fragLoadError', false, 401), 0), { action: 'denied' });
  t.same([0, 1, 2, 3, 4, 9].map((n) => backoffDelay(n)), [1000, 2000, 4000, 8000, 8000, 8000]);
});

t.test('latency: measurement and colour levels', async (t) => {
  t.equal(measureLatency(null, 5000), null);
  t.equal(measureLatency(new Date(1000), 2500), 1500);
  t.equal(measureLatency(new Date(Number.NaN), 2500), null);
  t.equal(latencyLevel(null), 'unknown');
  t.equal(latencyLevel(1499), 'good');
  t.equal(latencyLevel(1500), 'warn');
  t.equal(latencyLevel(2999), 'warn');
  t.equal(latencyLevel(3000), 'bad');
});

/** Just what the controllers touch on an element. */
function fakeElement(): HTMLElement {
  return { textContent: '', dataset: {} } as unknown as HTMLElement;
}

t.test('LatencyBadge uses the injected clock and destroy() stops it', async (t) => {
  const bus = new Bus<WatchEvents>();
  const seen: Array<number | null> = [];
  const off = bus.on('latency', (ms) => seen.push(ms));
  const element = fakeElement();
  let pdt: Date | null = null;
  const badge = new LatencyBadge({ element, bus, playingDate: () => pdt, now: () => 10_000, intervalMs: 60_000 });
  t.equal(badge.tick(), null);
  t.equal(element.textContent, '—');
  t.equal(element.dataset.level, 'unknown');
  pdt = new Date(8000);
  t.equal(badge.tick(), 2000);
  t.equal(element.textContent, '2000 ms');
  t.equal(element.dataset.level, 'warn');
  badge.setClock(() => 9000);
  t.equal(badge.tick(), 1000);
  t.equal(element.dataset.level, 'good');
  t.same(seen, [null, 2000, 1000]);
  badge.destroy();
  off();
  t.equal(bus.listenerCount(), 0);
});

t.test('StatusController: 404 master waits and retries; playing resets; destroy undoes everything', async (t) => {
  const bus = new Bus<WatchEvents>();
  const calls: string[] = [];
  const actions: PlaybackActions = {
    reload: () => calls.push('reload'),
    recoverMediaError: () => calls.push('recover'),
    swapAudioCodecAndRecover: () => calls.push('swap'),
    restart: () => calls.push('restart'),
    stop: () => calls.push('stop'),
  };
  const element = fakeElement();
  const status = new StatusController({ bus, actions, element, initialBackoffMs: 20, maxBackoffMs: 40 });
  const states: string[] = [];
  const offState = bus.on('state', (state) => states.push(state));
  bus.emit('error', { type: 'networkError', details: 'manifestLoadError', fatal: true, httpStatus: 404 });
  t.equal(status.state, 'waiting');
  t.match(element.textContent, /Waiting for stream/);
  t.equal(element.dataset.state, 'waiting');
  await sleep(60);
  t.same(calls, ['reload']);
  bus.emit('media-playing');
  t.equal(status.state, 'playing');
  bus.emit('error', { type: 'mediaError', details: 'bufferAppendError', fatal: true });
  bus.emit('error', { type: 'mediaError', details: 'bufferAppendError', fatal: true });
  t.same(calls, ['reload', 'recover', 'swap']);
  bus.emit('level-updated', true);
  t.equal(status.state, 'playing');
  bus.emit('level-updated', false);
  t.equal(status.state, 'ended');
  t.equal(element.textContent, 'Stream ended');
  bus.emit('error', { type: 'networkError', details: 'levelLoadError', fatal: true });
  t.equal(status.state, 'ended', 'errors after the end change nothing');
  t.same(states, ['waiting', 'playing', 'ended']);
  // A refused request: no retry, playback stopped, the page's access controller words it.
  const denials: PlayerError[] = [];
  const element3 = fakeElement();
  const status3 = new StatusController({ bus, actions, element: element3, initialBackoffMs: 20, onDenied: (e) => { denials.push(e); status3.deny('This link has expired — ask the coordinator for a new link.'); } });
  calls.length = 0;
  bus.emit('error', { type: 'networkError', details: 'levelLoadError', fatal: true, httpStatus: 401 });
  t.same(denials.map((e) => e.httpStatus), [401]);
  t.equal(status3.state, 'denied');
  t.equal(element3.textContent, 'This link has expired — ask the coordinator for a new link.');
  t.equal(element3.dataset.state, 'denied');
  t.ok(calls.includes('stop') && !calls.includes('reload'), `stopped, no reload: ${calls.join(',')}`);
  bus.emit('media-playing');
  bus.emit('error', { type: 'networkError', details: 'fragLoadError', fatal: true, httpStatus: 503 });
  t.equal(status3.state, 'denied', 'denied is final: later events change nothing');
  status3.destroy();
  // A pending retry is cancelled by destroy().
  const status2 = new StatusController({ bus, actions, element, initialBackoffMs: 20 });
  bus.emit('error', { type: 'networkError', details: 'fragLoadError', fatal: true });
  status.destroy();
  status2.destroy();
  offState();
  t.equal(bus.listenerCount(), 0, 'no listener left on the bus');
  const before = calls.length;
  await sleep(60);
  t.equal(calls.length, before, 'no retry fired after destroy');
});

t.test('watch page HTML escapes what it embeds', async (t) => {
  const html = renderWatchPage({ stream: '"><script>x</script>', hlsPrefix: '/hls', scriptUrl: '/s.js', videoJsCssUrl: '/c.css' });
  t.notMatch(html, /<script>x/);
  t.match(html, /data-stream="&quot;&gt;&lt;script&gt;x&lt;\/script&gt;"/);
});

// ---------------------------------------------------------------------------------------------
// Routes.

t.test('routes: bad stream names are 400 SC_ERR_STREAM_NAME; assets are served locally', async (t) => {
  const app = Fastify();
  await app.register(playerPlugin, { hlsPrefix: '/hls' });
  // The page's origin link (clock sync, latency reports, annotations) needs the real socket.
  await app.register(wsPlugin, { latency: new LatencyBook(), edgeClocks: new EdgeClocks(), annotations: new LocalAnnotationHub(), access: testAccessControl(), ingestKeys: [TEST_INGEST_KEY] });
  t.teardown(() => app.close());
  for (const url of ['/watch/..%2Fetc', '/watch/a;rm', '/watch/a%20b', `/watch/${'x'.repeat(65)}`]) {
    const res = await app.inject(url);
    t.equal(res.statusCode, 400, url);
    t.same(res.json(), { type: 'error', code: 'SC_ERR_STREAM_NAME', message: res.json().message, details: {}, fatal: true }, url);
  }
  const page = await app.inject('/watch/endo-1_A');
  t.equal(page.statusCode, 200);
  t.equal(page.headers['cache-control'], 'no-cache');
  // The page's URL may carry ?token=: it must never leave in a Referer.
  t.equal(page.headers['referrer-policy'], 'no-referrer');
  t.match(page.body, /<meta name="referrer" content="no-referrer">/);
  t.equal((await app.inject('/watch/endo-1_A?token=x.y.z')).statusCode, 200, 'the page itself is public; its data is not');
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.body, /data-stream="endo-1_A"/);
  t.match(page.body, /<title>scopecast — endo-1_A<\/title>/);
  t.notMatch(page.body, /https?:\/\//, 'no external URLs in the page');
  const js = await app.inject('/player/watch.js');
  t.equal(js.statusCode, 200);
  t.match(js.headers['content-type'], /javascript/);
  t.ok(js.body.length > 100_000, 'bundle contains video.js and hls.js');
  const again = await app.inject({ url: '/player/watch.js', headers: { 'if-none-match': String(js.headers.etag) } });
  t.equal(again.statusCode, 304, 'bundle is built once and revalidates by ETag');
  for (const url of ['/player/video-js.css', '/player/hls.worker.js', '/player/watch.js.map']) {
    t.equal((await app.inject(url)).statusCode, 200, url);
  }
});

// ---------------------------------------------------------------------------------------------
// The page in headless Chromium.

t.test('watch page plays a live ffmpeg HLS stream in Chromium', async (t) => {
  const { dir } = await startLiveHls(t);
  const control: HlsSwitch = { outage: false };
  const { app, base } = await buildApp({ test: dir }, control);
  t.teardown(() => app.close());

  await withBrowser(t, async (browser) => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const { pageErrors, foreign, consoleLines } = observePage(page, base);
    // What the page sends: HLS requests (their Authorization) and its WebSocket URL.
    const hlsAuth: Array<{ url: string; authorization: string | undefined }> = [];
    page.on('request', (request) => {
      if (!request.url().includes('/hls/')) return;
      // A request still in flight when the page closes has no headers to read: not a finding.
      request.allHeaders().then((headers) => hlsAuth.push({ url: request.url(), authorization: headers.authorization }), () => {});
    });
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    // A short-lived token (24 s): the page must refresh it (at half life) to keep going.
    const token = testToken('trainee', 'test', { ttlSeconds: 24 });
    await page.goto(`${base}/watch/test?token=${token}`);
    t.equal(await page.title(), 'scopecast — test');
    t.equal(page.url(), `${base}/watch/test`, 'the token left the address bar at once');
    await waitForState(page, 'playing', 30_000, consoleLines);
    t.ok(hlsAuth.length > 0 && hlsAuth.every((r) => r.authorization?.startsWith('Bearer ') && !r.url.includes('token=')),
      `every HLS request carries the token as a header, never in the URL (${hlsAuth.length} requests)`);
    t.ok(sockets.length > 0 && sockets.every((url) => new URL(url).searchParams.get('token') !== null), 'the WebSocket carries it as ?token=');

    const t0 = await page.evaluate(() => document.querySelector('video')?.currentTime ?? 0);
    await sleep(2000);
    const t1 = await page.evaluate(() => document.querySelector('video')?.currentTime ?? 0);
    t.ok(t1 - t0 > 1, `currentTime advanced ${t0.toFixed(2)} -> ${t1.toFixed(2)}`);

    await page.waitForFunction(() => typeof window.__scopecast?.latencyMs === 'number', null, { timeout: 10_000 });
    const snapshot = await page.evaluate(() => window.__scopecast);
    t.ok(snapshot, 'window.__scopecast exists');
    if (!snapshot) return;
    t.equal(snapshot.state, 'playing');
    t.ok(Number.isFinite(snapshot.latencyMs) && (snapshot.latencyMs ?? 0) > 0 && (snapshot.latencyMs ?? 0) < 30_000,
      `latency ${snapshot.latencyMs} ms`);
    t.ok(snapshot.currentTime > 0, 'snapshot currentTime follows the video');
    t.same(snapshot.errors.filter((e) => e.fatal), [], 'no fatal errors');

    const badge = await page.locator('#scopecast-latency').evaluate((el: HTMLElement) => ({ text: el.textContent, level: el.dataset.level }));
    t.match(badge.text, /^\d+ ms$/);
    t.match(badge.level, /^(good|warn|bad)$/);
    t.equal(await page.locator('#scopecast-status').textContent(), 'Live');
    t.equal(await page.locator('video').count(), 1, 'video.js wraps the one <video>, no second element');

    // video.js moves the element's id to its wrapper <div>; the <video> becomes #scopecast-video_html5_api.
    const stats = await videoFrameStats(page, '.sc-stage video');
    t.equal(stats.width, 640);
    t.equal(stats.height, 360);
    t.notOk(isBlankStats(stats), `frame not blank (mean ${stats.mean.toFixed(1)}, variance ${stats.variance.toFixed(1)}, ${stats.distinct} levels)`);
    const shot = await screenshotElement(page, '.sc-stage video');
    t.notOk(await isBlank(page, shot), 'screenshot of the video is not blank');

    // The origin link drops: hls.js gives up after its own retries, we show "reconnecting",
    // and once the origin answers again the backoff retry brings playback back.
    control.outage = true;
    await waitForState(page, 'reconnecting', 30_000, consoleLines);
    t.match(await page.locator('#scopecast-status').textContent(), /reconnecting/);
    control.outage = false;
    await waitForState(page, 'playing', 30_000, consoleLines);
    const afterOutage = await page.evaluate(() => window.__scopecast?.errors.filter((e) => e.fatal) ?? []);
    t.ok(afterOutage.length > 0 && afterOutage.every((e) => e.type === 'networkError' && e.httpStatus === 503),
      `only the outage's network errors were fatal: ${JSON.stringify(afterOutage)}`);

    // Refreshed at half life (POST /api/tokens/refresh): a new token, the same grant; the next
    // requests use it.
    await waitForSnapshot(page, 'a token refresh', () => (window.__scopecastAccess?.refreshes ?? 0) >= 1, null, 30_000, consoleLines);
    const access = await page.evaluate(() => window.__scopecastAccess);
    t.match(access, { hasToken: true, role: 'trainee', stream: 'test', denied: null });
    const firstExp = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp as number;
    t.ok((access?.exp ?? 0) > firstExp, `the refreshed token expires later (${access?.exp} > ${firstExp})`);
    const seen = hlsAuth.length;
    await sleep(2000);
    const after = hlsAuth.slice(seen);
    t.ok(after.length > 0 && after.every((r) => r.authorization !== `Bearer ${token}`), 'requests after the refresh carry the new token');
    t.equal(await page.evaluate(() => window.__scopecast?.state), 'playing');

    t.same(pageErrors, [], 'no uncaught page errors');
    t.same(consoleLines.filter((line) => !line.startsWith('log:') && !line.startsWith('debug:') && !/503/.test(line)), [],
      'no console errors or warnings besides the outage');
    t.same(foreign, [], 'no request leaves the origin');
    await page.close();
  });
});

t.test('access: no token, a token for another stream, a revoked token: the page says so and stops asking', async (t) => {
  const { dir } = await startLiveHls(t);
  const { app, base, access } = await buildApp({ test: dir });
  t.teardown(() => app.close());
  await withBrowser(t, async (browser) => {
    const status = async (page: Page): Promise<{ state: string | undefined; text: string | null; access: string | undefined }> =>
      page.evaluate(() => {
        const line = document.getElementById('scopecast-status');
        return { state: line?.dataset.state, text: line?.textContent ?? null, access: document.getElementById('scopecast-watch')?.dataset.access };
      });

    t.test('no token: the message, no media request', async (t) => {
      const page = await browser.newPage();
      const { pageErrors, consoleLines } = observePage(page, base);
      const hls: string[] = [];
      page.on('request', (r) => { if (r.url().includes('/hls/')) hls.push(r.url()); });
      await page.goto(`${base}/watch/test`);
      await waitForState(page, 'denied', 10_000, consoleLines);
      t.same(await status(page), { state: 'denied', text: 'This link has no access token — ask the coordinator for a new link.', access: 'denied' });
      t.equal(await page.locator('#scopecast-stage').isVisible(), false, 'no empty player under the message');
      await sleep(500);
      t.same(hls, [], 'nothing was asked for');
      t.same(pageErrors, []);
      await page.close();
    });

    t.test('a token for another stream: 403 on the first playlist, the message names both', async (t) => {
      const page = await browser.newPage();
      const { pageErrors, consoleLines } = observePage(page, base);
      const hls: string[] = [];
      page.on('request', (r) => { if (r.url().includes('/hls/')) hls.push(r.url()); });
      await page.goto(withToken(`${base}/watch/test`, 'trainee', 'other-or'));
      await waitForState(page, 'denied', 15_000, consoleLines);
      t.same(await status(page), { state: 'denied', text: 'This link is not valid for this stream (test): it is for other-or — ask the coordinator for a new link.', access: 'denied' });
      const snapshot = await page.evaluate(() => window.__scopecast);
      t.match(snapshot?.errors[0], { type: 'networkError', details: 'manifestLoadError', httpStatus: 403, code: 'SC_ERR_FORBIDDEN' });
      const asked = hls.length;
      await sleep(2500);
      t.equal(hls.length, asked, `no retry after the refusal (${asked} request(s))`);
      t.equal(await page.evaluate(() => window.__scopecastAccess?.denied), 'tokenForbidden');
      t.same(pageErrors, []);
      await page.close();
    });

    t.test('revoked while playing: the socket and the next playlist are refused; playback stops with the message', async (t) => {
      const page = await browser.newPage();
      const { pageErrors, consoleLines } = observePage(page, base);
      await page.goto(`${base}/watch/test?token=${testToken('trainee', 'test', { jti: 'revoke-me-1' })}`);
      await waitForState(page, 'playing', 30_000, consoleLines);
      await access.revoke('revoke-me-1', Math.floor(Date.now() / 1000) + 3600);
      await waitForState(page, 'denied', 15_000, consoleLines);
      t.same(await status(page), { state: 'denied', text: 'This link is no longer valid (withdrawn or not recognised) — ask the coordinator for a new link.', access: 'denied' });
      await sleep(1000);
      t.equal(await page.evaluate(() => (document.querySelector('.sc-stage video') as HTMLVideoElement | null)?.paused), true, 'the video stopped');
      t.same(pageErrors, []);
      await page.close();
    });
  });
});

t.test('a stream that has not started shows "waiting" (master 404), then plays once it starts', async (t) => {
  const streams: Record<string, string> = {};
  const { app, base } = await buildApp(streams);
  const dir = await mkdtemp(join(tmpdir(), 'scopecast-late-'));
  let ffmpeg: FfmpegProcess | null = null;
  t.teardown(async () => {
    await ffmpeg?.close();
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });
  await withBrowser(t, async (browser) => {
    const page = await browser.newPage();
    const consoleLines = captureConsole(page);
    await page.goto(withToken(`${base}/watch/late`, 'trainee', 'late'));
    await waitForState(page, 'waiting', 15_000, consoleLines);
    const snapshot = await page.evaluate(() => window.__scopecast);
    t.match(snapshot?.errors[0], { type: 'networkError', details: 'manifestLoadError', fatal: true, httpStatus: 404 });
    t.match(await page.locator('#scopecast-status').textContent(), /Waiting for stream/);
    t.equal(snapshot?.latencyMs, null);
    t.equal(await page.locator('#scopecast-latency').textContent(), '—');

    // The surgeon goes live: the page's next retry finds the stream.
    ffmpeg = new FfmpegProcess({ args: liveHlsArgs(dir, { live: true }) });
    await waitForFile(join(dir, 'index.m3u8'), 15_000);
    streams.late = dir;
    await waitForState(page, 'playing', 30_000, consoleLines);
    t.pass('playing after the stream appeared');
    await page.close();
  });
});

t.test('a playlist with EXT-X-ENDLIST shows "Stream ended"', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'scopecast-vod-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ffmpeg = new FfmpegProcess({ args: liveHlsArgs(dir, { live: false }) });
  const exit = await ffmpeg.exited();
  t.equal(exit.code, 0, exit.stderrTail);
  const { app, base } = await buildApp({ vod: dir });
  t.teardown(() => app.close());
  await withBrowser(t, async (browser) => {
    const page = await browser.newPage();
    const consoleLines = captureConsole(page);
    await page.goto(withToken(`${base}/watch/vod`, 'trainee', 'vod'));
    await waitForState(page, 'ended', 15_000, consoleLines);
    t.equal(await page.locator('#scopecast-status').textContent(), 'Stream ended');
    await page.close();
  });
});
