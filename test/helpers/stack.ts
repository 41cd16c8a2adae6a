// A real edge + origin on loopback for integration tests: fixed free ports, silent logs,
// temp work dir, and teardown that waits for every resource to be gone.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FfmpegProcess } from '../../codecs/ffmpeg/index.js';
import { build as buildEdge, type EdgeApp } from '../../edge/index.js';
import { build as buildOrigin, type OriginApp } from '../../origin/index.js';
import { freePort } from '../../lib/net.js';
import { FaultProxy } from '../../loadtest/fault-proxy.js';
import type { TokenRole } from '../../lib/security/tokens.js';
import { TEST_INGEST_KEY, testAuthConfig, testToken } from './auth.js';

export interface Stack {
  origin: OriginApp;
  edge: EdgeApp;
  originUrl: string;
  edgeUrl: string;
  /** Publish URL with a publisher token for that stream. */
  rtmpUrl: (stream: string) => string;
  /** A token minted with the stack's signing key (default: admin for every stream). */
  token: (role?: TokenRole, stream?: string) => string;
  /** Request headers with such a token. */
  auth: (role?: TokenRole, stream?: string) => { authorization: string };
  workDir: string;
  /** The edge -> origin link, when the stack was started with uplinkProxy. */
  uplink: FaultProxy | null;
  close: () => Promise<void>;
}

export interface StackOptions {
  publishGraceMs?: number;
  endedRetentionSeconds?: number;
  ingestKey?: string;
  /** Overrides for the edge's webrtc (WHIP) section; ICE stays on loopback. */
  edgeWebrtc?: Record<string, unknown>;
  /** Overrides for the origin's hls section. */
  originHls?: Record<string, unknown>;
  /** Overrides for the origin's webrtc (WHEP) section; ICE stays on loopback. */
  originWebrtc?: Record<string, unknown>;
  /** Route the edge's uplink (ingest and control link) through a FaultProxy (stack.uplink). */
  uplinkProxy?: boolean;
  /** Overrides for the edge's origin section (queue, retries, timeouts). */
  edgeOrigin?: Record<string, unknown>;
  /**
   * The tiers' `tls` sections (origin: HTTPS/WSS, and originUrl becomes https://; edge: its HTTPS
   * and the caFile it trusts for the origin) and RTMPS on a free port (edge.config.rtmp.tlsPort).
   */
  tls?: { origin?: Record<string, unknown>; edge?: Record<string, unknown>; rtmps?: boolean };
  /**
   * Overrides for the edge's consoles section. Tests publish arbitrary stream names, so the stack
   * accepts unlisted consoles unless this says `allowUnlisted: false`.
   */
  consoles?: Record<string, unknown>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const workDir = mkdtempSync(join(tmpdir(), 'scopecast-test-'));
  const key = options.ingestKey ?? TEST_INGEST_KEY;
  const origin = await buildOrigin({
    http: { host: '127.0.0.1', port: 0 },
    ingest: { keys: [key] },
    hls: { endedRetentionSeconds: options.endedRetentionSeconds ?? 60, ...options.originHls },
    recordings: { dir: join(workDir, 'origin-recordings') },
    ...(options.tls?.origin ? { tls: options.tls.origin } : {}),
    auth: testAuthConfig(),
    audit: { file: join(workDir, 'origin-audit.jsonl') },
    // ICE on loopback only: tests never open media ports on other interfaces.
    webrtc: { ...options.originWebrtc, interfaceAddress: '127.0.0.1', additionalHostAddresses: ['127.0.0.1'] },
    logLevel: 'silent',
  });
  const originUrl = await origin.app.listen({ host: '127.0.0.1', port: 0 });
  let uplink: FaultProxy | null = null;
  if (options.uplinkProxy) {
    uplink = new FaultProxy({ host: '127.0.0.1', port: Number(new URL(originUrl).port) });
    await uplink.listen();
  }
  const edgeOriginUrl = uplink ? `http://127.0.0.1:${uplink.port}` : originUrl;
  const rtmpPort = await freePort();
  const edge = await buildEdge({
    http: { host: '127.0.0.1', port: 0 },
    rtmp: { host: '127.0.0.1', port: rtmpPort, publishGraceMs: options.publishGraceMs ?? 300, tlsPort: options.tls?.rtmps ? await freePort() : 0 },
    ...(options.tls?.edge ? { tls: options.tls.edge } : {}),
    origin: { ...options.edgeOrigin, url: edgeOriginUrl, ingestKey: key },
    consoles: { allowUnlisted: true, ...options.consoles },
    // WHIP ICE on loopback only, like the origin's WHEP.
    webrtc: { interfaceAddress: '127.0.0.1', additionalHostAddresses: ['127.0.0.1'], ...options.edgeWebrtc },
    workDir,
    auth: testAuthConfig(),
    audit: { file: join(workDir, 'edge-audit.jsonl') },
    logLevel: 'silent',
  });
  const { http: edgeUrl } = await edge.listen();
  return {
    origin,
    edge,
    originUrl,
    edgeUrl,
    rtmpUrl: (stream) => `rtmp://127.0.0.1:${rtmpPort}/live/${stream}?token=${testToken('publisher', stream)}`,
    token: (role = 'admin', stream = '*') => testToken(role, stream),
    auth: (role = 'admin', stream = '*') => ({ authorization: `Bearer ${testToken(role, stream)}` }),
    workDir,
    uplink,
    close: async () => {
      await edge.close();
      await uplink?.close();
      await origin.close();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

/** A console stand-in: ffmpeg test pattern + tone published over RTMP in real time. */
export function publishTestSource(url: string, options: { size?: string; seconds?: number } = {}): FfmpegProcess {
  return new FfmpegProcess({
    args: [
      '-hide_banner', '-loglevel', 'error', '-nostdin',
      '-re', '-f', 'lavfi', '-i', `testsrc2=size=${options.size ?? '1280x720'}:rate=30`,
      '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      ...(options.seconds ? ['-t', String(options.seconds)] : []),
      '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30', '-bf', '0', '-pix_fmt', 'yuv420p',
      '-c:a', 'aac', '-b:a', '64k',
      '-f', 'flv', url,
    ],
  });
}

/** Poll fn until it returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}
