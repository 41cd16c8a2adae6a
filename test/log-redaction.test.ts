// Tokens never reach a log: a real origin and edge (their own processes, trace logging) are used
// with tokens in headers, in ?token= query strings (pages, sockets) and in the RTMP publish URL,
// good and bad; then neither process's output holds any of them.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import WebSocket from 'ws';
import { freePort, waitForPort } from '../lib/net.js';
import { redactSecrets } from '../lib/security/log-redaction.js';
import { TEST_INGEST_KEY, TEST_SCRAPE_TOKEN, testAuthConfig, testToken } from './helpers/auth.js';
import { eventually, publishTestSource } from './helpers/stack.js';

function runTier(entry: string, config: unknown, dir: string, name: string): { child: ChildProcess; output: () => string } {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(config));
  const child = spawn(process.execPath, ['--import', 'tsx', entry, '--config', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

const stop = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });

t.test('redactSecrets', async (t) => {
  t.equal(redactSecrets('GET /hls/a/index.m3u8?token=eyJabc.def.ghi&x=1'), 'GET /hls/a/index.m3u8?token=[redacted]&x=1');
  t.equal(redactSecrets('connect rtmp://h/live/s?TOKEN=abc'), 'connect rtmp://h/live/s?TOKEN=[redacted]');
  t.equal(redactSecrets('Authorization: Bearer eyJa.b.c'), 'Authorization: Bearer [redacted]');
});

t.test('no token in the origin or edge log', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scopecast-logs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const originPort = await freePort();
  const origin = runTier('bin/origin.ts', {
    http: { host: '127.0.0.1', port: originPort },
    ingest: { keys: [TEST_INGEST_KEY] },
    recordings: { dir: join(dir, 'recordings') },
    webrtc: { enabled: false },
    auth: testAuthConfig(),
    audit: { file: join(dir, 'origin-audit.jsonl') },
    logLevel: 'trace',
  }, dir, 'origin');
  t.teardown(() => stop(origin.child));
  const rtmpPort = await freePort();
  const edgePort = await freePort();
  const edge = runTier('bin/edge.ts', {
    http: { host: '127.0.0.1', port: edgePort },
    rtmp: { host: '127.0.0.1', port: rtmpPort },
    origin: { url: `http://127.0.0.1:${originPort}`, ingestKey: TEST_INGEST_KEY },
    consoles: { allowUnlisted: true },
    webrtc: { enabled: false },
    workDir: join(dir, 'edge'),
    auth: testAuthConfig(),
    audit: { file: join(dir, 'edge-audit.jsonl') },
    logLevel: 'trace',
  }, dir, 'edge');
  t.teardown(() => stop(edge.child));
  await waitForPort('127.0.0.1', originPort, 30_000);
  await waitForPort('127.0.0.1', edgePort, 30_000);

  const used: string[] = [];
  const token = (...args: Parameters<typeof testToken>): string => {
    const value = testToken(...args);
    used.push(value);
    return value;
  };
  const o = `http://127.0.0.1:${originPort}`;
  const publisherToken = token('publisher', 'logs1');
  const publisher = publishTestSource(`rtmp://127.0.0.1:${rtmpPort}/live/logs1?token=${publisherToken}`, { size: '320x180' });
  t.teardown(() => publisher.close());
  // A refused publish too: its URL (with the wrong token) must not be logged either.
  const refused = publishTestSource(`rtmp://127.0.0.1:${rtmpPort}/live/logs2?token=${token('trainee', 'logs2')}`, { size: '320x180', seconds: 2 });
  await refused.exited();
  await eventually(async () => ((await fetch(`${o}/hls/logs1/index.m3u8`, { headers: { authorization: `Bearer ${token('admin')}` } })).ok ? true : undefined), 30_000, 'stream live');
  await fetch(`${o}/hls/logs1/index.m3u8?token=${token('trainee', 'logs1')}`);
  await fetch(`${o}/hls/logs1/index.m3u8?token=${token('trainee', 'other')}`);
  await fetch(`${o}/api/status`, { headers: { authorization: `Bearer ${token('trainee')}` } });
  await fetch(`${o}/metrics`, { headers: { authorization: `Bearer ${TEST_SCRAPE_TOKEN}` } });
  used.push(TEST_SCRAPE_TOKEN, TEST_INGEST_KEY);
  await fetch(`http://127.0.0.1:${edgePort}/api/streams?token=${token('admin')}`);
  const ws = new WebSocket(`ws://127.0.0.1:${originPort}/ws/logs1?token=${token('expert', 'logs1')}`);
  await new Promise<void>((resolve) => {
    ws.once('open', () => resolve());
    ws.once('error', () => resolve());
  });
  ws.close();
  await publisher.close();
  await stop(edge.child);
  await stop(origin.child);

  const logs = origin.output() + edge.output();
  t.ok(logs.includes('"url":"/hls/logs1/index.m3u8?token=[redacted]"'), 'request URLs are logged, with the token cut out');
  t.ok(logs.length > 1000, `both tiers logged at trace (${logs.length} bytes)`);
  for (const secret of used) t.notOk(logs.includes(secret), `credential ${secret.slice(0, 12)}… is not in the logs`);
  t.notMatch(logs, /eyJ[A-Za-z0-9_-]{8,}\.eyJ/, 'no JWT-shaped string at all');
});
