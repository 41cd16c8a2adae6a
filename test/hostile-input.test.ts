// A traversal and injection corpus against every place a stream name, recording id or file name
// enters a real edge + origin (HTTP paths raw, encoded and double-encoded; the WebSocket path; the
// RTMP publish name; token and recording bodies). Tokens here are valid admin tokens, so every
// request gets past auth to the name checks. Expect: a clear 4xx every time, no file written
// outside the data roots, no extra process spawned, both tiers still serving.
import { readdirSync, statSync, existsSync } from 'node:fs';
import { request } from 'node:http';
import { join, relative } from 'node:path';
import t from 'tap';
import WebSocket from 'ws';
import { INGEST_HEADERS } from '../lib/ingest-protocol.js';
import { TEST_INGEST_KEY, testToken } from './helpers/auth.js';
import { ffmpegChildren } from './helpers/process.js';
import { publishTestSource, startStack } from './helpers/stack.js';

const CORPUS = [
  '../etc/passwd', '..%2F..%2Fetc%2Fpasswd', '%2e%2e%2f%2e%2e%2f', '..%252f..%252f', '..\\..\\windows', '....//....//',
  '..', '.', 'a/../../b', 'a\u0000b', '%00', 'x'.repeat(4096), 'a;rm -rf /', '$(touch /tmp/scopecast-pwned)', '`id`',
  'a|b', 'a&b', 'a>b', '-i', '-f', '--help', '-y', '-', 'a b', 'a\nb', 'a\r\nSet-Cookie: x=1', '<script>alert(1)</script>',
  '\u00e9\u6f22', 'nul.mp4', '/absolute', 'a:b', "a'b", 'a"b', '*', '{a}', 'a%20b',
];

function files(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(relative(root, path));
    }
  };
  if (existsSync(root)) walk(root);
  return out;
}

/** A raw request: the path goes out exactly as given (fetch would normalise ../). */
function rawRequest(base: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<number> {
  const url = new URL(base);
  return new Promise((resolve) => {
    try {
      const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', () => resolve(-1));
      req.end(body);
    } catch {
      // Node itself refuses to put this path on the wire (control characters): nothing was sent.
      resolve(0);
    }
  });
}

t.test('hostile names and paths', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const before = new Set(files(stack.workDir));
  const spawnedBefore = (await ffmpegChildren()).length;
  const admin = { authorization: `Bearer ${testToken('admin')}` };
  const o = stack.originUrl;
  const e = stack.edgeUrl;

  const statuses = new Map<number, number>();
  let sent = 0;
  for (const name of CORPUS) {
    for (const form of new Set([name, encodeURIComponent(name), encodeURIComponent(encodeURIComponent(name))])) {
      const attempts: Array<[string, string, string, Record<string, string>, string?]> = [
        [o, 'GET', `/hls/${form}/index.m3u8`, admin],
        [o, 'GET', `/hls/${form}/v/stream.m3u8?_HLS_msn=1`, admin],
        [o, 'GET', `/hls/ok/${form}/init_0.mp4`, admin],
        [o, 'POST', `/whep/${form}`, { ...admin, 'content-type': 'application/sdp' }, 'v=0\r\n'],
        [o, 'GET', `/api/streams/${form}`, admin],
        [o, 'GET', `/api/recordings/${form}`, admin],
        [o, 'DELETE', `/api/recordings/${form}`, admin],
        [o, 'GET', `/recordings/${form}/playlist.m3u8`, admin],
        [o, 'GET', `/recordings/20260101T000000Z-ok-aaaa/${form}`, admin],
        [o, 'PUT', `/ingest/${form}/v/init`, { [INGEST_HEADERS.key]: TEST_INGEST_KEY, 'content-type': 'application/octet-stream' }, 'x'],
        [e, 'POST', `/whip/${form}`, { ...admin, 'content-type': 'application/sdp' }, 'v=0\r\n'],
        [e, 'GET', `/api/streams/${form}`, admin],
        [e, 'GET', `/recordings/${form}/meta.json`, admin],
        [e, 'GET', `/monitor/${form}`, {}],
        [o, 'GET', `/watch/${form}`, {}],
        [o, 'GET', `/expert/${form}`, {}],
      ];
      // '*' is a legal token scope (every stream), not a hostile one there.
      if (name !== '*') attempts.push([o, 'POST', '/api/tokens', { ...admin, 'content-type': 'application/json' }, JSON.stringify({ sub: 'it-1', role: 'trainee', stream: name })]);
      for (const [base, method, path, headers, body] of attempts) {
        const status = await rawRequest(base, method, path, headers, body);
        sent += 1;
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status >= 500 || (status >= 200 && status < 300) || status === -1) {
          t.fail(`${method} ${path.slice(0, 80)} -> ${status} (expected a 4xx)`);
        }
      }
    }
  }
  t.comment(`${sent} requests: ${[...statuses].map(([s, n]) => `${s}x${n}`).join(' ')}`);
  t.ok([...statuses.keys()].every((s) => s === 0 || (s >= 400 && s < 500)), 'every hostile request got a 4xx (or was never sent)');

  // The annotation socket: a bad name is refused (before or right after the upgrade), never served.
  let wsServed = 0;
  for (const name of CORPUS.slice(0, 20)) {
    const outcome = await new Promise<string>((resolve) => {
      let ws: WebSocket;
      try {
        ws = new WebSocket(`${o.replace('http', 'ws')}/ws/${encodeURIComponent(name)}?token=${testToken('admin')}`);
      } catch {
        return resolve('not sent');
      }
      ws.on('unexpected-response', (_req, res) => resolve(`http ${res.statusCode}`));
      ws.on('message', (data) => {
        const m = JSON.parse(data.toString()) as { type: string };
        if (m.type === 'welcome') wsServed += 1;
      });
      ws.on('close', (code) => resolve(`closed ${code}`));
      ws.on('error', () => resolve('error'));
      setTimeout(() => {
        ws.terminate();
        resolve('open');
      }, 2000);
    });
    t.not(outcome, 'open', `/ws/${JSON.stringify(name.slice(0, 30))}: refused (${outcome})`);
  }
  t.equal(wsServed, 0, 'no socket with a hostile name was welcomed');

  // RTMP publish names: node-media-server and the edge's whitelist refuse them; no encoder starts.
  const rtmpBase = stack.rtmpUrl('x').split('/live/')[0]!;
  for (const name of CORPUS.filter((n) => !/[\u0000-\u001f]/.test(n) && n.length < 200)) {
    const publisher = publishTestSource(`${rtmpBase}/live/${encodeURIComponent(name)}?token=${testToken('admin')}`, { size: '160x90', seconds: 1 });
    await publisher.exited();
  }
  t.equal(stack.edge.pipelines.size, 0, 'no hostile RTMP name got an encoder');
  t.equal((await ffmpegChildren()).length, spawnedBefore, 'no extra ffmpeg (or anything) left running');
  t.notOk(existsSync('/tmp/scopecast-pwned'), 'no shell ever ran the injected command');

  // Nothing written anywhere but the data roots (recordings, NMS store, audit logs).
  const allowed = /^(origin-recordings|recordings|nms-store)\/|^(origin|edge)-audit\.jsonl$/;
  const added = files(stack.workDir).filter((f) => !before.has(f));
  t.same(added.filter((f) => !allowed.test(f)), [], 'no file outside the data roots');
  const named = added.filter((f) => CORPUS.some((c) => c.length > 3 && f.includes(c)));
  t.same(named, [], 'no file named after a hostile input');

  // Both tiers still serve a real stream.
  const ok = await fetch(`${o}/healthz`);
  t.equal(ok.status, 200, 'origin healthy');
  t.equal((await fetch(`${e}/healthz`)).status, 200, 'edge healthy');
});

// Regression: an upgrade answered with an HTTP error (unknown path, URI too long) left its socket
// outside fastify's connection tracking, and a client that kept it open held origin.close() forever.
t.test('refused WebSocket upgrades do not hold close()', async (t) => {
  const stack = await startStack();
  let closed = false;
  t.teardown(() => (closed ? undefined : stack.close()));
  const sockets: WebSocket[] = [];
  for (const path of ['/ws/..', `/ws/${'x'.repeat(4096)}`, '/nowhere']) {
    await new Promise<void>((resolve) => {
      const ws = new WebSocket(`${stack.originUrl.replace('http', 'ws')}${path}?token=${testToken('admin')}`);
      sockets.push(ws);
      ws.on('unexpected-response', () => resolve()); // the client keeps the socket open
      ws.on('error', () => resolve());
    });
  }
  const outcome = await Promise.race([stack.close().then(() => 'closed'), new Promise<string>((r) => setTimeout(() => r('still open after 15 s'), 15_000))]);
  closed = outcome === 'closed';
  t.equal(outcome, 'closed', 'edge and origin close with refused upgrade sockets still open on the client side');
  for (const ws of sockets) ws.terminate();
});
