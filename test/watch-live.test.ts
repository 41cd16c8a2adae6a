// The trainee page against the real chain: synthetic console -> RTMP -> edge -> origin LL-HLS ->
// headless Chromium (hls.js low-latency mode).
import t from 'tap';
import { SyntheticConsole } from '../loadtest/index.js';
import { isBlank, screenshotElement, videoFrameStats, isBlankStats, withBrowser } from './helpers/browser.js';
import { scrapeHeaders } from './helpers/auth.js';
import { eventually, startStack } from './helpers/stack.js';

interface Debug {
  state: string;
  latencyMs: number | null;
  currentTime: number;
}

t.test('the trainee page plays the live stream with a latency badge', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const source = new SyntheticConsole({ url: stack.rtmpUrl('or2'), width: 1280, height: 720, fps: 30 });
  source.start();
  t.teardown(() => source.close());
  await eventually(async () => ((await fetch(`${stack.originUrl}/hls/or2/index.m3u8`, { headers: stack.auth('trainee', 'or2') })).ok ? true : undefined), 20_000, 'master playlist');

  await withBrowser(t, async (browser) => {
    const page = await browser.newPage();
    const failures: string[] = [];
    page.on('pageerror', (err) => failures.push(err.message));
    // The coordinator's link: a trainee token for or2.
    await page.goto(`${stack.originUrl}/watch/or2?token=${stack.token('trainee', 'or2')}`);
    t.equal(page.url(), `${stack.originUrl}/watch/or2`, 'the token left the address bar');
    const debug = (): Promise<Debug> => page.evaluate(() => (window as unknown as { __scopecast: Debug }).__scopecast);
    await eventually(async () => ((await debug()).state === 'playing' ? true : undefined), 30_000, 'state playing');
    // Playing means the playhead moves on. No timing bound: on a starved 2-core CI box the chain
    // (source encode, edge encode, Chromium software decode) can stall for seconds and recover.
    const first = (await debug()).currentTime;
    const later = await eventually(async () => {
      const d = await debug();
      return d.currentTime > first + 1 ? d.currentTime : undefined;
    }, 30_000, 'the playhead to advance by a second');
    t.ok(later > first + 1, `currentTime advanced ${first.toFixed(2)} -> ${later.toFixed(2)}`);
    const latency = await eventually(async () => {
      const d = await debug();
      return d.latencyMs !== null && Number.isFinite(d.latencyMs) ? d.latencyMs : undefined;
    }, 10_000, 'a latency reading');
    t.ok(latency > 0, `latency badge shows ${latency} ms`);
    const badge = await page.locator('[data-role="latency"], .sc-latency').first().textContent().catch(() => null);
    t.ok(badge === null || /\d/.test(badge), `badge text: ${badge}`);
    t.notOk(isBlankStats(await videoFrameStats(page, '.sc-stage video')), 'video frame has a picture');
    t.notOk(await isBlank(page, await screenshotElement(page, '.sc-stage video')), 'screenshot is not blank');
    // The page reports what it shows over /ws/or2: the origin's histogram and status have it.
    const reports = await eventually(async () => {
      const m = /scopecast_latency_seconds_count\{stream="or2",path="llhls",hop="end_to_end"\} (\d+)/.exec(await (await fetch(`${stack.originUrl}/metrics`, { headers: scrapeHeaders() })).text());
      return m && Number(m[1]) >= 2 ? Number(m[1]) : undefined;
    }, 15_000, 'latency reports from the page in /metrics');
    t.ok(reports >= 2, `${reports} reports in scopecast_latency_seconds`);
    const status = (await (await fetch(`${stack.originUrl}/api/status`, { headers: stack.auth('admin') })).json()) as { streams: Array<{ stream: string; viewerList: Array<{ role: string; path: string }> }> };
    t.same(status.streams.find((s) => s.stream === 'or2')?.viewerList.map((v) => [v.role, v.path]), [['trainee', 'llhls']], 'the trainee is listed on /api/status');
    const access = await page.evaluate(() => window.__scopecastAccess);
    t.match(access, { hasToken: true, role: 'trainee', stream: 'or2', denied: null }, 'the page holds its token in memory');
    t.same(failures, [], 'no page errors');
    await page.close();
  });
});
