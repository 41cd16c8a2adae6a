// The page side of annotations, pure parts: where the picture is in a letterboxed <video>, pointer
// pixels to frame coordinates, gestures to annotations, the event store (dedupe, order, resume
// seq, compaction that never changes what is on screen), ids, and the pages' HTML, CSP and routes.
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify from 'fastify';
import type { Page } from 'playwright-core';
import t from 'tap';
import { WEBRTC_VIEWER_ROLES } from '../lib/security/access.js';
import { testAccessControl, withAccessRoutes } from './helpers/access-control.js';
import { testToken, withToken } from './helpers/auth.js';
import { withBrowser } from './helpers/browser.js';
import { observePage, type PageObserver } from './helpers/hls.js';
import { monitorPlugin } from '../edge/monitor-plugin.js';
import { MAX_STROKE_POINTS, visibleAt, type Annotation, type AnnotationEvent, type AnnotatorRole } from '../lib/annotations.js';
import {
  AnnotationStore,
  Gesture,
  cleanLabel,
  compactEvents,
  displayedRect,
  monitorPageCsp,
  monotonic,
  newAnnotationId,
  normalisedRadius,
  originEndpoints,
  parseFadeMs,
  renderExpertPage,
  renderMonitorPage,
  renderWatchPage,
  toNormalised,
  toPixels,
} from '../player/index.js';

t.test('displayedRect: object-fit contain, letterbox and pillarbox, centred', async (t) => {
  t.same(displayedRect(1280, 720, 1280, 720), { x: 0, y: 0, width: 1280, height: 720 }, 'same aspect fills the box');
  t.same(displayedRect(1920, 1080, 640, 360), { x: 0, y: 0, width: 640, height: 360 }, 'scaled down');
  // 4:3 ultrasound in a 16:9 box: bars left and right.
  t.same(displayedRect(640, 480, 1280, 720), { x: 160, y: 0, width: 960, height: 720 }, 'pillarbox');
  // 16:9 in a square box: bars top and bottom.
  t.same(displayedRect(1280, 720, 800, 800), { x: 0, y: 175, width: 800, height: 450 }, 'letterbox');
  t.same(displayedRect(0, 0, 640, 360), { x: 0, y: 0, width: 640, height: 360 }, 'unknown video size: the whole box');
  t.same(displayedRect(1280, 720, 0, 360), { x: 0, y: 0, width: 0, height: 0 }, 'no box: no picture');
});

t.test('toNormalised / toPixels: pointer pixels to frame coordinates and back, bars excluded', async (t) => {
  const rect = displayedRect(640, 480, 1280, 720); // x 160..1120
  t.same(toNormalised(160, 0, rect), [0, 0], 'top left of the picture');
  t.same(toNormalised(1120, 720, rect), [1, 1], 'bottom right');
  t.same(toNormalised(640, 360, rect), [0.5, 0.5], 'centre');
  t.equal(toNormalised(100, 360, rect), null, 'on the left bar');
  t.equal(toNormalised(1200, 360, rect), null, 'on the right bar');
  t.same(toNormalised(100, 800, rect, true), [0, 1], 'clamped onto the picture edge during a drag');
  t.equal(toNormalised(10, 10, { x: 0, y: 0, width: 0, height: 0 }), null, 'no picture');
  for (const p of [[0.25, 0.75], [0.1, 0.9], [1, 0]] as const) {
    const [x, y] = toPixels([p[0], p[1]], rect);
    const back = toNormalised(x, y, rect);
    t.ok(back && Math.abs(back[0] - p[0]) < 1e-9 && Math.abs(back[1] - p[1]) < 1e-9, `round trip ${p.join(',')}`);
  }
  // The same spot on the frame maps to the same normalised point at any display size.
  const small = displayedRect(640, 480, 320, 180);
  const [sx, sy] = toPixels([0.3, 0.6], small);
  t.same(toNormalised(sx, sy, small)?.map((v) => Math.round(v * 1e6) / 1e6), [0.3, 0.6]);
  t.equal(Math.round(normalisedRadius([0.5, 0.5], [0.5, 0.75], 9 / 16) * 1e6) / 1e6, 0.140625, 'radius in frame widths: vertical distance scaled by the aspect');
});

t.test('Gesture: arrow, circle, pointer and freehand from normalised points; tiny ones are clicks', async (t) => {
  const start = { id: 'a1', mediaTime: 1_700_000_000_000, pinned: false, aspect: 9 / 16 };
  const arrow = new Gesture({ ...start, tool: 'arrow', at: [0.2, 0.3] });
  arrow.move([0.2005, 0.3]);
  t.equal(arrow.annotation(), null, 'a click is not an arrow');
  arrow.move([0.6, 0.5]);
  t.same(arrow.annotation(), { id: 'a1', mediaTime: start.mediaTime, kind: 'arrow', from: [0.2, 0.3], to: [0.6, 0.5] }, 'media time stays the pointer-down frame');

  const circle = new Gesture({ ...start, tool: 'circle', pinned: true, at: [0.5, 0.5] });
  circle.move([0.6, 0.5]);
  const c = circle.annotation();
  t.match(c, { kind: 'circle', center: [0.5, 0.5], pinned: true });
  t.ok(c?.kind === 'circle' && Math.abs(c.radius - 0.1) < 1e-9, 'radius 0.1 frame widths');

  const pointer = new Gesture({ ...start, tool: 'pointer', at: [0.1, 0.1] });
  t.same(pointer.annotation(), { id: 'a1', mediaTime: start.mediaTime, kind: 'pointer', at: [0.1, 0.1] });
  pointer.move([0.2, 0.2]);
  t.same(pointer.annotation(), { id: 'a1', mediaTime: start.mediaTime, kind: 'pointer', at: [0.2, 0.2] }, 'the pointer follows the drag');

  const stroke = new Gesture({ ...start, tool: 'stroke', at: [0, 0] });
  stroke.move([0.001, 0]);
  t.equal(stroke.points.length, 1, 'a jitter below the step adds nothing');
  for (let i = 1; i <= MAX_STROKE_POINTS + 500; i++) stroke.move([(i % 100) / 100, Math.floor(i / 100) / 100]);
  const s = stroke.annotation();
  t.ok(s?.kind === 'stroke' && s.points.length <= MAX_STROKE_POINTS && s.points.length > MAX_STROKE_POINTS / 3, `a long stroke is thinned, not cut (${s?.kind === 'stroke' ? s.points.length : 0} points)`);
  t.same(s?.kind === 'stroke' ? s.points.at(-1) : null, [(MAX_STROKE_POINTS + 500) % 100 / 100, Math.floor((MAX_STROKE_POINTS + 500) / 100) / 100], 'the last point is kept');
});

t.test('monotonic: the expert playhead never steps back on jitter, but does on a path switch', async (t) => {
  const readings: Array<number | null> = [1000, 1033, 1020, 1066, null, 1100, 400, 433];
  const epochs = ['webrtc', 'webrtc', 'webrtc', 'webrtc', 'webrtc', 'webrtc', 'llhls', 'llhls'];
  let i = -1;
  const playhead = monotonic(() => readings[i] ?? null, () => epochs[i]);
  const seen: Array<number | null> = [];
  for (i = 0; i < readings.length; i++) seen.push(playhead());
  t.same(seen, [1000, 1033, 1033, 1066, 1066, 1100, 400, 433]);
});

t.test('labels and ids fit the protocol', async (t) => {
  t.equal(parseFadeMs('8000'), 8000);
  for (const bad of [undefined, '', 'abc', '10', '1e9', '2500.5']) t.equal(parseFadeMs(bad), 5000, `data-fade-ms ${JSON.stringify(bad)}`);
  t.equal(cleanLabel('  bleeder\there\n '), 'bleeder here');
  t.equal(cleanLabel('x'.repeat(300)).length, 200);
  const ids = new Set(Array.from({ length: 200 }, () => newAnnotationId()));
  t.equal(ids.size, 200, 'unique');
  t.ok([...ids].every((id) => /^[A-Za-z0-9_-]{1,64}$/.test(id)), 'within the id alphabet');
  // An edge monitor on plain http is not a secure context: no randomUUID there.
  const insecure = newAnnotationId({ getRandomValues: globalThis.crypto.getRandomValues.bind(globalThis.crypto) });
  t.match(insecure, /^[0-9a-f]{32}$/);
});

const ev = (seq: number, annotation: Annotation, role: AnnotatorRole = 'expert'): AnnotationEvent => ({ seq, stream: 's', author: 'c1', role, receivedAt: 0, annotation });
const arrowAt = (id: string, mediaTime: number, pinned = false): Annotation => ({ id, mediaTime, kind: 'arrow', from: [0.1, 0.1], to: [0.5, 0.5], ...(pinned ? { pinned } : {}) });

t.test('AnnotationStore: one event per seq, in seq order, last seq for hello.since', async (t) => {
  const store = new AnnotationStore();
  t.equal(store.lastSeq, 0);
  t.ok(store.add(ev(1, arrowAt('a', 1000))));
  t.ok(store.add(ev(3, arrowAt('c', 1200), 'surgeon')));
  t.ok(store.add(ev(2, arrowAt('b', 1100))), 'a replayed event merged in');
  t.notOk(store.add(ev(2, arrowAt('b', 1100))), 'a repeat is dropped');
  t.same(store.events.map((e) => e.seq), [1, 2, 3]);
  t.equal(store.lastSeq, 3);
  t.equal(store.latestMediaTime, 1200);
  t.equal(store.roleOf('c'), 'surgeon');
});

t.test('compactEvents: what is on screen from the compaction point on never changes', async (t) => {
  const fadeMs = 5000;
  // A seeded mix: drawings, pinned ones, replacements by id, clears of some ids and of all.
  let seed = 7;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const events: AnnotationEvent[] = [];
  for (let seq = 1; seq <= 600; seq++) {
    const mediaTime = 10_000 + seq * 200 + Math.floor(rnd() * 3000);
    const r = rnd();
    const id = `d${Math.floor(rnd() * 40)}`;
    let a: Annotation;
    if (r < 0.05) a = { id: `x${seq}`, mediaTime, kind: 'clear' };
    else if (r < 0.15) a = { id: `x${seq}`, mediaTime, kind: 'clear', ids: [id, `d${Math.floor(rnd() * 40)}`] };
    else a = arrowAt(id, mediaTime, rnd() < 0.2);
    events.push(ev(seq, a));
  }
  for (const before of [20_000, 60_000, 100_000, 200_000]) {
    const compacted = compactEvents(events, before, fadeMs);
    t.ok(compacted.length < events.length, `compaction at ${before} keeps ${compacted.length} of ${events.length}`);
    let same = true;
    for (let p = before; p < 150_000; p += 337) {
      const a = visibleAt(events, p, fadeMs).map((x) => x.id + x.mediaTime);
      const b = visibleAt(compacted, p, fadeMs).map((x) => x.id + x.mediaTime);
      if (JSON.stringify(a) !== JSON.stringify(b)) {
        same = false;
        t.fail(`differs at ${p} after compaction at ${before}: ${a.join(' ')} vs ${b.join(' ')}`);
        break;
      }
    }
    t.ok(same, `same drawings, same order, at every playhead from ${before}`);
  }

  const store = new AnnotationStore();
  for (const e of events) store.add(e);
  store.compact(200_000, fadeMs);
  t.ok(store.size < events.length, 'the store compacts a long log');
  t.equal(store.lastSeq, 600, 'and still resumes after the last seq');
  t.notOk(store.add(events[10]!), 'an event compacted away is not news when replayed');
});

t.test('pages carry the fade time; the monitor page and its CSP name only the origin', async (t) => {
  t.match(renderWatchPage({ stream: 'or1', hlsPrefix: '/hls', scriptUrl: '/w.js', videoJsCssUrl: '/c.css' }), /data-fade-ms="5000"/);
  t.match(renderWatchPage({ stream: 'or1', hlsPrefix: '/hls', scriptUrl: '/w.js', videoJsCssUrl: '/c.css', fadeMs: 8000 }), /data-fade-ms="8000"/);
  const expert = renderExpertPage({ stream: 'or1', hlsPrefix: '/hls', whepPrefix: '/whep', scriptUrl: '/e.js', videoJsCssUrl: '/c.css', fadeMs: 1500 });
  t.match(expert, /data-fade-ms="1500"/);
  t.match(expert, /id="scopecast-tools" role="toolbar"/);
  for (const tool of ['pointer', 'stroke', 'arrow', 'circle', 'text']) t.match(expert, new RegExp(`data-tool="${tool}"`));
  t.match(expert, /data-action="pin" aria-pressed="false"/);
  t.match(expert, /data-action="clear"/);
  t.notMatch(renderWatchPage({ stream: 'or1', hlsPrefix: '/hls', scriptUrl: '/w.js', videoJsCssUrl: '/c.css' }), /scopecast-tools/, 'trainees get no tools');

  t.same(originEndpoints('http://127.0.0.1:8090'), { http: 'http://127.0.0.1:8090', ws: 'ws://127.0.0.1:8090' });
  t.same(originEndpoints('https://origin.example/base/'), { http: 'https://origin.example', ws: 'wss://origin.example' }, 'path ignored, as the edge link does');
  t.throws(() => originEndpoints('ftp://x'));
  t.throws(() => originEndpoints('not a url'));
  const csp = monitorPageCsp(originEndpoints('https://origin.example:8443'));
  t.match(csp, /connect-src https:\/\/origin\.example:8443 wss:\/\/origin\.example:8443;/);
  t.match(csp, /default-src 'none'/);
  t.match(csp, /script-src 'self';/);
  t.notMatch(csp, /unsafe-eval|connect-src[^;]*'self'/);

  const html = renderMonitorPage({ stream: '"><script>x</script>', origin: originEndpoints('http://127.0.0.1:8090'), scriptUrl: '/player/monitor.js' });
  t.notMatch(html, /<script>x/);
  t.notMatch(html, /video-js/, 'no video.js on the monitor');
  t.match(html, /data-whep-url="http:\/\/127\.0\.0\.1:8090\/whep\/%22%3E%3Cscript%3Ex%3C%2Fscript%3E"/);
  t.match(html, /data-ws-url="ws:\/\/127\.0\.0\.1:8090\/ws\/%22%3E/);
  // The token is the origin's: the page refreshes it there (inside the CSP's connect-src).
  t.match(html, /data-refresh-url="http:\/\/127\.0\.0\.1:8090\/api\/tokens\/refresh"/);
  t.match(html, /<meta name="referrer" content="no-referrer">/);
});

t.test('edge route /monitor/<stream>: page with the origin CSP, bundle served, bad names 400', async (t) => {
  const app = Fastify();
  await app.register(monitorPlugin, { originUrl: 'http://127.0.0.1:8090', fadeMs: 7000 });
  t.teardown(() => app.close());
  const page = await app.inject('/monitor/endo-1?token=a.b.c');
  t.equal(page.statusCode, 200, 'the page itself is public (the origin checks the token)');
  t.equal(page.headers['content-security-policy'], monitorPageCsp(originEndpoints('http://127.0.0.1:8090')));
  t.equal(page.headers['referrer-policy'], 'no-referrer', 'a ?token= in the page URL never leaves in a Referer');
  t.match(page.body, /data-fade-ms="7000"/);
  t.match(page.body, /<script type="module" src="\/player\/monitor\.js">/);
  for (const url of ['/monitor/..%2Fx', '/monitor/a%20b', `/monitor/${'x'.repeat(65)}`]) t.equal((await app.inject(url)).statusCode, 400, url);
  const js = await app.inject('/player/monitor.js');
  t.equal(js.statusCode, 200);
  t.match(js.headers['content-type'], /javascript/);
  t.ok(js.body.length < 100_000, `small bundle (${js.body.length} bytes, no video.js/hls.js)`);
  t.match(js.body, /application\/sdp/, 'the expert page\'s WHEP client');
  await t.rejects(async () => {
    const bad = Fastify();
    t.teardown(() => bad.close());
    await bad.register(monitorPlugin, { originUrl: 'javascript:alert(1)' });
    await bad.ready();
  }, 'a non-http origin fails registration');
});

// ---------------------------------------------------------------------------------------------
// The edge monitor in Chromium, against an origin stand-in that checks tokens like the origin's
// WHEP (expert/surgeon/admin): the page talks to the origin with the token from its own URL.

t.test('edge monitor in Chromium: token from its URL to the origin\'s WHEP and socket; no token or a trainee link is told so', async (t) => {
  const access = testAccessControl();
  const origin = Fastify();
  await withAccessRoutes(origin, access);
  origin.addContentTypeParser('application/sdp', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  const whepPosts: Array<string | undefined> = [];
  // CORS on WHEP only, as on the origin (its WHEP plugin's hooks stay inside that plugin).
  origin.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith('/whep/')) reply.header('access-control-allow-origin', '*');
  });
  origin.options('/whep/*', async (_request, reply) =>
    reply.header('access-control-allow-methods', 'POST, DELETE, OPTIONS').header('access-control-allow-headers', 'content-type, authorization').code(204).send());
  // Not live: the answer a surgeon's monitor gets before the console publishes.
  origin.post('/whep/:stream', { preHandler: access.guard(WEBRTC_VIEWER_ROLES, (r) => (r.params as { stream: string }).stream) }, async (request, reply) => {
    whepPosts.push(request.headers.authorization);
    return reply.code(404).send({ type: 'error', code: 'SC_ERR_STREAM_NOT_FOUND', message: 'not live', details: {}, fatal: false });
  });
  const originUrl = await origin.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => origin.close());
  const edge = Fastify();
  await edge.register(monitorPlugin, { originUrl });
  const edgeUrl = await edge.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => edge.close());

  await withBrowser(t, async (browser) => {
    const open = async (url: string): Promise<{ page: Page; observer: PageObserver; sockets: string[]; posts: string[] }> => {
      const page = await browser.newPage();
      const observer = observePage(page, edgeUrl);
      const sockets: string[] = [];
      const posts: string[] = [];
      page.on('websocket', (ws) => sockets.push(ws.url()));
      page.on('request', (r) => { if (r.url().includes('/whep/') && r.method() === 'POST') posts.push(r.url()); });
      await page.goto(url);
      return { page, observer, sockets, posts };
    };

    t.test('a surgeon link: WHEP and the socket on the origin carry the token; the address bar does not', async (t) => {
      const token = testToken('surgeon', 'endo-1');
      const { page, observer, sockets } = await open(`${edgeUrl}/monitor/endo-1?token=${token}`);
      t.equal(page.url(), `${edgeUrl}/monitor/endo-1`, 'the token left the address bar');
      await page.waitForFunction(() => window.__scopecast?.state === 'waiting', null, { timeout: 15_000 });
      t.equal(whepPosts.at(-1), `Bearer ${token}`, 'the WHEP offer went to the origin with the token as a header');
      t.ok(sockets.length > 0 && sockets.every((url) => url.startsWith(originUrl.replace(/^http/, 'ws')) && new URL(url).searchParams.get('token') === token),
        `the socket to the origin carries ?token= (${sockets.length})`);
      t.equal(await page.evaluate(() => window.__scopecastAccess?.role), 'surgeon');
      t.same(observer.pageErrors, []);
      await page.close();
    });

    const cases: Array<[string, string, string, number[]]> = [
      ['no token', `${edgeUrl}/monitor/endo-1`, 'This link has no access token — ask the coordinator for a new link.', []],
      ['a trainee link', withToken(`${edgeUrl}/monitor/endo-1`, 'trainee', 'endo-1'), 'This link (trainee) does not open the surgeon\'s monitor — ask the coordinator for a new link.', [403]],
      ['a link for another stream', withToken(`${edgeUrl}/monitor/endo-1`, 'surgeon', 'endo-2'), 'This link is not valid for this stream (endo-1): it is for endo-2 — ask the coordinator for a new link.', [403]],
    ];
    for (const [name, url, message, statuses] of cases) {
      t.test(`${name}: the message instead of a blank screen, no retry`, async (t) => {
        const { page, observer, posts } = await open(url);
        await page.waitForFunction(() => window.__scopecast?.state === 'denied', null, { timeout: 15_000 }).catch((error: unknown) => {
          throw new Error(`${name}: never denied\n${observer.consoleLines.join('\n')}`, { cause: error });
        });
        t.equal(await page.locator('#scopecast-status').textContent(), message);
        t.equal(await page.locator('#scopecast-status').getAttribute('data-state'), 'denied');
        t.ok(await page.locator('#scopecast-stage').isHidden(), 'no blank video under the message');
        t.same(await page.evaluate(() => window.__scopecast?.errors.map((e) => e.httpStatus) ?? []), statuses, `WHEP answered ${JSON.stringify(statuses)}`);
        const asked = posts.length;
        await sleep(2000);
        t.equal(posts.length, asked, 'no WHEP retry');
        t.same(observer.pageErrors, []);
        await page.close();
      });
    }
  });
});
