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

export interface Stack {
  origin: OriginApp;
  edge: EdgeApp;
  originUrl: string;
  edgeUrl: string;
  rtmpUrl: (stream: string) => string;
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
  /** Overrides for the origin's webrtc (WHEP) section; ICE stays on loopback. */
  originWebrtc?: Record<string, unknown>;
  /** Route the edge's uplink (ingest and control link) through a FaultProxy (stack.uplink). */
  uplinkProxy?: boolean;
  /** Overrides for the edge's origin section (queue, retries, timeouts). */
  edgeOrigin?: Record<string, unknown>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const workDir = mkdtempSync(join(tmpdir(), 'scopecast-test-'));
  const key = options.ingestKey ?? 'test-ingest-key-0123456789';
  const origin = await buildOrigin({
    http: { host: '127.0.0.1', port: 0 },
    ingest: { keys: [key] },
    hls: { endedRetentionSeconds: options.endedRetentionSeconds ?? 60 },
    recordings: { dir: join(workDir, 'origin-recordings') },
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
    rtmp: { host: '127.0.0.1', port: rtmpPort, publishGraceMs: options.publishGraceMs ?? 300 },
    origin: { ...options.edgeOrigin, url: edgeOriginUrl, ingestKey: key },
    // WHIP ICE on loopback only, like the origin's WHEP.
    webrtc: { interfaceAddress: '127.0.0.1', additionalHostAddresses: ['127.0.0.1'], ...options.edgeWebrtc },
    workDir,
    logLevel: 'silent',
  });
  const { http: edgeUrl } = await edge.listen();
  return {
    origin,
    edge,
    originUrl,
    edgeUrl,
    rtmpUrl: (stream) => `rtmp://127.0.0.1:${rtmpPort}/live/${stream}`,
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
