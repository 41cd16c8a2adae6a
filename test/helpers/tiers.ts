// Pieces for tests that build their own origins (restarts, Redis, several origins) and so cannot
// use startStack: an edge with test credentials on loopback, and the newest LL-HLS part a viewer sees.
import { join } from 'node:path';
import { build as buildEdge, type EdgeApp } from '../../edge/index.js';
import { TEST_INGEST_KEY, testAuthConfig } from './auth.js';

/** A listening edge pushing to originUrl; its work dir and audit log live under dir. */
export async function startTestEdge(dir: string, originUrl: string, rtmpPort: number, origin: Record<string, unknown> = {}): Promise<EdgeApp> {
  const edge = await buildEdge({
    http: { host: '127.0.0.1', port: 0 },
    rtmp: { host: '127.0.0.1', port: rtmpPort },
    origin: { ...origin, url: originUrl, ingestKey: TEST_INGEST_KEY },
    consoles: { allowUnlisted: true },
    webrtc: { enabled: false },
    workDir: join(dir, 'edge'),
    auth: testAuthConfig(),
    audit: { file: join(dir, 'edge-audit.jsonl') },
    logLevel: 'silent',
  });
  await edge.listen();
  return edge;
}

/** Highest part number in the stream's media playlist, or undefined while it is not served. */
export async function newestPart(originUrl: string, stream: string, headers: Record<string, string>): Promise<number | undefined> {
  const master = await fetch(`${originUrl}/hls/${stream}/index.m3u8`, { headers }).catch(() => null);
  if (!master?.ok) return undefined;
  const rendition = /^(\w+)\/stream\.m3u8$/m.exec(await master.text())?.[1];
  const media = await (await fetch(`${originUrl}/hls/${stream}/${rendition}/stream.m3u8`, { headers })).text();
  // EXT-X-PART lines only: the preload hint names a part that does not exist yet.
  const parts = [...media.matchAll(/^#EXT-X-PART:.*URI="part_(\d+)\.m4s"/gm)].map((m) => Number(m[1]));
  return parts.length ? Math.max(...parts) : undefined;
}
