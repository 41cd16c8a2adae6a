// The pages' access token controller (player/shared/access-token.ts), in Node with a fake history
// and fetch: read from the page URL and out of the address bar at once, headers and WebSocket/link
// URLs, refresh at half the remaining life, refusals as data with the sentence the page shows.
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import {
  AccessToken,
  accessMessage,
  decodeTokenPayload,
  denyOnSocketRefusal,
  isAccessStatus,
  splitTokenFromUrl,
  withTokenParam,
  xhrHeadersSetup,
  type AccessDenial,
  type AccessTokenOptions,
} from '../player/index.js';
import { testToken } from './helpers/auth.js';

const PAGE = 'https://origin.example/watch/or1';

function fakeHistory(): { replaced: string[]; history: AccessTokenOptions['history'] } {
  const replaced: string[] = [];
  return { replaced, history: { state: { keep: 1 }, replaceState: (_state: unknown, _unused: string, url?: string | URL | null) => void replaced.push(String(url)) } };
}

t.test('URL helpers: the token out of the page URL (the rest kept), into WebSocket URLs and links', async (t) => {
  t.same(splitTokenFromUrl(`${PAGE}?a=1&token=abc.def.ghi&b=2#here`), { token: 'abc.def.ghi', stripped: `${PAGE}?a=1&b=2#here` });
  t.same(splitTokenFromUrl(`${PAGE}?token=abc`), { token: 'abc', stripped: PAGE });
  t.same(splitTokenFromUrl(`${PAGE}?token=`), { token: null, stripped: PAGE }, 'an empty token is none (and still leaves the bar)');
  t.same(splitTokenFromUrl(PAGE), { token: null, stripped: PAGE });
  t.equal(withTokenParam('wss://origin.example/ws/or1', 'x.y.z'), 'wss://origin.example/ws/or1?token=x.y.z');
  t.equal(withTokenParam('/library/or1-20260115T093000-abcd', 'x.y.z'), '/library/or1-20260115T093000-abcd?token=x.y.z', 'a path stays a path');
  t.equal(withTokenParam('/library?token=old#top', 'new'), '/library?token=new#top', 'replaced, not doubled');
  t.equal(withTokenParam('/library?token=old', null), '/library');
  t.ok(isAccessStatus(401) && isAccessStatus(403));
  t.notOk(isAccessStatus(404) || isAccessStatus(500) || isAccessStatus(undefined));
});

t.test('decodeTokenPayload: unverified claims, only values that look like the server\'s', async (t) => {
  const token = testToken('expert', 'or1', { ttlSeconds: 600, now: 1_700_000_000_000 });
  t.same(decodeTokenPayload(token), { role: 'expert', stream: 'or1', iat: 1_700_000_000, exp: 1_700_000_600 });
  t.same(decodeTokenPayload(testToken('admin', '*'))?.stream, '*');
  const crafted = `x.${Buffer.from(JSON.stringify({ role: 'call 555-0100', stream: 'or1 <b>now</b>', exp: 'soon' })).toString('base64url')}.y`;
  t.same(decodeTokenPayload(crafted), { role: null, stream: null, iat: null, exp: null }, 'a crafted link cannot put text on the page');
  t.equal(decodeTokenPayload('not-a-jwt'), null);
  t.equal(decodeTokenPayload('a.%%%.c'), null);
});

t.test('accessMessage: what the page says for each refusal', async (t) => {
  t.equal(accessMessage('tokenMissing'), 'This link has no access token — ask the coordinator for a new link.');
  t.equal(accessMessage('tokenExpired'), 'This link has expired — ask the coordinator for a new link.');
  t.equal(accessMessage('tokenRejected'), 'This link is no longer valid (withdrawn or not recognised) — ask the coordinator for a new link.');
  const trainee = decodeTokenPayload(testToken('trainee', 'or1'));
  t.equal(accessMessage('tokenForbidden', { payload: trainee, stream: 'or1', purpose: 'the expert view' }), 'This link (trainee) does not open the expert view — ask the coordinator for a new link.');
  t.equal(accessMessage('tokenForbidden', { payload: trainee, stream: 'or2', purpose: 'the expert view' }), 'This link is not valid for this stream (or2): it is for or1 — ask the coordinator for a new link.');
  t.equal(accessMessage('tokenForbidden', { payload: null }), 'This link is not valid for this page — ask the coordinator for a new link.');
});

t.test('xhrHeadersSetup: opens the request hls.js has not opened yet, then sets the current headers', async (t) => {
  const calls: string[] = [];
  const xhr = {
    readyState: 0,
    open: (method: string, url: string) => { calls.push(`open ${method} ${url}`); xhr.readyState = 1; },
    setRequestHeader: (name: string, value: string) => void calls.push(`${name}: ${value}`),
  };
  let token = 'one';
  const setup = xhrHeadersSetup(() => ({ Authorization: `Bearer ${token}` }));
  setup(xhr as unknown as XMLHttpRequest, '/hls/or1/index.m3u8');
  token = 'two';
  setup(xhr as unknown as XMLHttpRequest, '/hls/or1/index.m3u8');
  t.same(calls, ['open GET /hls/or1/index.m3u8', 'Authorization: Bearer one', 'Authorization: Bearer two'], 'opened once; each request reads the token anew');
});

t.test('AccessToken: out of the address bar at construction; headers, WebSocket URL, links', async (t) => {
  const token = testToken('trainee', 'or1');
  const { replaced, history } = fakeHistory();
  const access = new AccessToken({ href: `${PAGE}?token=${token}&x=1`, history, refreshUrl: '/api/tokens/refresh', stream: 'or1', fetch: (async () => { throw new Error('no fetch here'); }) as typeof fetch });
  t.same(replaced, [`${PAGE}?x=1`], 'replaceState before any request');
  t.equal(access.current(), token);
  t.equal(access.role, 'trainee');
  t.same(access.headers(), { Authorization: `Bearer ${token}` });
  t.equal(access.wsUrl('wss://origin.example/ws/or1'), `wss://origin.example/ws/or1?token=${token}`);
  t.equal(access.link('/library'), `/library?token=${token}`);
  t.match(access.debug, { hasToken: true, role: 'trainee', stream: 'or1', refreshes: 0, denied: null });
  t.notMatch(JSON.stringify(access.debug), token, 'the debug mirror never holds the token');
  access.destroy();
  t.equal(access.current(), null, 'destroy() forgets it');
  t.same(access.headers(), {});
});

t.test('AccessToken: no token is denied at start(), once, with nothing fetched', async (t) => {
  const { replaced, history } = fakeHistory();
  let fetches = 0;
  const access = new AccessToken({ href: PAGE, history, refreshUrl: '/api/tokens/refresh', fetch: (async () => { fetches++; return Response.json({}); }) as typeof fetch });
  t.same(replaced, [], 'nothing to take out of the address bar');
  const denials: AccessDenial[] = [];
  access.on('denied', (d) => denials.push(d));
  access.start();
  access.deny({ httpStatus: 401 });
  t.same(denials, [{ type: 'accessError', details: 'tokenMissing', fatal: true, message: 'This link has no access token — ask the coordinator for a new link.' }], 'one denial');
  t.equal(access.denial, denials[0]);
  t.same(access.headers(), {});
  await sleep(20);
  t.equal(fetches, 0);
  access.destroy();
});

t.test('AccessToken: refreshes at half the remaining life, uses the new token, keeps going', async (t) => {
  const start = Date.now();
  let clock = start;
  // The link's token has 200 ms left on this clock: refresh after ~100 ms.
  const first = testToken('expert', 'or1', { ttlSeconds: 3600 });
  const exp = decodeTokenPayload(first)!.exp!;
  const offset = exp * 1000 - 200 - start;
  const posts: Array<{ url: string; authorization: string | undefined; method: string | undefined; body: unknown }> = [];
  let next = 0;
  const fakeFetch = (async (url: string, init?: RequestInit) => {
    posts.push({ url, authorization: (init?.headers as Record<string, string>).Authorization, method: init?.method, body: init?.body });
    next += 1;
    // A fresh token of 1 s: the next refresh 500 ms later.
    return Response.json({ token: testToken('expert', 'or1', { ttlSeconds: 1, jti: `j${next}`, now: clock + offset }), exp: 0, jti: `j${next}` });
  }) as typeof fetch;
  const access = new AccessToken({ href: `${PAGE}?token=${first}`, history: null, refreshUrl: 'https://origin.example/api/tokens/refresh', fetch: fakeFetch, now: () => (clock = Date.now()) + offset, minRefreshMs: 10 });
  const tokens: string[] = [];
  access.on('token', () => tokens.push(access.current()!));
  access.start();
  await sleep(60);
  t.equal(posts.length, 0, 'not before half the remaining life');
  await sleep(120);
  t.equal(posts.length, 1, 'refreshed after ~100 ms');
  t.same(posts[0], { url: 'https://origin.example/api/tokens/refresh', authorization: `Bearer ${first}`, method: 'POST', body: undefined }, 'POST to the given origin with the current token, no body');
  t.equal(access.current(), tokens[0]);
  t.not(access.current(), first);
  await sleep(550);
  t.equal(posts.length, 2, 'the refreshed token is refreshed in turn, at half its life');
  t.equal(posts[1]?.authorization, `Bearer ${tokens[0]}`, 'with the token it got last time');
  t.equal(access.debug.refreshes, 2);
  access.destroy();
  const after = posts.length;
  await sleep(700);
  t.equal(posts.length, after, 'destroy() stops refreshing');
});

t.test('AccessToken: a refused refresh denies (expired or withdrawn); a failed one is retried', async (t) => {
  const token = testToken('surgeon', 'or1', { ttlSeconds: 3600 });
  const exp = decodeTokenPayload(token)!.exp!;
  // 100 ms left: refresh after 50 ms.
  let offset = exp * 1000 - 100 - Date.now();
  const replies: Array<() => Promise<Response>> = [
    async () => { throw new TypeError('Failed to fetch'); },
    async () => new Response('busy', { status: 503 }),
    async () => {
      offset += 10_000; // the origin was away longer than the token lived
      return Response.json({ type: 'error', code: 'SC_ERR_UNAUTHORIZED', message: 'token expired' }, { status: 401 });
    },
  ];
  let calls = 0;
  const access = new AccessToken({
    href: `${PAGE}?token=${token}`,
    history: null,
    refreshUrl: '/api/tokens/refresh',
    fetch: (async () => (replies[calls++] ?? replies[2]!)()) as typeof fetch,
    now: () => Date.now() + offset,
    minRefreshMs: 20,
  });
  const denials: AccessDenial[] = [];
  access.on('denied', (d) => denials.push(d));
  access.start();
  const deadline = Date.now() + 3000;
  while (denials.length === 0 && Date.now() < deadline) await sleep(10);
  t.equal(calls, 3, 'two transient failures retried, then the refusal');
  t.equal(access.debug.refreshFailures, 2);
  t.same(denials, [{ type: 'accessError', details: 'tokenExpired', fatal: true, httpStatus: 401, code: 'SC_ERR_UNAUTHORIZED', message: 'This link has expired — ask the coordinator for a new link.' }], 'past its expiry on this clock: "expired"');
  t.equal(access.debug.denied, 'tokenExpired');
  await sleep(100);
  t.equal(calls, 3, 'no refresh after a denial');
  access.destroy();

  // Refused well before its expiry: withdrawn (revoked), not expired.
  const fresh = new AccessToken({ href: `${PAGE}?token=${testToken('surgeon', 'or1')}`, history: null, refreshUrl: '/r', fetch: (async () => { throw new Error('unused'); }) as typeof fetch });
  t.equal(fresh.deny({ httpStatus: 401 }).details, 'tokenRejected');
  t.equal(fresh.deny({ httpStatus: 403 }).details, 'tokenRejected', 'the first verdict stands');
  fresh.destroy();
});

t.test('denyOnSocketRefusal: the origin ending a socket for a revoked token denies the page', async (t) => {
  const listeners = new Set<(m: { type: string; code?: string }) => void>();
  const source = { onMessage: (l: (m: { type: string; code?: string }) => void) => { listeners.add(l); return () => listeners.delete(l); } };
  const access = new AccessToken({ href: `${PAGE}?token=${testToken('trainee', 'or1')}`, history: null, refreshUrl: '/r', stream: 'or1' });
  const off = denyOnSocketRefusal(source, access);
  for (const l of listeners) l({ type: 'error', code: 'SC_ERR_WS_MESSAGE' });
  t.equal(access.denial, null, 'a protocol error is not an access refusal');
  for (const l of listeners) l({ type: 'error', code: 'SC_ERR_UNAUTHORIZED' });
  t.match(access.denial, { details: 'tokenRejected', httpStatus: 401 });
  off();
  t.equal(listeners.size, 0);
  access.destroy();
});
