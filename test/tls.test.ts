// TLS on loopback with a throwaway private CA: the origin over HTTPS/WSS, the edge's uplink and
// control link to an https:// origin trusting tls.caFile, RTMPS into the edge, the TLS floor on
// every listener, and an edge that does not trust the origin's certificate delivering nothing.
// Each assertion waits on real state; no timing thresholds.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import t from 'tap';
import { Agent } from 'undici';
import WebSocket from 'ws';
import { FfmpegProcess } from '../codecs/ffmpeg/index.js';
import { readTlsFiles } from '../configs/index.js';
import { tlsProblems, type TlsConfig } from '../configs/tls.js';
import { originTlsClient } from '../lib/tls.js';
import { build as buildOrigin } from '../origin/index.js';
import { originEndpoints } from '../player/index.js';
import { latencyLinkUrl } from '../player/shared/latency-link.js';
import { makeTestCa, type TestCa } from './helpers/certs.js';
import { processGone } from './helpers/process.js';
import { eventually, publishTestSource, startStack, type Stack } from './helpers/stack.js';

const dir = mkdtempSync(join(tmpdir(), 'scopecast-tls-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let hospital: TestCa;
let other: TestCa;
t.before(async () => {
  hospital = await makeTestCa(dir, 'hospital');
  other = await makeTestCa(dir, 'other');
});

/** A fetch dispatcher that trusts exactly this CA (what a browser with the hospital CA installed does). */
function trusting(ca: TestCa): Agent {
  return new Agent({ connect: { ca: readFileSync(ca.caFile) } });
}

type Handshake = { ok: true; protocol: string | null } | { ok: false; code: string };

/** One TLS handshake against 127.0.0.1:port; the negotiated version, or the error code. */
function handshake(port: number, options: ConnectionOptions): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ...options }, () => {
      resolve({ ok: true, protocol: socket.getProtocol() });
      socket.destroy();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      resolve({ ok: false, code: err.code ?? err.message });
      socket.destroy();
    });
  });
}

// The client offers only TLS 1.1; the server's protocol_version alert proves the server refused.
const TLS11_ONLY: ConnectionOptions = { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' };
const SERVER_REFUSED_VERSION = { ok: false, code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' };

const portOf = (url: string): number => Number(new URL(url).port);

/** fetch through an undici dispatcher (Node's fetch takes one; the DOM typings do not say so). */
function get(url: string, init: { headers?: Record<string, string>; dispatcher?: Agent } = {}): Promise<Response> {
  return fetch(url, init as RequestInit);
}

/** RTMPS publish URL for the stack's edge (same path and token as its RTMP URL). */
function rtmpsUrl(stack: Stack, stream: string): string {
  const { port, tlsPort } = stack.edge.config.rtmp;
  return stack.rtmpUrl(stream).replace(`rtmp://127.0.0.1:${port}/`, `rtmps://127.0.0.1:${tlsPort}/`);
}

/** Like publishTestSource, over RTMPS: ffmpeg verifies the edge's certificate against the CA. */
function publishOverRtmps(url: string, ca: TestCa): FfmpegProcess {
  return new FfmpegProcess({
    args: [
      '-hide_banner', '-loglevel', 'error', '-nostdin',
      '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
      '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30', '-bf', '0', '-pix_fmt', 'yuv420p',
      '-c:a', 'aac', '-b:a', '64k',
      '-tls_verify', '1', '-ca_file', ca.caFile,
      '-f', 'flv', url,
    ],
  });
}

async function playlist(stack: Stack, stream: string, dispatcher: Agent): Promise<string | undefined> {
  const res = await get(`${stack.originUrl}/hls/${stream}/main/stream.m3u8`, { headers: stack.auth('trainee', stream), dispatcher });
  const text = res.ok ? await res.text() : '';
  return /#EXTINF/.test(text) ? text : undefined;
}

t.test('an HTTPS origin, an edge trusting its private CA, RTMP and RTMPS publishers', async (t) => {
  const stack = await startStack({
    tls: {
      origin: { certFile: hospital.certFile, keyFile: hospital.keyFile },
      edge: { certFile: hospital.certFile, keyFile: hospital.keyFile, caFile: hospital.caFile },
      rtmps: true,
    },
  });
  t.teardown(() => stack.close());
  const ca = trusting(hospital);
  t.teardown(() => ca.close());

  t.test('origin: HTTPS for a client trusting the CA, refused otherwise', async (t) => {
    t.match(stack.originUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    const res = await get(`${stack.originUrl}/healthz`, { dispatcher: ca });
    t.equal(res.status, 200);
    t.same(await res.json(), { status: 'ok', tier: 'origin', redis: 'none' });
    // The system roots do not know the hospital CA: verification fails, it is never skipped.
    await t.rejects(fetch(`${stack.originUrl}/healthz`));
    // Plain HTTP to the TLS port gets no HTTP answer.
    await t.rejects(fetch(`${stack.originUrl.replace('https:', 'http:')}/healthz`));
  });

  t.test('TLS 1.1 is refused by the origin, the edge API and RTMPS; TLS 1.2 is accepted', async (t) => {
    const ports = { origin: portOf(stack.originUrl), edge: portOf(stack.edgeUrl), rtmps: stack.edge.config.rtmp.tlsPort };
    t.not(ports.rtmps, 0);
    for (const [name, port] of Object.entries(ports)) {
      t.same(await handshake(port, { ...TLS11_ONLY, ca: readFileSync(hospital.caFile) }), SERVER_REFUSED_VERSION, `${name}: TLS 1.1`);
      t.same(await handshake(port, { maxVersion: 'TLSv1.2', ca: readFileSync(hospital.caFile) }), { ok: true, protocol: 'TLSv1.2' }, `${name}: TLS 1.2`);
    }
  });

  t.test('WSS on the origin: /ws/<stream> upgrades and welcomes; the edge control link comes up', async (t) => {
    const url = `${stack.originUrl.replace('https:', 'wss:')}/ws/tls-ws?token=${stack.token('trainee', 'tls-ws')}`;
    const socket = new WebSocket(url, { ca: readFileSync(hospital.caFile) });
    t.teardown(() => socket.terminate());
    const first = await new Promise<{ type: string }>((resolve, reject) => {
      socket.once('message', (data) => resolve(JSON.parse(data.toString()) as { type: string }));
      socket.once('error', reject);
      socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    });
    t.equal(first.type, 'welcome');
    // Without the CA the same upgrade fails in the handshake.
    const untrusted = new WebSocket(url);
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => untrusted.once('error', resolve));
    t.equal(error.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    await eventually(() => (stack.edge.originLink.state.connected ? true : undefined), 10_000, 'the edge control link over wss://');
  });

  t.test('RTMP publish -> edge -> HTTPS uplink -> LL-HLS', async (t) => {
    const publisher = publishTestSource(stack.rtmpUrl('tls-rtmp'), { size: '640x360' });
    t.teardown(() => publisher.close());
    const text = await eventually(() => playlist(stack, 'tls-rtmp', ca), 20_000, 'a playlist with a complete segment');
    t.match(text, /#EXT-X-PART:/);
    // The per-frame WebRTC feed: one streaming POST through the same TLS client.
    await eventually(() => ((stack.origin.registry.get('tls-rtmp')?.realtime.frames ?? 0) >= 30 ? true : undefined), 10_000, 'realtime frames at the origin');
    t.pass('realtime feed over HTTPS');
  });

  t.test('RTMPS publish (ffmpeg verifying the edge certificate) goes live', async (t) => {
    const publisher = publishOverRtmps(rtmpsUrl(stack, 'tls-rtmps'), hospital);
    t.teardown(() => publisher.close());
    await eventually(() => stack.edge.pipelines.get('tls-rtmps'), 15_000, 'the RTMPS publish reaching the edge');
    await eventually(() => playlist(stack, 'tls-rtmps', ca), 20_000, 'the RTMPS stream on the origin');
    t.pass('live');
    const pid = publisher.pid;
    await publisher.close();
    if (pid) t.ok(await processGone(pid, 5000), 'publisher gone');
  });

  t.test('build refuses unreadable or mismatched TLS files with SC_ERR_CONFIG_INVALID', async (t) => {
    const base = structuredClone(stack.origin.config) as unknown as Record<string, unknown>;
    const missing = join(dir, 'nope.pem');
    await t.rejects(buildOrigin({ ...base, tls: { certFile: missing, keyFile: hospital.keyFile } }), {
      code: 'SC_ERR_CONFIG_INVALID',
      message: /\/tls\/certFile: cannot read ".*nope\.pem" \(ENOENT\)/,
    });
    // A key that is not the certificate's.
    await t.rejects(buildOrigin({ ...base, tls: { certFile: hospital.certFile, keyFile: other.keyFile } }), {
      code: 'SC_ERR_CONFIG_INVALID',
      message: /\/tls: certFile\/keyFile do not load/,
    });
  });

  t.test('http.trustProxy: X-Forwarded-For is believed only from the configured proxy', async (t) => {
    const base = structuredClone(stack.origin.config) as unknown as { http: Record<string, unknown> } & Record<string, unknown>;
    for (const [trustProxy, expected] of [[false, '127.0.0.1'], [['127.0.0.1'], '203.0.113.7'], [['10.0.0.0/8'], '127.0.0.1']] as const) {
      const o = await buildOrigin({ ...base, http: { ...base.http, port: 0, trustProxy }, tls: {} });
      let ip = '';
      o.app.addHook('onRequest', async (request) => {
        ip = request.ip;
      });
      const res = await o.app.inject({ url: '/healthz', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.7' } });
      await o.close();
      t.equal(res.statusCode, 200);
      t.equal(ip, expected, `trustProxy ${JSON.stringify(trustProxy)}`);
    }
  });
});

t.test('an edge whose caFile does not trust the origin certificate delivers nothing', async (t) => {
  const stack = await startStack({
    tls: { origin: { certFile: hospital.certFile, keyFile: hospital.keyFile }, edge: { caFile: other.caFile } },
    edgeOrigin: { retryMinMs: 50, retryMaxMs: 200 },
  });
  t.teardown(() => stack.close());
  const ca = trusting(hospital);
  t.teardown(() => ca.close());
  const publisher = publishTestSource(stack.rtmpUrl('tls-untrusted'), { size: '640x360' });
  t.teardown(() => publisher.close());
  const pipeline = await eventually(() => stack.edge.pipelines.get('tls-untrusted'), 15_000, 'the pipeline');
  // The encoder runs and the uplink tries, and every attempt fails in the TLS handshake.
  const uplink = (): { failures: number; connected: boolean; sentFragments: number } =>
    pipeline.info['uplink'] as { failures: number; connected: boolean; sentFragments: number };
  await eventually(() => (uplink().failures >= 2 ? true : undefined), 20_000, 'failed uplink attempts');
  t.equal(uplink().connected, false);
  t.equal(uplink().sentFragments, 0);
  t.equal(stack.origin.registry.get('tls-untrusted'), undefined, 'the origin never heard of the stream');
  t.equal(stack.edge.originLink.state.connected, false, 'no control link either');
  const res = await get(`${stack.originUrl}/hls/tls-untrusted/main/stream.m3u8`, { headers: stack.auth('trainee', 'tls-untrusted'), dispatcher: ca });
  t.equal(res.status, 404);
  await res.arrayBuffer();
});

t.test('minVersion TLSv1.3: TLS 1.2 is refused on HTTPS (both tiers) and on RTMPS', async (t) => {
  const stack = await startStack({
    tls: {
      origin: { certFile: hospital.certFile, keyFile: hospital.keyFile, minVersion: 'TLSv1.3' },
      edge: { certFile: hospital.certFile, keyFile: hospital.keyFile, caFile: hospital.caFile, minVersion: 'TLSv1.3' },
      rtmps: true,
    },
  });
  t.teardown(() => stack.close());
  const ca = readFileSync(hospital.caFile);
  // RTMPS: node-media-server builds that listener itself; the floor is ours (edge/ingest/rtmps.ts).
  const ports = { origin: portOf(stack.originUrl), edge: portOf(stack.edgeUrl), rtmps: stack.edge.config.rtmp.tlsPort };
  for (const [name, port] of Object.entries(ports)) {
    t.same(await handshake(port, { maxVersion: 'TLSv1.2', ca }), SERVER_REFUSED_VERSION, `${name}: TLS 1.2 refused`);
    t.same(await handshake(port, { ca }), { ok: true, protocol: 'TLSv1.3' }, `${name}: TLS 1.3 accepted`);
  }
  // The edge's own client holds the same floor and still reaches the origin.
  await eventually(() => (stack.edge.originLink.state.connected ? true : undefined), 10_000, 'the edge control link over TLS 1.3');
});

t.test("the edge's origin client refuses an origin that only speaks TLS 1.1", async (t) => {
  const key = readFileSync(hospital.keyFile);
  const cert = readFileSync(hospital.certFile);
  const servers = await Promise.all(
    (['TLSv1.1', 'TLSv1.2'] as const).map(async (maxVersion) => {
      const server = createHttpsServer({ key, cert, minVersion: 'TLSv1', maxVersion, ciphers: 'DEFAULT@SECLEVEL=0' }, (_req, res) => res.end('ok'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
      return `https://127.0.0.1:${(server.address() as { port: number }).port}`;
    }),
  );
  const [old, current] = servers as [string, string];
  for (const [url, works] of [[old, false], [current, true]] as const) {
    const client = originTlsClient(url, { ca: readFileSync(hospital.caFile), minVersion: 'TLSv1.2' });
    t.equal(client.ws.rejectUnauthorized, true);
    const outcome = await get(`${url}/`, { dispatcher: client.dispatcher as Agent }).then(
      async (res) => `HTTP ${res.status} ${await res.text()}`,
      (err: Error & { cause?: NodeJS.ErrnoException }) => err.cause?.code ?? err.message,
    );
    if (works) t.equal(outcome, 'HTTP 200 ok', 'TLS 1.2 origin');
    // The client offers nothing below 1.2, so the old server has no version in common with it.
    else t.match(outcome, /^ERR_SSL_(TLSV1_ALERT_PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL)$/, 'TLS 1.1 origin: no connection');
    await client.close();
  }
  // Control: that server does answer a client willing to speak TLS 1.1.
  const oldPort = portOf(old);
  t.same(await handshake(oldPort, { ...TLS11_ONLY, ca: readFileSync(hospital.caFile) }), { ok: true, protocol: 'TLSv1.1' }, 'the old server itself works');
});

t.test('TLS config rules and file checks', async (t) => {
  const tls = (c: Partial<TlsConfig>): TlsConfig => ({ certFile: '', keyFile: '', caFile: '', minVersion: 'TLSv1.2', ...c });
  t.same(tlsProblems(tls({})), []);
  t.same(tlsProblems(tls({ certFile: 'a.pem' })), ['/tls/keyFile: required when certFile is set']);
  t.match(tlsProblems(tls({ keyFile: 'k.pem' })), [/\/tls\/certFile: required when keyFile is set/]);
  t.match(tlsProblems(tls({ caFile: 'ca.pem' }), { outbound: false }), [/\/tls\/caFile: this tier makes no outbound TLS/], 'origin');

  const plain = readTlsFiles('edge', tls({}));
  t.equal(plain.server, null, 'no certificate: plain HTTP');
  t.same(plain.client, { minVersion: 'TLSv1.2' }, 'no caFile: system roots');

  const full = readTlsFiles('edge', tls({ certFile: hospital.certFile, keyFile: hospital.keyFile, caFile: hospital.caFile, minVersion: 'TLSv1.3' }));
  t.equal(full.server?.minVersion, 'TLSv1.3');
  t.ok(full.client.ca?.includes('BEGIN CERTIFICATE'));

  const notPem = join(dir, 'not-a-ca.pem');
  writeFileSync(notPem, 'hello\n');
  const error = t.throws(() => readTlsFiles('edge', tls({ caFile: notPem, certFile: join(dir, 'missing.pem'), keyFile: join(dir, 'missing-key.pem') })));
  t.match(error, { code: 'SC_ERR_CONFIG_INVALID' });
  // Every problem at once, none of the file contents.
  t.match((error as Error).message, /edge config has 3 problem\(s\)/);
  t.match((error as Error).message, /\/tls\/certFile: cannot read/);
  t.match((error as Error).message, /\/tls\/keyFile: cannot read/);
  t.match((error as Error).message, /\/tls\/caFile: holds no PEM certificate/);
});

t.test('pages on https use wss', async (t) => {
  t.same(originEndpoints('https://origin.example:8443/ignored'), { http: 'https://origin.example:8443', ws: 'wss://origin.example:8443' });
  t.same(originEndpoints('http://origin.example:8090'), { http: 'http://origin.example:8090', ws: 'ws://origin.example:8090' });
  t.equal(latencyLinkUrl('or 1', { protocol: 'https:', host: 'origin.example' } as Location), 'wss://origin.example/ws/or%201');
  t.equal(latencyLinkUrl('or1', { protocol: 'http:', host: 'origin.example:8090' } as Location), 'ws://origin.example:8090/ws/or1');
});
