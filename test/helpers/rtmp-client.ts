// The socket side of the hostile-input tests: an edge on loopback with no origin (its uplink points
// at a closed port), a raw RTMP client that plays a byte script and reports who closed, and the
// numbers the tests read back (RTMP metrics, established TCP connections from /proc/net/tcp).
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { build as buildEdge, type EdgeApp } from '../../edge/index.js';
import { freePort } from '../../lib/net.js';
import { TEST_INGEST_KEY, scrapeHeaders, testAuthConfig, testToken } from './auth.js';

export interface RtmpEdge {
  edge: EdgeApp;
  rtmpPort: number;
  /** 0 unless started with tls. */
  rtmpsPort: number;
  /** rtmp://127.0.0.1:<port>/live */
  tcUrl: string;
  /** The publish name with a publisher token for it, as a console sends it. */
  publishName: (stream: string) => string;
  close: () => Promise<void>;
}

export interface RtmpEdgeOptions {
  /** Overrides for the rtmp section (limits, grace). */
  rtmp?: Record<string, unknown>;
  /** Streams the edge takes (consoles.streams), all with the light ultrasound profile. */
  streams: string[];
  /** Certificate for RTMPS (rtmp.tlsPort gets a free port). */
  tls?: { certFile: string; keyFile: string };
}

/** An edge whose origin is a closed port: pipelines start and retry their uplink, nothing more. */
export async function startRtmpEdge(options: RtmpEdgeOptions): Promise<RtmpEdge> {
  const workDir = mkdtempSync(join(tmpdir(), 'scopecast-rtmp-'));
  const rtmpPort = await freePort();
  const rtmpsPort = options.tls ? await freePort() : 0;
  const deadOrigin = `http://127.0.0.1:${await freePort()}`;
  const edge = await buildEdge({
    http: { host: '127.0.0.1', port: 0 },
    rtmp: { host: '127.0.0.1', port: rtmpPort, publishGraceMs: 0, tlsPort: rtmpsPort, ...options.rtmp },
    ...(options.tls ? { tls: options.tls } : {}),
    origin: { url: deadOrigin, ingestKey: TEST_INGEST_KEY, retryMinMs: 50, retryMaxMs: 200, requestTimeoutMs: 500 },
    consoles: { streams: Object.fromEntries(options.streams.map((s) => [s, 'ultrasound'])) },
    webrtc: { enabled: false },
    recording: { enabled: false },
    workDir,
    auth: testAuthConfig(),
    audit: { file: join(workDir, 'audit.jsonl') },
    logLevel: 'silent',
  });
  await edge.listen();
  return {
    edge,
    rtmpPort,
    rtmpsPort,
    tcUrl: `rtmp://127.0.0.1:${rtmpPort}/live`,
    publishName: (stream) => `${stream}?token=${testToken('publisher', stream)}`,
    close: async () => {
      await edge.close();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

/** scopecast_edge_rtmp_* from the edge's /metrics. */
export async function rtmpMetrics(edge: EdgeApp): Promise<{ connections: number; dropped: Record<string, number> }> {
  const res = await edge.app.inject({ method: 'GET', url: '/metrics', headers: scrapeHeaders() });
  if (res.statusCode !== 200) throw new Error(`/metrics: ${res.statusCode}`);
  const dropped: Record<string, number> = {};
  for (const m of res.body.matchAll(/^scopecast_edge_rtmp_dropped_total\{reason="([a-z_]+)"\} (\d+)$/gm)) dropped[m[1]!] = Number(m[2]);
  const connections = Number(/^scopecast_edge_rtmp_connections (\d+)$/m.exec(res.body)?.[1] ?? NaN);
  return { connections, dropped };
}

/** Established (or half-closed) TCP connections whose local port is `port`, from /proc/net/tcp{,6}. */
export async function tcpConnections(port: number): Promise<number> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      const state = fields[3];
      // 01 ESTABLISHED, 08 CLOSE_WAIT (the peer closed, we have not): both hold a socket in the edge.
      if (local?.endsWith(`:${hexPort}`) && (state === '01' || state === '08')) count++;
    }
  }
  return count;
}

export type SessionEnd = 'server' | 'reset' | 'deadline';

export interface ScriptOptions {
  port: number;
  writes: Buffer[];
  close: 'end' | 'reset' | 'linger';
  /** The client gives up (and counts a deadline) after this long, ms. */
  deadlineMs: number;
  /** Connect with TLS (RTMPS; any certificate). */
  tls?: boolean;
  /** Called with the socket once connected (e.g. to track it). */
  onSocket?: (socket: Socket) => void;
}

/**
 * Plays a byte script to the RTMP listener and resolves with who ended it: the server closing the
 * connection, our own reset, or our deadline. Reads (and drops) whatever the server sends.
 */
export function playScript(options: ScriptOptions): Promise<{ end: SessionEnd; ms: number; received: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket: Socket = options.tls
      ? tlsConnect({ host: '127.0.0.1', port: options.port, rejectUnauthorized: false })
      : createConnection({ host: '127.0.0.1', port: options.port });
    let end: SessionEnd = 'server';
    let received = 0;
    const deadline = setTimeout(() => {
      end = 'deadline';
      socket.destroy();
    }, options.deadlineMs);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(deadline);
      resolve({ end, ms: Date.now() - started, received });
    });
    socket.once(options.tls ? 'secureConnect' : 'connect', async () => {
      options.onSocket?.(socket);
      for (const write of options.writes) {
        if (socket.destroyed) return;
        socket.write(write);
        await new Promise((r) => setImmediate(r));
      }
      if (socket.destroyed) return;
      if (options.close === 'reset') {
        end = 'reset';
        socket.resetAndDestroy();
      } else if (options.close === 'end') {
        socket.end();
      }
    });
  });
}

/** A socket that connects and says nothing; resolves when it is closed, with how long that took. */
export function silentSocket(port: number): { closed: Promise<number>; socket: Socket } {
  const started = Date.now();
  const socket = createConnection({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  socket.on('data', () => {});
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - started)));
  return { closed, socket };
}
