// Every listener of a real edge + origin, asked with every kind of bad token (missing, expired,
// wrong stream, wrong role, alg none, tampered, other key, revoked) and with a good one: all bad
// denied (401/403, or the RTMP session refused), all good let through. Then the audit trail of
// the run is intact, holds the denials, and an edited line is detected by bin/audit-verify.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import t from 'tap';
import WebSocket from 'ws';
import { FfmpegProcess } from '../codecs/ffmpeg/index.js';
import { INGEST_HEADERS } from '../lib/ingest-protocol.js';
import { verifyAuditLog } from '../lib/security/audit-log.js';
import { issueToken, type TokenRole } from '../lib/security/tokens.js';
import { TEST_INGEST_KEY, TEST_KEY, TEST_SCRAPE_TOKEN, testToken } from './helpers/auth.js';
import { eventually, publishTestSource, startStack } from './helpers/stack.js';

const run = promisify(execFile);
const STREAM = 'matrix1';
const OTHER = 'matrix2';

type Variant = 'missing' | 'expired' | 'wrong-stream' | 'wrong-role' | 'alg-none' | 'tampered' | 'other-key' | 'revoked' | 'good';
const BAD: Variant[] = ['missing', 'expired', 'wrong-stream', 'wrong-role', 'alg-none', 'tampered', 'other-key', 'revoked'];

/** A role that must NOT be let in where `role` is the least allowed one. */
const WRONG_ROLE: Record<string, TokenRole> = { trainee: 'publisher', expert: 'trainee', surgeon: 'trainee', admin: 'expert', publisher: 'trainee' };

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

function tokenFor(variant: Variant, role: TokenRole, stream: string, revokedJti: string): string | null {
  switch (variant) {
    case 'missing':
      return null;
    case 'good':
      return testToken(role, stream);
    case 'expired':
      return testToken(role, stream, { now: Date.now() - 2 * 3600_000, ttlSeconds: 600 });
    case 'wrong-stream':
      return testToken(role, OTHER);
    case 'wrong-role':
      return testToken(WRONG_ROLE[role]!, stream);
    case 'alg-none': {
      const now = Math.floor(Date.now() / 1000);
      return `${b64({ alg: 'none', typ: 'JWT', kid: TEST_KEY.id })}.${b64({ sub: 'x', role: 'admin', stream: '*', iat: now, exp: now + 600, jti: 'none-1' })}.`;
    }
    case 'tampered': {
      // A trainee's token with its role edited to admin (and stream to '*'): the signature no longer matches.
      const [h, p, s] = testToken('trainee', OTHER).split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
      return `${h}.${b64({ ...claims, role: 'admin', stream: '*' })}.${s}`;
    }
    case 'other-key':
      return issueToken({ id: TEST_KEY.id, secret: 'another-secret-of-sufficient-length-000000' }, { sub: 'x', role, stream, ttlSeconds: 600 });
    case 'revoked':
      return testToken(role, stream, { jti: revokedJti });
  }
}

interface HttpCase {
  name: string;
  method: string;
  url: () => string;
  role: TokenRole;
  /** Stream-less endpoints have no "wrong stream". */
  scoped: boolean;
  body?: () => string;
  contentType?: string;
  /** Let the token ride in ?token= instead of the header (WebSocket-style). */
  query?: boolean;
  /** Any role may (its own token's details): no "wrong role". */
  anyRole?: boolean;
  /** Spans every stream: only a token scoped to '*' will do (one for a single stream is "wrong stream"). */
  allStreams?: boolean;
}

t.test('auth matrix over every endpoint', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const publisher = publishTestSource(stack.rtmpUrl(STREAM), { size: '640x360' });
  t.teardown(() => publisher.close());
  const admin = stack.auth('admin');
  const live = await eventually(async () => {
    const r = await fetch(`${stack.originUrl}/hls/${STREAM}/index.m3u8`, { headers: admin });
    if (!r.ok) return undefined;
    const rendition = /^(\w+)\/stream\.m3u8$/m.exec(await r.text())?.[1];
    if (!rendition) return undefined;
    const media = await (await fetch(`${stack.originUrl}/hls/${STREAM}/${rendition}/stream.m3u8`, { headers: admin })).text();
    const init = /init_(\d+)\.mp4/.exec(media)?.[1];
    const seg = /seg_(\d+)\.m4s/.exec(media)?.[1];
    const part = /part_(\d+)\.m4s/.exec(media)?.[1];
    return init && seg && part ? { rendition, init, seg, part } : undefined;
  }, 30_000, 'the stream is live on LL-HLS');
  const recording = await eventually(async () => {
    const body = (await (await fetch(`${stack.originUrl}/api/recordings`, { headers: admin })).json()) as { recordings: Array<{ id: string; stream: string }> };
    return body.recordings.find((r) => r.stream === STREAM)?.id;
  }, 10_000, 'the recording is listed');

  // One token id revoked through the API before the matrix runs.
  const revokedJti = 'matrix-revoked-1';
  const revoke = await fetch(`${stack.originUrl}/api/tokens/revoke`, { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ jti: revokedJti, exp: Math.floor(Date.now() / 1000) + 3600 }) });
  t.equal(revoke.status, 200, 'admin revokes a token id');

  const o = stack.originUrl;
  const e = stack.edgeUrl;
  const hls = `${o}/hls/${STREAM}`;
  const r = `${hls}/${live.rendition}`;
  const json = 'application/json';
  const cases: HttpCase[] = [
    { name: 'origin master playlist', method: 'GET', url: () => `${hls}/index.m3u8`, role: 'trainee', scoped: true },
    { name: 'origin media playlist', method: 'GET', url: () => `${r}/stream.m3u8`, role: 'trainee', scoped: true },
    { name: 'origin blocking playlist', method: 'GET', url: () => `${r}/stream.m3u8?_HLS_msn=${live.seg}`, role: 'trainee', scoped: true },
    { name: 'origin init segment', method: 'GET', url: () => `${r}/init_${live.init}.mp4`, role: 'trainee', scoped: true },
    { name: 'origin segment', method: 'GET', url: () => `${r}/seg_${live.seg}.m4s`, role: 'trainee', scoped: true },
    { name: 'origin part', method: 'GET', url: () => `${r}/part_${live.part}.m4s`, role: 'trainee', scoped: true },
    { name: 'origin WHEP offer', method: 'POST', url: () => `${o}/whep/${STREAM}`, role: 'expert', scoped: true, body: () => 'v=0\r\n', contentType: 'application/sdp' },
    { name: 'origin WHEP delete', method: 'DELETE', url: () => `${o}/whep/${STREAM}/00000000-0000-0000-0000-000000000000`, role: 'expert', scoped: true },
    { name: 'origin stream list', method: 'GET', url: () => `${o}/api/streams`, role: 'trainee', scoped: false },
    { name: 'origin stream info', method: 'GET', url: () => `${o}/api/streams/${STREAM}`, role: 'trainee', scoped: true },
    { name: 'origin latency status', method: 'GET', url: () => `${o}/api/status`, role: 'admin', scoped: true, allStreams: true },
    { name: 'origin cluster status', method: 'GET', url: () => `${o}/api/cluster`, role: 'admin', scoped: true, allStreams: true },
    { name: 'origin WebRTC sessions', method: 'GET', url: () => `${o}/api/webrtc/sessions`, role: 'admin', scoped: true, allStreams: true },
    { name: 'recordings list', method: 'GET', url: () => `${o}/api/recordings`, role: 'trainee', scoped: false },
    { name: 'recording details', method: 'GET', url: () => `${o}/api/recordings/${recording}`, role: 'trainee', scoped: true },
    { name: 'recording playlist', method: 'GET', url: () => `${o}/recordings/${recording}/playlist.m3u8`, role: 'trainee', scoped: true },
    { name: 'recording annotations', method: 'GET', url: () => `${o}/recordings/${recording}/annotations.jsonl`, role: 'trainee', scoped: true },
    { name: 'recording edit', method: 'PATCH', url: () => `${o}/api/recordings/${recording}`, role: 'expert', scoped: true, body: () => JSON.stringify({ title: 'Teaching case' }), contentType: json },
    { name: 'recording bookmark', method: 'POST', url: () => `${o}/api/recordings/${recording}/bookmarks`, role: 'expert', scoped: true, body: () => JSON.stringify({ atMs: 1000, label: 'here' }), contentType: json },
    { name: 'recording chapter', method: 'POST', url: () => `${o}/api/recordings/${recording}/chapters`, role: 'expert', scoped: true, body: () => JSON.stringify({ atMs: 1000, label: 'step' }), contentType: json },
    { name: 'recording delete', method: 'DELETE', url: () => `${o}/api/recordings/${recording}`, role: 'admin', scoped: true },
    { name: 'token issue', method: 'POST', url: () => `${o}/api/tokens`, role: 'admin', scoped: true, allStreams: true, body: () => JSON.stringify({ sub: 'dr-li', role: 'trainee', stream: STREAM }), contentType: json },
    { name: 'token revoke', method: 'POST', url: () => `${o}/api/tokens/revoke`, role: 'admin', scoped: true, allStreams: true, body: () => JSON.stringify({ jti: 'unused-jti-1' }), contentType: json },
    { name: 'token self', method: 'GET', url: () => `${o}/api/tokens/self`, role: 'trainee', scoped: false, anyRole: true },
    { name: 'token self (query token)', method: 'GET', url: () => `${o}/api/tokens/self`, role: 'trainee', scoped: false, query: true, anyRole: true },
    { name: 'token refresh', method: 'POST', url: () => `${o}/api/tokens/refresh`, role: 'trainee', scoped: false, anyRole: true },
    { name: 'edge WHIP offer', method: 'POST', url: () => `${e}/whip/${OTHER}x`, role: 'publisher', scoped: true, body: () => 'v=0\r\n', contentType: 'application/sdp' },
    { name: 'edge WHIP delete', method: 'DELETE', url: () => `${e}/whip/${STREAM}/00000000-0000-0000-0000-000000000000`, role: 'publisher', scoped: true },
    { name: 'edge stream list', method: 'GET', url: () => `${e}/api/streams`, role: 'admin', scoped: true, allStreams: true },
    { name: 'edge recordings', method: 'GET', url: () => `${e}/api/recordings`, role: 'admin', scoped: true, allStreams: true },
    { name: 'edge recording file', method: 'GET', url: () => `${e}/recordings/none/meta.json`, role: 'admin', scoped: true, allStreams: true },
  ];

  for (const c of cases) {
    for (const variant of [...BAD, 'good' as const]) {
      if ((variant === 'wrong-stream' && !c.scoped) || (variant === 'wrong-role' && c.anyRole)) continue;
      // The WHIP offer's stream must match the token: scope the good token to the path's stream.
      const scope = c.allStreams ? '*' : c.url().includes(`/whip/${OTHER}x`) ? `${OTHER}x` : STREAM;
      const token = c.allStreams && variant === 'wrong-stream' ? testToken(c.role, STREAM) : tokenFor(variant, c.role, variant === 'wrong-stream' ? STREAM : scope, revokedJti);
      let url = c.url();
      const headers: Record<string, string> = {};
      if (token && c.query) url += `${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
      else if (token) headers.authorization = `Bearer ${token}`;
      if (c.contentType) headers['content-type'] = c.contentType;
      const res = await fetch(url, { method: c.method, headers, ...(c.body ? { body: c.body() } : {}) });
      await res.arrayBuffer();
      if (variant === 'good') t.notOk([401, 403].includes(res.status), `${c.name}: a good ${c.role} token is let through (${res.status})`);
      else t.ok([401, 403].includes(res.status), `${c.name}: ${variant} token denied (${res.status})`);
    }
  }

  t.test('token refresh works cross-origin (the edge-served monitor page refreshes at the origin)', async (t) => {
    const preflight = await fetch(`${o}/api/tokens/refresh`, { method: 'OPTIONS', headers: { origin: 'http://edge.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' } });
    t.equal(preflight.status, 204, 'preflight answered');
    t.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/, 'the authorization header is allowed');
    const refreshed = await fetch(`${o}/api/tokens/refresh`, { method: 'POST', headers: { ...stack.auth('surgeon', STREAM), origin: 'http://edge.example' } });
    t.equal(refreshed.status, 200, 'refresh answered');
    t.equal(refreshed.headers.get('access-control-allow-origin'), '*', 'readable by the page');
    const body = (await refreshed.json()) as { token: string; exp: number };
    t.equal((await fetch(`${o}/api/tokens/self`, { headers: { authorization: `Bearer ${body.token}` } })).status, 200, 'the refreshed token works');
  });

  t.test('/metrics takes only the scrape token (not even an admin JWT)', async (t) => {
    for (const base of [o, e]) {
      t.equal((await fetch(`${base}/metrics`)).status, 401, `${base === o ? 'origin' : 'edge'}: no token`);
      t.equal((await fetch(`${base}/metrics`, { headers: admin })).status, 401, 'admin JWT refused');
      t.equal((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong-scrape-token-000000' } })).status, 401, 'wrong scrape token');
      const ok = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TEST_SCRAPE_TOKEN}` } });
      t.equal(ok.status, 200, 'scrape token');
      t.notMatch(await ok.text(), /Bearer|eyJ/, 'no token in the metrics text');
    }
  });

  t.test('WebSocket upgrades', async (t) => {
    const wsBase = o.replace('http', 'ws');
    const upgrade = (url: string, headers: Record<string, string> = {}): Promise<number> =>
      new Promise((resolve) => {
        const ws = new WebSocket(url, { headers });
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('error', () => resolve(0));
      });
    for (const variant of [...BAD, 'good' as const]) {
      const token = tokenFor(variant, 'trainee', STREAM, revokedJti);
      const status = await upgrade(`${wsBase}/ws/${STREAM}${token ? `?token=${token}` : ''}`);
      if (variant === 'good') t.equal(status, 101, 'viewer socket: good token connects');
      else t.ok([401, 403].includes(status), `viewer socket: ${variant} token refused before the upgrade (${status})`);
    }
    t.equal(await upgrade(`${wsBase}/ws`), 401, 'edge socket without the ingest key');
    t.equal(await upgrade(`${wsBase}/ws`, { authorization: `Bearer ${testToken('admin')}` }), 401, 'edge socket with a user token instead of the ingest key');
    t.equal(await upgrade(`${wsBase}/ws`, { [INGEST_HEADERS.key]: TEST_INGEST_KEY }), 101, 'edge socket with the ingest key');
  });

  t.test('origin ingest takes only an edge key', async (t) => {
    const attempts: Array<Record<string, string>> = [{}, { ...admin }, { [INGEST_HEADERS.key]: 'not-the-key-0123456789' }];
    for (const headers of attempts) {
      const res = await fetch(`${o}/ingest/${OTHER}/v/init`, { method: 'PUT', headers: { ...headers, 'content-type': 'application/octet-stream' }, body: new Uint8Array(16) });
      t.equal(res.status, 401, `ingest refused (${Object.keys(headers).join(',') || 'no credentials'})`);
    }
  });

  t.test('RTMP publish and play', async (t) => {
    const rtmpBase = stack.rtmpUrl(STREAM).split('/live/')[0]!;
    // Publishing: a refused console never gets an encoder.
    for (const variant of [...BAD, 'good' as const]) {
      const name = `rtmp${variant.replace(/-/g, '')}`;
      const token = tokenFor(variant, 'publisher', variant === 'wrong-stream' ? STREAM : name, revokedJti);
      const ffmpeg = publishTestSource(`${rtmpBase}/live/${name}${token ? `?token=${token}` : ''}`, { size: '320x180', seconds: 4 });
      const exit = await ffmpeg.exited();
      const started = stack.edge.pipelines.has(name) || exit.code === 0;
      if (variant === 'good') t.ok(started, 'good publisher token: the stream is published');
      else t.notOk(started || stack.edge.pipelines.has(name), `${variant} publisher token: refused (ffmpeg exit ${exit.code})`);
    }
    // Playing from the edge (local viewing at the hospital).
    for (const variant of ['missing', 'wrong-role', 'good'] as Variant[]) {
      const token = tokenFor(variant, 'expert', STREAM, revokedJti);
      const player = new FfmpegProcess({
        args: ['-hide_banner', '-loglevel', 'error', '-nostdin', '-rw_timeout', '5000000', '-i', `${rtmpBase}/live/${STREAM}${token ? `?token=${token}` : ''}`, '-frames:v', '5', '-f', 'null', '-'],
      });
      const exit = await player.exited();
      if (variant === 'good') t.equal(exit.code, 0, 'good expert token plays over RTMP');
      else t.not(exit.code, 0, `${variant} token cannot play over RTMP`);
    }
  });

  t.test('the audit trail of the run', async (t) => {
    await stack.origin.security.audit.flush();
    await stack.edge.security.audit.flush();
    const originAudit = stack.origin.security.audit.path;
    const verdict = await verifyAuditLog(originAudit);
    t.ok(verdict.ok, 'origin audit chain intact');
    const records = readFileSync(originAudit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    const actions = new Set(records.map((r) => `${r.action}/${r.outcome}`));
    for (const a of ['denied/denied', 'watch/allowed', 'login/ok', 'revoke/ok', 'download/allowed', 'publish/ok']) t.ok(actions.has(a), `origin audit has ${a}`);
    t.ok(records.every((r) => r.time && r.ip && r.user && r.role && r.object), 'every record has time, user, role, IP and object');
    const edgeRecords = readFileSync(stack.edge.security.audit.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    t.ok(edgeRecords.some((r) => r.action === 'publish' && r.outcome === 'allowed'), 'edge audit has the allowed publish');
    t.ok(edgeRecords.some((r) => r.action === 'publish' && r.outcome === 'denied'), 'edge audit has the refused publishes');
    const text = readFileSync(originAudit, 'utf8') + readFileSync(stack.edge.security.audit.path, 'utf8');
    t.notMatch(text, /eyJ[A-Za-z0-9_-]{10,}\./, 'no token in any audit record');

    // Edit one record (an outcome) and remove another: bin/audit-verify says where.
    const lines = readFileSync(originAudit, 'utf8').trim().split('\n');
    // Someone changes who did it on one line, keeping its hash fields as they were.
    const edited = lines.map((l, i) => (i === 3 ? JSON.stringify({ ...(JSON.parse(l) as object), user: 'somebody-else' }) : l));
    writeFileSync(`${originAudit}.edited`, `${edited.join('\n')}\n`);
    writeFileSync(`${originAudit}.removed`, `${lines.filter((_, i) => i !== 5).join('\n')}\n`);
    for (const [file, what] of [[`${originAudit}.edited`, 'edited'], [`${originAudit}.removed`, 'removed']] as const) {
      const result = await run(process.execPath, ['--import', 'tsx', 'bin/audit-verify.ts', file]).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => err,
      );
      t.equal(result.code, 1, `audit-verify exits 1 on a ${what} record`);
      t.match(result.stderr, /BROKEN at line/, 'and names the line');
    }
  });
});
