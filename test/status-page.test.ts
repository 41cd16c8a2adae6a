// The /status dashboard: pure pieces (chart geometry, alert text, shape check, poller), the
// plugin's routes by inject, and the page in headless Chromium against a snapshot that changes.
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import t from 'tap';
import type { LatencyAlert, StatusSnapshot, StreamStatus } from '../origin/latency/status-types.js';
import { PAGE_CSP } from '../origin/bundle.js';
import { statusPlugin } from '../origin/status-plugin.js';
import { Bus, buildChart, formatAlert, isStatusSnapshot, renderStatusPage } from '../player/index.js';
import { StatusDebugState } from '../player/status/debug-state.js';
import { StatusPoller } from '../player/status/poller.js';
import type { PollError, StatusDebugSnapshot, StatusEvents } from '../player/status/types.js';
import { testAccessControl, withAccessRoutes } from './helpers/access-control.js';
import { bearer, withToken } from './helpers/auth.js';
import { isBlank, screenshotElement, withBrowser } from './helpers/browser.js';
import { observePage } from './helpers/hls.js';
import { THRESHOLD_MS, syntheticAlert, syntheticSnapshot, syntheticStream } from './helpers/status-snapshot.js';

const NOW = 1_700_000_000_000;

// ---------------------------------------------------------------------------------------------
// Pure pieces.

t.test('buildChart: four lines over the window, breaks at gaps, the alert line inside the plot', async (t) => {
  const stream = syntheticStream({ name: 'or1', now: NOW, gap: [30, 34] });
  const model = buildChart({ history: stream.history, now: NOW, historySeconds: 120, thresholdMs: THRESHOLD_MS, width: 640, height: 180 });
  t.same(model.series.map((s) => `${s.path}-${s.stat}`).sort(), ['llhls-p50', 'llhls-p95', 'webrtc-p50', 'webrtc-p95']);
  for (const series of model.series) {
    t.equal(series.d.match(/M/g)?.length, 2, `${series.path} ${series.stat}: one break at the 4 s gap`);
    t.equal(series.d.match(/L/g)?.length, 120 - 4 - 2, 'every other second joined');
    const ys = [...series.d.matchAll(/[ML][\d.]+ ([\d.]+)/g)].map((m) => Number(m[1]));
    t.ok(ys.every((y) => y >= model.plot.top && y <= model.plot.bottom), 'inside the plot');
  }
  const webrtc = model.series.find((s) => s.path === 'webrtc' && s.stat === 'p50');
  const llhls = model.series.find((s) => s.path === 'llhls' && s.stat === 'p50');
  t.equal(webrtc?.last, stream.history.at(-1)?.webrtc?.p50Ms, 'last is the newest value');
  t.ok(model.threshold.y > model.plot.top && model.threshold.y < model.plot.bottom);
  t.equal(model.threshold.label, '300 ms');
  // Log scale: WebRTC (~180 ms) below the alert line, LL-HLS (~1.9 s) well above it.
  const firstY = (d: string | undefined): number => Number(/M[\d.]+ ([\d.]+)/.exec(d ?? '')?.[1]);
  t.ok(firstY(webrtc?.d) > model.threshold.y && firstY(llhls?.d) < model.threshold.y - 30);
  t.same(model.xTicks.map((x) => x.label), ['now', '−30 s', '−60 s', '−90 s', '−120 s']);
  t.ok(model.yTicks.some((y) => y.label === '1 s') && model.yTicks.some((y) => y.label === '100 ms'));
});

t.test('buildChart: empty history, a lone point, points outside the window', async (t) => {
  const empty = buildChart({ history: [], now: NOW, historySeconds: 120, thresholdMs: 300, width: 640, height: 180 });
  t.ok(empty.series.every((s) => s.d === '' && s.last === null));
  t.ok(empty.yTicks.length > 0, 'axis still drawn around the alert line');
  const stats = { p50Ms: 200, p95Ms: 250, maxMs: 260, n: 3 };
  const lone = buildChart({
    history: [{ t: NOW - 500_000, webrtc: stats, llhls: null }, { t: NOW - 5000, webrtc: stats, llhls: null }],
    now: NOW, historySeconds: 120, thresholdMs: 300, width: 640, height: 180,
  });
  const d = lone.series.find((s) => s.path === 'webrtc' && s.stat === 'p50')?.d ?? '';
  t.match(d, /^M[\d.]+ [\d.]+h0\.01$/, 'a lone point is a dot; the old one is dropped');
  t.equal(lone.series.find((s) => s.path === 'llhls')?.d, '');
});

t.test('formatAlert and isStatusSnapshot', async (t) => {
  const stream = syntheticStream({ name: 'or1', now: NOW });
  const alert: LatencyAlert = { ...syntheticAlert(stream, NOW, 7200), viewerId: 'e-7' };
  t.equal(formatAlert(alert, NOW), 'Expert e-7 on or1: WebRTC latency 420 ms for 7 s (> 300 ms)');
  t.ok(isStatusSnapshot(syntheticSnapshot(NOW, [stream], [alert])));
  t.ok(isStatusSnapshot(JSON.parse(JSON.stringify(syntheticSnapshot(NOW, [], [])))));
  for (const bad of [null, [], {}, { now: 1, historySeconds: 1, alertThresholdMs: 1, streams: {}, alerts: [] },
    { now: 1, historySeconds: 1, alertThresholdMs: 1, streams: [{ stream: 'x' }], alerts: [] }]) {
    t.notOk(isStatusSnapshot(bad), JSON.stringify(bad));
  }
});

t.test('StatusPoller: snapshots and failures as data, one request at a time, destroy stops it', async (t) => {
  const bus = new Bus<StatusEvents>();
  const debugTarget: { __scopecastStatus?: StatusDebugSnapshot } = {};
  const debug = new StatusDebugState({ bus, target: debugTarget });
  const snapshot = syntheticSnapshot(NOW, [syntheticStream({ name: 'b', now: NOW }), syntheticStream({ name: 'a', now: NOW })]);
  const replies: Array<() => Promise<Response>> = [
    async () => Response.json(snapshot),
    async () => new Response('{"code":"SC_ERR_INTERNAL"}', { status: 500 }),
    async () => { throw new TypeError('Failed to fetch'); },
    async () => Response.json({ hello: 'world' }),
    async () => new Response('<html>', { status: 200 }),
  ];
  let calls = 0;
  let inflight = 0;
  let overlapped = false;
  const fakeFetch = (async () => {
    inflight++;
    overlapped ||= inflight > 1;
    try {
      return await (replies[calls++] ?? (async () => Response.json(snapshot)))();
    } finally {
      inflight--;
    }
  }) as typeof fetch;
  const seen: Array<StatusSnapshot | PollError> = [];
  // Stop exactly at the sixth result (from its own event, not a later check): with a 5 ms interval
  // a seventh poll could otherwise land before the loop noticed.
  let poller: StatusPoller | null = null;
  const record = (r: StatusSnapshot | PollError): void => {
    seen.push(r);
    if (seen.length === 6) poller?.destroy();
  };
  const offs = [bus.on('snapshot', record), bus.on('poll-error', record)];
  poller = new StatusPoller({ bus, url: '/api/status', intervalMs: 5, fetch: fakeFetch });
  poller.start();
  while (seen.length < 6) await sleep(5);
  poller.destroy();
  const after = calls;
  await sleep(40);
  t.equal(calls, after, 'no poll after destroy');
  t.notOk(overlapped, 'never two requests at once');
  t.same(seen[0], snapshot);
  t.match(seen.slice(1, 5), [
    { type: 'httpError', httpStatus: 500, fatal: false },
    { type: 'networkError', details: 'Failed to fetch', fatal: false },
    { type: 'parseError', fatal: false },
    { type: 'parseError', fatal: false },
  ]);
  t.same(seen[5], snapshot, 'recovers on the next good poll');
  t.match(debugTarget.__scopecastStatus, { polls: 6, errors: 4, streams: ['a', 'b'], alerts: 0 });

  // A hung request is aborted by the timeout and counted as failed; destroy aborts one in flight.
  const signals: AbortSignal[] = [];
  const hanging = ((_url: string, init?: RequestInit) => new Promise<Response>((_resolve, reject) => {
    const signal = init?.signal;
    if (signal) signals.push(signal);
    signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
  })) as typeof fetch;
  const errors: PollError[] = [];
  offs.push(bus.on('poll-error', (e) => errors.push(e)));
  const slow = new StatusPoller({ bus, url: '/api/status', intervalMs: 1000, timeoutMs: 20, fetch: hanging });
  slow.start();
  await sleep(60);
  t.match(errors, [{ type: 'networkError', details: 'timeout' }]);
  slow.destroy();
  t.ok(signals.at(-1)?.aborted, 'destroy aborts the request in flight');
  slow.destroy();
  for (const off of offs) off();
  debug.destroy();
  t.equal(bus.listenerCount(), 0, 'nothing left on the bus');
  t.equal(debugTarget.__scopecastStatus, undefined, 'debug mirror removed');
});

t.test('StatusPoller: sends the token on every poll; a refused token (401/403) is fatal and ends polling', async (t) => {
  for (const status of [401, 403]) {
    const bus = new Bus<StatusEvents>();
    const seen: string[] = [];
    let calls = 0;
    const fakeFetch = (async (_url: string, init?: RequestInit) => {
      calls++;
      seen.push(String((init?.headers as Record<string, string>).Authorization));
      return Response.json({ type: 'error', code: status === 401 ? 'SC_ERR_UNAUTHORIZED' : 'SC_ERR_FORBIDDEN', message: 'token expired' }, { status });
    }) as typeof fetch;
    const errors: PollError[] = [];
    const off = bus.on('poll-error', (e) => errors.push(e));
    const poller = new StatusPoller({ bus, url: '/api/status', intervalMs: 5, fetch: fakeFetch, headers: () => ({ Authorization: 'Bearer abc' }) });
    poller.start();
    await sleep(60);
    t.equal(calls, 1, `${status}: one poll, no retry`);
    t.same(seen, ['Bearer abc']);
    t.same(errors, [{ type: 'httpError', details: `HTTP ${status}`, httpStatus: status, code: status === 401 ? 'SC_ERR_UNAUTHORIZED' : 'SC_ERR_FORBIDDEN', fatal: true }]);
    poller.destroy();
    off();
  }
});

t.test('status page HTML: shell, no inline script, API path in a data attribute', async (t) => {
  const html = renderStatusPage({ scriptUrl: '/s.js', stylesheetUrl: '/s.css', apiUrl: '/api/"status' });
  t.match(html, /data-api-url="\/api\/&quot;status"/);
  t.match(html, /<script type="module" src="\/s\.js"><\/script>/);
  t.match(html, /<link rel="stylesheet" href="\/s\.css">/);
});

// ---------------------------------------------------------------------------------------------
// Routes.

t.test('routes: /api/status is the snapshot, uncached; /status is a CSP page with no inline script', async (t) => {
  let current: StatusSnapshot | null = syntheticSnapshot(NOW, [syntheticStream({ name: 'or1', now: NOW })]);
  const app = Fastify();
  const access = testAccessControl();
  await withAccessRoutes(app, access);
  await app.register(statusPlugin, {
    snapshot: () => {
      if (!current) throw new Error('latency book unavailable');
      return current;
    },
    access,
  });
  t.teardown(() => app.close());

  const api = await app.inject({ url: '/api/status', headers: bearer('admin') });
  t.equal(api.statusCode, 200);
  t.match(api.headers['content-type'], /^application\/json/);
  t.equal(api.headers['cache-control'], 'no-store');
  t.same(api.json(), current);
  // For IT only: no token 401, any other role 403, both as coded JSON errors.
  const anonymous = await app.inject('/api/status');
  t.equal(anonymous.statusCode, 401);
  t.match(anonymous.json(), { type: 'error', code: 'SC_ERR_UNAUTHORIZED' });
  for (const role of ['trainee', 'expert', 'surgeon'] as const) {
    const refused = await app.inject({ url: '/api/status', headers: bearer(role, 'or1') });
    t.equal(refused.statusCode, 403, role);
    t.match(refused.json(), { type: 'error', code: 'SC_ERR_FORBIDDEN' }, role);
  }
  current = null;
  t.equal((await app.inject({ url: '/api/status', headers: bearer('admin') })).statusCode, 500, 'a throwing snapshot() is a 500');

  const page = await app.inject('/status');
  t.equal(page.statusCode, 200, 'the page itself is public (its data is not)');
  t.match(page.headers['content-type'], /^text\/html/);
  t.equal(page.headers['content-security-policy'], PAGE_CSP);
  t.equal(page.headers['referrer-policy'], 'no-referrer');
  t.match(page.headers['content-security-policy'], /script-src 'self'(;|$)/, 'no unsafe-inline scripts');
  const scripts = [...page.body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
  t.equal(scripts.length, 1);
  t.match(scripts[0]?.[1], /\bsrc="\/player\/status\.js"/);
  t.equal(scripts[0]?.[2], '', 'no inline script');
  t.notMatch(page.body, /\son[a-z]+=/i, 'no inline event handlers');
  t.notMatch(page.body, /https?:\/\//, 'no external URLs');

  const js = await app.inject('/player/status.js');
  t.equal(js.statusCode, 200);
  t.match(js.headers['content-type'], /javascript/);
  t.notMatch(js.body, /video\.js|Hls\.DefaultConfig/, 'the dashboard bundle carries no player');
  t.equal((await app.inject('/player/status.js.map')).statusCode, 200);
  const css = await app.inject('/player/status.css');
  t.equal(css.statusCode, 200);
  t.match(css.headers['content-type'], /^text\/css/);
  t.equal((await app.inject({ url: '/player/status.css', headers: { 'if-none-match': String(css.headers.etag) } })).statusCode, 304);
});

t.test('plugin options: snapshot() is required', async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  await t.rejects(async () => { await app.register(statusPlugin, { access: testAccessControl() } as never); }, { code: 'SC_ERR_CONFIG_INVALID' });
});

// ---------------------------------------------------------------------------------------------
// The page in headless Chromium.

interface World {
  fail: boolean;
  streams: string[];
  alertOn: string | null;
}

function snapshotOf(world: World): StatusSnapshot {
  if (world.fail) throw new Error('latency book unavailable');
  const now = Date.now();
  const streams: StreamStatus[] = world.streams.map((name, i) =>
    syntheticStream({ name, now, seed: i + 1, webrtcViewers: 2 + i, llhlsViewers: 5 + i, spikeSeconds: name === world.alertOn ? 8 : 0 }));
  const alerted = streams.find((s) => s.stream === world.alertOn);
  return syntheticSnapshot(now, streams, alerted ? [syntheticAlert(alerted, now)] : []);
}

async function listen(world: World): Promise<{ app: FastifyInstance; base: string }> {
  const app = Fastify();
  const access = testAccessControl();
  await withAccessRoutes(app, access);
  await app.register(statusPlugin, { snapshot: () => snapshotOf(world), access });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, base };
}

t.test('dashboard in Chromium: chart, figures, alerts come and go, streams come and go, survives a failing API', async (t) => {
  const world: World = { fail: false, streams: ['or1'], alertOn: null };
  const { app, base } = await listen(world);
  t.teardown(() => app.close());

  await withBrowser(t, async (browser) => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const { pageErrors, foreign, consoleLines } = observePage(page, base);
    const debug = (): Promise<StatusDebugSnapshot | undefined> => page.evaluate(() => window.__scopecastStatus);
    // Predicates run in the page and read window.__scopecastStatus themselves (serialised, no closures;
    // a string expression would need eval, which the page's CSP forbids).
    const waitFor = async (what: string, predicate: (arg: number) => boolean, arg = 0): Promise<void> => {
      try {
        await page.waitForFunction(predicate, arg, { timeout: 10_000 });
      } catch (error) {
        throw new Error(`${what} never happened: ${JSON.stringify(await debug())}\n${consoleLines.slice(-20).join('\n')}`, { cause: error });
      }
    };

    await page.goto(withToken(`${base}/status`, 'admin'));
    t.equal(await page.title(), 'scopecast status');
    t.equal(page.url(), `${base}/status`, 'the token left the address bar');
    await waitFor('first poll', () => (window.__scopecastStatus?.polls ?? 0) >= 1);
    t.match(await debug(), { errors: 0, streams: ['or1'], alerts: 0 });

    const panel = '#scopecast-streams [data-stream="or1"]';
    const lines = await page.locator(`${panel} path.sc-line`).evaluateAll((paths) => paths.map((p) => p.getAttribute('d') ?? ''));
    t.equal(lines.length, 4, 'webrtc and llhls p50 and p95 lines');
    t.ok(lines.every((d) => d.split('L').length > 100), 'each line spans the 120 s history');
    t.equal(await page.locator(`${panel} line.sc-threshold`).count(), 1, 'the alert line');
    t.notOk(await isBlank(page, await screenshotElement(page, `${panel} svg.sc-chart`)), 'the chart is drawn');
    t.equal(await page.locator(`${panel} [data-field="viewers-webrtc"]`).textContent(), '2');
    t.equal(await page.locator(`${panel} [data-field="viewers-llhls"]`).textContent(), '5');
    t.equal(await page.locator(`${panel} [data-field="bitrate"]`).textContent(), '6.35 Mbit/s');
    t.equal(await page.locator(`${panel} [data-hop="end_to_end"]`).textContent(), '180 ms');
    t.equal(await page.locator(`${panel} tbody tr`).count(), 7, 'one row per viewer');
    t.ok(await page.locator('#scopecast-alerts').isHidden(), 'no alert banner without alerts');

    // A second stream appears.
    world.streams = ['or1', 'us1'];
    await waitFor('second stream', () => window.__scopecastStatus?.streams.length === 2);
    t.same(await page.locator('#scopecast-streams > section').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.stream)), ['or1', 'us1']);
    t.equal(await page.locator('[data-stream="us1"] [data-field="viewers-webrtc"]').textContent(), '3');

    // An alert on us1 shows in the red banner, then clears.
    world.alertOn = 'us1';
    await waitFor('alert', () => window.__scopecastStatus?.alerts === 1);
    const banner = page.locator('#scopecast-alerts');
    t.ok(await banner.isVisible(), 'banner shown');
    t.match(await banner.textContent(), /^Expert us1-expert-1 on us1: WebRTC latency 420 ms for \d+ s \(> 300 ms\)$/);
    t.equal(await banner.evaluate((el) => getComputedStyle(el).backgroundColor), 'rgb(179, 38, 30)', 'red');
    t.equal(await page.locator('[data-stream="us1"] tr.sc-over').getAttribute('data-viewer'), 'us1-expert-1', 'the viewer is marked');
    t.equal(await page.locator('[data-stream="us1"]').getAttribute('data-alert'), 'true');
    world.alertOn = null;
    await waitFor('alert cleared', () => window.__scopecastStatus?.alerts === 0);
    t.ok(await banner.isHidden(), 'banner gone');
    t.equal(await page.locator('tr.sc-over').count(), 0);

    // /api/status fails: the page says so, keeps the last data and keeps polling.
    world.fail = true;
    const before = (await debug())?.errors ?? 0;
    await waitFor('two failed polls', (n) => (window.__scopecastStatus?.errors ?? 0) >= n + 2, before);
    t.match(await page.locator('#scopecast-connection').textContent(), /^status unavailable, retrying/);
    t.equal(await page.locator('#scopecast-connection').getAttribute('data-state'), 'error');
    t.equal(await page.locator('#scopecast-streams > section').count(), 2, 'last data kept');
    t.equal(await page.locator('#scopecast-dashboard').getAttribute('data-stale'), 'true');

    // It comes back, with or1 gone.
    world.fail = false;
    world.streams = ['us1'];
    await waitFor('recovery', () => window.__scopecastStatus?.streams.join() === 'us1');
    t.match(await page.locator('#scopecast-connection').textContent(), /^updated /);
    t.same(await page.locator('#scopecast-streams > section').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.stream)), ['us1']);
    t.equal(await page.locator('#scopecast-dashboard').getAttribute('data-stale'), null);

    // No streams at all.
    world.streams = [];
    await waitFor('no streams', () => window.__scopecastStatus?.streams.length === 0);
    t.ok(await page.locator('#scopecast-empty').isVisible());

    t.same(pageErrors, [], 'no uncaught page errors');
    t.same(foreign, [], 'no request leaves the origin');
    t.same(consoleLines.filter((line) => !line.startsWith('log:') && !/status of 500/.test(line)), [],
      'no console errors besides the failed polls');
    await page.close();
  });
});

t.test('dashboard in Chromium without an admin token: the message instead of an empty dashboard, polling stops', async (t) => {
  const world: World = { fail: false, streams: ['or1'], alertOn: null };
  const { app, base } = await listen(world);
  t.teardown(() => app.close());
  await withBrowser(t, async (browser) => {
    const cases: Array<[string, string, string]> = [
      ['no token', `${base}/status`, 'This link has no access token — ask the coordinator for a new link.'],
      ['an expert token', withToken(`${base}/status`, 'expert', 'or1'), 'This link (expert) does not open the status dashboard — ask the coordinator for a new link.'],
      ['a token that is not one', `${base}/status?token=not.a.token`, 'This link is no longer valid (withdrawn or not recognised) — ask the coordinator for a new link.'],
    ];
    for (const [name, url, message] of cases) {
      const page = await browser.newPage();
      const { pageErrors, consoleLines } = observePage(page, base);
      const polls: number[] = [];
      page.on('response', (r) => { if (r.url().endsWith('/api/status')) polls.push(r.status()); });
      await page.goto(url);
      try {
        await page.waitForFunction(() => document.getElementById('scopecast-connection')?.dataset.state === 'denied', null, { timeout: 10_000 });
      } catch (error) {
        throw new Error(`${name}: never denied\n${consoleLines.join('\n')}`, { cause: error });
      }
      t.equal(await page.locator('#scopecast-connection').textContent(), message, name);
      t.equal(await page.locator('#scopecast-dashboard').getAttribute('data-access'), 'denied', name);
      t.ok(await page.locator('#scopecast-streams').isHidden(), `${name}: no dashboard under the message`);
      const asked = polls.length;
      await sleep(2500);
      t.equal(polls.length, asked, `${name}: no poll after the refusal (${polls.join(',') || 'none'})`);
      t.same(pageErrors, [], `${name}: no page errors`);
      await page.close();
    }
  });
});
