// The teaching library: pure pieces (letterbox mapping, media time on replay), the page routes,
// and the pages in headless Chromium against a real recording (CMAF made by ffmpeg, ingested,
// annotated through the hub): the list shows the case; the replay plays it; the overlay shows
// a drawing exactly from its media time on (pixels read back from the canvas); chapters seek.
import type { Page } from 'playwright-core';
import t from 'tap';
import type { ArrowAnnotation, CircleAnnotation } from '../lib/annotations.js';
import { PAGE_CSP } from '../origin/bundle.js';
import type { RecordingSummary } from '../origin/recording/index.js';
import { fitVideoRect, mediaTimeAt, positionOf, toCanvasPoint, type TimelineFragment } from '../player/index.js';
import { parseAnnotationTrack } from '../player/library/api.js';
import type { LibraryDebugSnapshot } from '../player/library/types.js';
import { bearer, testToken, withToken } from './helpers/auth.js';
import { videoFrameStats, withBrowser } from './helpers/browser.js';
import { observePage } from './helpers/hls.js';
import { endStream, ingestCmaf, makeCmaf, recordingOrigin, restampPrft } from './helpers/recording.js';

declare global {
  interface Window {
    __scopecastLibrary?: LibraryDebugSnapshot;
  }
}

// ---------------------------------------------------------------------------------------------
// Pure pieces.

t.test('fitVideoRect: the picture inside a box, pillarboxed or letterboxed, like object-fit: contain', async (t) => {
  t.same(fitVideoRect({ width: 1600, height: 900 }, { width: 640, height: 480 }), { x: 200, y: 0, width: 1200, height: 900 }, '4:3 in 16:9: bars left and right');
  t.same(fitVideoRect({ width: 1000, height: 1000 }, { width: 1920, height: 1080 }), { x: 0, y: 218.75, width: 1000, height: 562.5 }, '16:9 in a square: bars top and bottom');
  t.same(fitVideoRect({ width: 1280, height: 720 }, { width: 1920, height: 1080 }), { x: 0, y: 0, width: 1280, height: 720 }, 'same aspect: no bars');
  t.same(fitVideoRect({ width: 800, height: 450 }, { width: 0, height: 0 }), { x: 0, y: 0, width: 800, height: 450 }, 'unknown size: the whole box');
  t.same(fitVideoRect({ width: 0, height: 450 }, { width: 640, height: 480 }), { x: 0, y: 0, width: 0, height: 450 });
  const rect = fitVideoRect({ width: 1600, height: 900 }, { width: 640, height: 480 });
  t.same(toCanvasPoint([0, 0], rect), [200, 0], 'the frame corner is at the bar, not the box corner');
  t.same(toCanvasPoint([1, 1], rect), [1400, 900]);
  t.same(toCanvasPoint([0.5, 0.25], rect), [800, 225]);
  const letter = fitVideoRect({ width: 1000, height: 1000 }, { width: 1920, height: 1080 });
  t.same(toCanvasPoint([0.5, 0], letter), [500, 218.75]);
  t.same(toCanvasPoint([1, 1], letter), [1000, 781.25]);
});

t.test('mediaTimeAt / positionOf: playhead <-> ingest wall clock via PROGRAM-DATE-TIME', async (t) => {
  const T = 1_700_000_000_000;
  const frags: TimelineFragment[] = [
    { start: 0, duration: 1, programDateTime: T },
    { start: 1, duration: 1, programDateTime: T + 1000 },
    // An outage: 5 s missing, then a new generation.
    { start: 2, duration: 1, programDateTime: T + 7000 },
  ];
  t.equal(mediaTimeAt(frags, 0), T);
  t.equal(mediaTimeAt(frags, 0.5), T + 500);
  t.equal(mediaTimeAt(frags, 1.25), T + 1250);
  t.equal(mediaTimeAt(frags, 2.5), T + 7500, 'after the gap');
  t.equal(mediaTimeAt(frags, 9), T + 8000, 'past the end: the last frame');
  t.equal(mediaTimeAt([], 1), null);
  t.equal(mediaTimeAt([{ start: 0, duration: 1, programDateTime: null }], 0.5), null);
  t.equal(positionOf(frags, T + 500), 0.5);
  t.equal(positionOf(frags, T + 1999), 1.999);
  t.equal(positionOf(frags, T + 4000), 2, 'inside the gap: the next picture');
  t.equal(positionOf(frags, T - 10_000), 0);
  t.equal(positionOf(frags, T + 99_000), 3);
  for (const p of [0, 0.3, 1.7, 2.2]) t.equal(positionOf(frags, mediaTimeAt(frags, p)!), p, `round trip at ${p}`);
});

t.test('parseAnnotationTrack keeps well-formed events and skips the rest', async (t) => {
  const good = { seq: 1, stream: 'or1', author: 'c1', role: 'expert', receivedAt: 5, annotation: { kind: 'pointer', id: 'p1', mediaTime: 10, at: [0.5, 0.5] } };
  const text = [JSON.stringify(good), '{not json', JSON.stringify({ ...good, seq: 2, role: 'admin' }), JSON.stringify({ ...good, seq: 3, annotation: { kind: 'pointer', id: 'p2', mediaTime: 1, at: [2, 0] } }), ''].join('\n');
  t.same(parseAnnotationTrack(text), [good]);
});

// ---------------------------------------------------------------------------------------------
// The pages.

const BASE = Date.UTC(2026, 0, 15, 9, 30, 0);
const FADE_MS = 2000;
const CIRCLE: CircleAnnotation = { kind: 'circle', id: 'c1', mediaTime: BASE + 3000, center: [0.5, 0.5], radius: 0.15 };
const ARROW: ArrowAnnotation = { kind: 'arrow', id: 'a1', mediaTime: BASE + 3000, from: [0.15, 0.2], to: [0.35, 0.4] };

t.test('page routes: CSP self only, ids checked', async (t) => {
  const r = await recordingOrigin(t);
  const list = await r.origin.app.inject({ url: '/library' });
  t.equal(list.statusCode, 200);
  t.equal(list.headers['content-security-policy'], PAGE_CSP);
  t.equal(list.headers['referrer-policy'], 'no-referrer', 'a ?token= in the page URL never leaves in a Referer');
  t.match(list.body, /id="scopecast-library"/, 'the page itself is public (its data is not)');
  t.match(list.body, /<script type="module" src="\/player\/library\.js"><\/script>/);
  t.notMatch(list.body, /https?:\/\//, 'no external hosts');
  const page = await r.origin.app.inject({ url: '/library/or1-20260115T093000-abcd' });
  t.equal(page.statusCode, 200);
  t.match(page.body, /data-recording-id="or1-20260115T093000-abcd"/);
  t.match(page.body, /data-fade-ms="5000"/);
  for (const bad of ['%3Cscript%3E', 'or1', '..%2F..%2Fetc%2Fpasswd', 'or1-20260115T093000-ABCD']) {
    t.equal((await r.origin.app.inject({ url: `/library/${bad}` })).statusCode, 400, bad);
  }
  const js = await r.origin.app.inject({ url: '/player/library.js' });
  t.equal(js.statusCode, 200);
  t.match(js.headers['content-type'], /javascript/);
  t.equal((await r.origin.app.inject({ url: '/player/library.css' })).statusCode, 200);
});

/** Alpha of the overlay canvas pixels in a CSS-px box (read back in the page). */
async function overlayAlpha(page: Page, box: { x: number; y: number; width: number; height: number }): Promise<{ max: number; count: number }> {
  return page.evaluate((b) => {
    const canvas = document.getElementById('scopecast-overlay') as HTMLCanvasElement;
    const scale = canvas.width / canvas.clientWidth;
    const x = Math.max(0, Math.floor(b.x * scale));
    const y = Math.max(0, Math.floor(b.y * scale));
    const w = Math.max(1, Math.min(canvas.width - x, Math.ceil(b.width * scale)));
    const h = Math.max(1, Math.min(canvas.height - y, Math.ceil(b.height * scale)));
    const data = canvas.getContext('2d')!.getImageData(x, y, w, h).data;
    let max = 0;
    let count = 0;
    for (let i = 3; i < data.length; i += 4) {
      max = Math.max(max, data[i]!);
      if (data[i]! > 0) count++;
    }
    return { max, count };
  }, box);
}

async function seekTo(page: Page, position: number): Promise<void> {
  await page.evaluate(async (p) => {
    const video = document.getElementById('scopecast-video') as HTMLVideoElement;
    video.pause();
    const seeked = new Promise((resolve) => video.addEventListener('seeked', resolve, { once: true }));
    video.currentTime = p;
    await seeked;
  }, position);
  // The overlay repaints on the next animation frames.
  await page.waitForFunction((p) => {
    const s = window.__scopecastLibrary;
    const v = document.getElementById('scopecast-video') as HTMLVideoElement;
    return s?.playheadMs !== null && s?.playheadMs !== undefined && Math.abs(v.currentTime - p) < 0.05 && s.picture !== null && s.picture.width > 0;
  }, position, { timeout: 10_000 });
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
}

t.test('library pages in Chromium: the case is listed, plays, annotations replay in sync, chapters seek', async (t) => {
  // 6 s of 4:3 video (320x240), so the 16:9 player frame pillarboxes it: the overlay must follow.
  const cmaf = restampPrft(await makeCmaf({ seconds: 6, size: '320x240' }), BASE);
  const r = await recordingOrigin(t, { annotations: { fadeMs: FADE_MS } });
  const { origin, hub } = r;
  await ingestCmaf(origin, 'or7', { init: cmaf.init, fragments: cmaf.fragments.slice(0, 10) });
  await hub.publish('or7', 'conn-1', 'expert', CIRCLE);
  await hub.publish('or7', 'conn-1', 'expert', ARROW);
  for (const f of cmaf.fragments.slice(10)) await origin.app.inject({ method: 'POST', url: '/ingest/or7/main/fragment', headers: { 'x-scopecast-ingest-key': 'recording-test-ingest-key-0123', 'content-type': 'application/octet-stream' }, payload: f });
  await endStream(origin, 'or7');
  await r.recordings.settled();
  const { recordings } = (await origin.app.inject({ url: '/api/recordings', headers: bearer('admin') })).json<{ recordings: RecordingSummary[] }>();
  const id = recordings[0]!.id;
  await origin.app.inject({ method: 'PATCH', url: `/api/recordings/${id}`, headers: bearer('expert', 'or7'), payload: { title: 'Teaching case <b>7</b>', procedure: 'Cholecystectomy' } });
  await origin.app.inject({ method: 'POST', url: `/api/recordings/${id}/chapters`, headers: bearer('expert', 'or7'), payload: { atMs: BASE + 4500, label: 'Clipping' } });
  const base = await origin.app.listen({ host: '127.0.0.1', port: 0 });

  await withBrowser(t, async (browser) => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const observer = observePage(page, base);
    const requests: Array<{ url: string; authorization: string | undefined }> = [];
    page.on('request', (request) => {
      if (!/\/(api\/)?recordings\b/.test(new URL(request.url()).pathname)) return;
      // A request still in flight when the page closes has no headers to read: not a finding.
      request.allHeaders().then((headers) => requests.push({ url: request.url(), authorization: headers.authorization }), () => {});
    });

    // The list, opened with an expert's link for or7.
    const token = testToken('expert', 'or7');
    await page.goto(`${base}/library?token=${token}`);
    t.equal(page.url(), `${base}/library`, 'the token left the address bar');
    await page.waitForFunction((caseId) => window.__scopecastLibrary?.cases.includes(caseId) === true, id, { timeout: 15_000 });
    const row = page.locator(`tr[data-id="${id}"]`);
    t.equal(await row.locator('a').textContent(), 'Teaching case <b>7</b>', 'title as text, never as markup');
    t.equal(await row.locator('td').nth(1).textContent(), 'Cholecystectomy');
    t.equal(await row.locator('td').nth(3).textContent(), '0:06');
    t.match(await row.locator('td').nth(2).textContent(), /^\d{4}-\d\d-\d\d \d\d:\d\d$/);
    t.equal(await row.locator('a').getAttribute('href'), `/library/${id}?token=${token}`, 'the case link carries the token to the next page');

    // The replay page (which takes the token out of its address bar again).
    await Promise.all([page.waitForURL((url) => url.pathname === `/library/${id}` && !url.search), row.locator('a').click()]);
    await page.waitForFunction(() => {
      const s = window.__scopecastLibrary;
      const v = document.getElementById('scopecast-video') as HTMLVideoElement | null;
      return s?.page === 'replay' && s.details !== null && s.annotations === 2 && s.fragments >= 6 && (v?.readyState ?? 0) >= 2;
    }, null, { timeout: 20_000 }).catch(async (error: unknown) => {
      throw new Error(`replay never got ready: ${JSON.stringify(await page.evaluate(() => window.__scopecastLibrary))}\n${observer.consoleLines.join('\n')}`, { cause: error });
    });
    t.equal(await page.locator('#scopecast-title').textContent(), 'Teaching case <b>7</b>');
    t.same(await page.locator('#scopecast-chapters button .sc-label').allTextContents(), ['Start', 'Clipping']);

    // The picture rect: 4:3 inside the 16:9 frame, centred: bars left and right.
    const geometry = await page.evaluate(() => {
      const c = document.getElementById('scopecast-overlay') as HTMLCanvasElement;
      const v = document.getElementById('scopecast-video') as HTMLVideoElement;
      return { box: { width: c.clientWidth, height: c.clientHeight }, video: { width: v.videoWidth, height: v.videoHeight } };
    });
    t.same(geometry.video, { width: 320, height: 240 });
    const picture = fitVideoRect(geometry.box, geometry.video);
    t.ok(picture.x > 50, `pillarboxed: picture starts at x=${picture.x}`);

    // Before the drawings' media time: nothing on the overlay at all.
    await seekTo(page, 1.0);
    let snap = (await page.evaluate(() => window.__scopecastLibrary))!;
    t.ok(Math.abs(snap.playheadMs! - (BASE + 1000)) < 40, `playhead ${snap.playheadMs! - BASE} ms into the case`);
    t.same(snap.drawn, []);
    t.same(snap.picture, picture, 'the page maps the same rect');
    const whole = { x: 0, y: 0, width: geometry.box.width, height: geometry.box.height };
    t.equal((await overlayAlpha(page, whole)).count, 0, 'the canvas is fully transparent before the annotation');
    await seekTo(page, 2.9);
    t.equal((await overlayAlpha(page, whole)).count, 0, 'and still 100 ms before it');

    // From its media time on: the circle's ring and the arrow are drawn where the frame puts them.
    await seekTo(page, 3.5);
    snap = (await page.evaluate(() => window.__scopecastLibrary))!;
    t.same([...snap.drawn].sort(), ['a1', 'c1']);
    const [cx, cy] = toCanvasPoint(CIRCLE.center, picture);
    const ringX = cx + CIRCLE.radius * picture.width; // radius is a fraction of the frame width
    const ring = await overlayAlpha(page, { x: ringX - 3, y: cy - 3, width: 6, height: 6 });
    t.ok(ring.max > 200, `the ring is opaque at (${Math.round(ringX)}, ${Math.round(cy)}): alpha ${ring.max}`);
    const centre = await overlayAlpha(page, { x: cx - 3, y: cy - 3, width: 6, height: 6 });
    t.equal(centre.count, 0, 'the inside of the circle stays clear');
    const [ax, ay] = toCanvasPoint(ARROW.to, picture);
    t.ok((await overlayAlpha(page, { x: ax - 3, y: ay - 3, width: 6, height: 6 })).max > 200, 'the arrow head');
    t.equal((await overlayAlpha(page, { x: 0, y: 0, width: picture.x - 1, height: geometry.box.height })).count, 0, 'nothing on the left bar');
    if (process.env.SCOPECAST_LIBRARY_SCREENSHOT) await page.screenshot({ path: process.env.SCOPECAST_LIBRARY_SCREENSHOT, fullPage: true });

    // After it faded (fadeMs 2 s): gone again.
    await seekTo(page, 5.5);
    t.equal((await overlayAlpha(page, whole)).count, 0, 'faded out after fadeMs');

    // A chapter click seeks to its media time.
    await page.locator('#scopecast-chapters button', { hasText: 'Clipping' }).click();
    await page.waitForFunction(() => Math.abs((document.getElementById('scopecast-video') as HTMLVideoElement).currentTime - 4.5) < 0.05, null, { timeout: 10_000 });
    t.pass('the chapter seeked to 4.5 s');

    // It plays: time moves and the picture is not blank.
    await seekTo(page, 0.5);
    await page.evaluate(() => (document.getElementById('scopecast-video') as HTMLVideoElement).play());
    await page.waitForFunction(() => (document.getElementById('scopecast-video') as HTMLVideoElement).currentTime > 1.5, null, { timeout: 10_000 });
    const stats = await videoFrameStats(page, '#scopecast-video');
    t.ok(stats.variance > 100, `a real picture (luma variance ${Math.round(stats.variance)})`);

    // A bookmark at the frame on screen, with a label.
    await page.evaluate(() => (document.getElementById('scopecast-video') as HTMLVideoElement).pause());
    await page.fill('#scopecast-bookmark-label', 'Critical view');
    await page.click('#scopecast-bookmark-add');
    await page.waitForFunction(() => window.__scopecastLibrary?.details?.bookmarks.length === 1, null, { timeout: 10_000 });
    t.same(await page.locator('#scopecast-bookmarks .sc-label').allTextContents(), ['Critical view']);
    const saved = (await origin.app.inject({ url: `/api/recordings/${id}`, headers: bearer('admin') })).json<{ bookmarks: Array<{ atMs: number; label: string }> }>().bookmarks;
    t.equal(saved[0]?.label, 'Critical view');
    t.ok(saved[0]!.atMs > BASE + 1500 && saved[0]!.atMs < BASE + 6000, `at the paused frame (${saved[0]!.atMs - BASE} ms)`);

    // Every API call, playlist, segment and the annotation track carried the token as a header.
    t.ok(requests.length > 5 && requests.every((r) => r.authorization === `Bearer ${token}` && !r.url.includes('token=')),
      `${requests.length} recording requests, each with Authorization and no token in the URL`);
    t.equal(await page.getAttribute('#scopecast-all-cases', 'href'), `/library?token=${token}`, 'back to the list with the token');

    t.same(observer.pageErrors, [], 'no page errors');
    t.same(observer.foreign, [], 'nothing fetched from elsewhere');
    t.same((await page.evaluate(() => window.__scopecastLibrary))?.errors, [], 'no errors on the bus');
  });

  await withBrowser(t, async (browser) => {
    const show = async (url: string, name: string): Promise<{ text: string | null; state: string | null; access: string | null; page: Page; errors: string[] }> => {
      const page = await browser.newPage();
      const observer = observePage(page, base);
      await page.goto(url);
      await page.waitForFunction(() => {
        const state = document.getElementById('scopecast-status')?.dataset.state;
        return state === 'denied' || state === 'ready' || state === 'playing';
      }, null, { timeout: 15_000 }).catch((error: unknown) => {
        throw new Error(`${name}: the page never settled\n${observer.consoleLines.join('\n')}`, { cause: error });
      });
      return {
        text: await page.locator('#scopecast-status').textContent(),
        state: await page.locator('#scopecast-status').getAttribute('data-state'),
        access: await page.locator('main').getAttribute('data-access'),
        page,
        errors: observer.pageErrors,
      };
    };

    t.test('no token: the list and the case page say so', async (t) => {
      for (const url of [`${base}/library`, `${base}/library/${id}`]) {
        const seen = await show(url, url);
        t.same([seen.state, seen.access, seen.text], ['denied', 'denied', 'This link has no access token — ask the coordinator for a new link.'], url);
        t.ok(await seen.page.locator('.sc-cases, .sc-frame').first().isHidden(), 'no empty table or player');
        t.same(seen.errors, []);
        await seen.page.close();
      }
    });

    t.test('a link for another stream: the list is empty (scoped), the case page is refused with the reason', async (t) => {
      const list = await show(withToken(`${base}/library`, 'trainee', 'or1'), 'list');
      t.equal(list.state, 'ready', 'a scoped list is not a refusal');
      t.same(await list.page.evaluate(() => window.__scopecastLibrary?.cases), [], 'or7 is not listed for an or1 link');
      await list.page.close();
      const replay = await show(withToken(`${base}/library/${id}`, 'trainee', 'or1'), 'replay');
      t.same([replay.state, replay.access], ['denied', 'denied']);
      t.equal(replay.text, 'This link is not valid for this stream (or7): it is for or1 — ask the coordinator for a new link.');
      t.same(replay.errors, []);
      await replay.page.close();
    });

    t.test('a trainee link watches but is not offered the bookmark form', async (t) => {
      const replay = await show(withToken(`${base}/library/${id}`, 'trainee', 'or7'), 'trainee replay');
      await replay.page.waitForFunction(() => window.__scopecastLibrary?.details !== null, null, { timeout: 10_000 });
      t.equal(replay.access, null);
      t.ok(await replay.page.locator('#scopecast-bookmark-form').isHidden(), 'no form for a trainee');
      t.equal(await replay.page.locator('#scopecast-title').textContent(), 'Teaching case <b>7</b>');
      t.same(replay.errors, []);
      await replay.page.close();
    });
  });
});

t.test('a missing recording: the replay page says so', async (t) => {
  const r = await recordingOrigin(t);
  const base = await r.origin.app.listen({ host: '127.0.0.1', port: 0 });
  await withBrowser(t, async (browser) => {
    const page = await browser.newPage();
    const observer = observePage(page, base);
    await page.goto(withToken(`${base}/library/or1-20260115T093000-abcd`, 'admin'));
    await page.waitForFunction(() => document.getElementById('scopecast-status')?.dataset.state === 'error', null, { timeout: 15_000 });
    t.match(await page.locator('#scopecast-status').textContent(), /recording not found|Cannot play/);
    t.same(observer.pageErrors, []);
  });
});

