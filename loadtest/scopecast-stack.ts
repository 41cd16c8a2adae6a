// The system under test for the side-by-side bench: a real origin and a real edge in this process
// (as bench-latency runs them), on free 127.0.0.1 ports, with a throwaway work dir and
// credentials minted for this run only (loadtest/bench-auth.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build as buildEdge, type EdgeApp } from '../edge/index.js';
import { build as buildOrigin, type OriginApp } from '../origin/index.js';
import { freePort } from '../lib/net.js';
import type { TokenRole } from '../lib/security/tokens.js';
import { BenchAuth } from './bench-auth.js';
import { sleep } from './measure.js';

export class ScopecastStack {
  readonly #stream: string;
  readonly #auth = new BenchAuth();
  #workDir: string | null = null;
  #origin: OriginApp | null = null;
  #edge: EdgeApp | null = null;
  #originUrl = '';
  #rtmpPort = 0;

  constructor(stream: string) {
    this.#stream = stream;
  }

  /** Where the console publishes (the edge's RTMP ingest), with a publisher token for the stream. */
  get publishUrl(): string {
    return `rtmp://127.0.0.1:${this.#rtmpPort}/live/${this.#stream}?token=${this.token('publisher')}`;
  }

  /** A token for this stream, signed with this run's key (trainee for LL-HLS, expert for WHEP). */
  token(role: TokenRole): string {
    return this.#auth.token(role, this.#stream);
  }

  get masterUrl(): string {
    return `${this.#originUrl}/hls/${this.#stream}/index.m3u8`;
  }

  get whepUrl(): string {
    return `${this.#originUrl}/whep/${this.#stream}`;
  }

  async start(): Promise<void> {
    this.#workDir = mkdtempSync(join(tmpdir(), 'scopecast-bench-'));
    const key = this.#auth.ingestKey;
    this.#origin = await buildOrigin({
      http: { host: '127.0.0.1', port: 0 },
      ingest: { keys: [key] },
      webrtc: { interfaceAddress: '127.0.0.1', additionalHostAddresses: ['127.0.0.1'] },
      auth: this.#auth.config,
      audit: { file: join(this.#workDir, 'origin-audit.jsonl') },
      logLevel: 'error',
    });
    this.#originUrl = await this.#origin.app.listen({ host: '127.0.0.1', port: 0 });
    this.#rtmpPort = await freePort();
    this.#edge = await buildEdge({
      http: { host: '127.0.0.1', port: 0 },
      rtmp: { host: '127.0.0.1', port: this.#rtmpPort },
      origin: { url: this.#originUrl, ingestKey: key },
      // The bench console is listed (an unlisted one is refused: PHI masking fails closed).
      consoles: { streams: { [this.#stream]: 'endoscopy-1080p' } },
      workDir: this.#workDir,
      auth: this.#auth.config,
      audit: { file: join(this.#workDir, 'edge-audit.jsonl') },
      logLevel: 'error',
    });
    await this.#edge.listen();
  }

  /** Resolves once the origin serves the stream's playlist and its WebRTC track exists. */
  async ready(signal: AbortSignal, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const has = async (): Promise<boolean> =>
      (await fetch(this.masterUrl, { headers: { authorization: `Bearer ${this.token('trainee')}` }, signal }).then((r) => r.ok, () => false)) && Boolean(this.#origin?.registry.get(this.#stream)?.realtime.track);
    while (!(await has())) {
      signal.throwIfAborted();
      if (Date.now() > deadline) throw new Error(`scopecast: stream never appeared at the origin (LL-HLS playlist + WebRTC track) within ${timeoutMs / 1000} s`);
      await sleep(100, signal);
    }
  }

  /** Idempotent: edge first (ends its encoder, tells the origin), then the origin, then files. */
  async close(): Promise<void> {
    const edge = this.#edge;
    const origin = this.#origin;
    this.#edge = null;
    this.#origin = null;
    await edge?.close();
    await origin?.close();
    if (this.#workDir) rmSync(this.#workDir, { recursive: true, force: true });
    this.#workDir = null;
  }
}
