// The system under load, as separate processes: origin (bin/origin.ts) and edge (bin/edge.ts)
// with config files generated for this run, and optionally the synthetic console
// (bin/synthetic-console.ts). Separate processes so that /proc/<pid> gives the origin's own CPU
// and memory, not mixed with the load test's viewers (ScopecastStack runs both tiers in-process,
// which suits latency benches, not this).
//
// Credentials are minted for the run (BenchAuth): a random signing key, ingest key and scrape
// token in 0600 config files in a 0700 temp dir, removed by close().
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPort } from '../lib/net.js';
import type { TokenRole } from '../lib/security/tokens.js';
import { spawnOwned, type OwnedChild } from './anchors/index.js';
import { BenchAuth } from './bench-auth.js';
import { DEFAULT_CLIP_SECONDS } from './clip-console.js';
import type { Cleanup } from './cleanup.js';
import { sleep } from './measure.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TAIL_LINES = 30;
/** tsx compiles each tier at start: on a 2-core box busy with other work that has taken over 30 s. */
const START_TIMEOUT_MS = 90_000;

export interface ChildStackOptions {
  stream: string;
  /** Start a synthetic console publishing the stream (the viewer load test); off for cycles. */
  console?: { size: string; fps: number; kind?: 'clip' | 'live' } | null;
  /** Edge rtmp.publishGraceMs; undefined = the edge's default. */
  publishGraceMs?: number;
  /** logLevel of both tiers (their logs are kept only as a tail for error messages). */
  logLevel?: 'error' | 'warn' | 'info';
}

export type StackProcess = 'origin' | 'edge' | 'console';
const STACK_PROCESSES: readonly StackProcess[] = ['origin', 'edge', 'console'];

interface Proc {
  name: StackProcess;
  owned: OwnedChild;
  tail: string[];
}

export interface OriginStreamInfo {
  state: 'live' | 'ended';
  startedAt: string;
  renditions: Array<{ name: string; segments: number }>;
}

export class ChildStack {
  readonly #options: ChildStackOptions;
  readonly auth = new BenchAuth();
  readonly #procs: Proc[] = [];
  #workDir: string | null = null;
  #originPort = 0;
  #edgeHttpPort = 0;
  #rtmpPort = 0;
  #closing = false;
  #unexpected: ((reason: string) => void) | null = null;
  /** Resolves with a reason if a tier (or the console) exits while the stack is running. */
  readonly unexpectedExit: Promise<string>;

  constructor(options: ChildStackOptions) {
    this.#options = options;
    this.unexpectedExit = new Promise((resolve) => (this.#unexpected = resolve));
  }

  get stream(): string {
    return this.#options.stream;
  }

  get originUrl(): string {
    return `http://127.0.0.1:${this.#originPort}`;
  }

  get edgeUrl(): string {
    return `http://127.0.0.1:${this.#edgeHttpPort}`;
  }

  get masterUrl(): string {
    return `${this.originUrl}/hls/${this.stream}/index.m3u8`;
  }

  get whepUrl(): string {
    return `${this.originUrl}/whep/${this.stream}`;
  }

  /** The edge's RTMP ingest for the stream, with a publisher token. */
  get publishUrl(): string {
    return `rtmp://127.0.0.1:${this.#rtmpPort}/live/${this.stream}?token=${this.token('publisher')}`;
  }

  token(role: TokenRole): string {
    return this.auth.token(role, this.stream);
  }

  pid(name: StackProcess): number | undefined {
    return this.#procs.find((p) => p.name === name)?.owned.child.pid;
  }

  /** The pid while that process runs (for a last-resort SIGKILL: never a pid that may be reused). */
  runningPid(name: StackProcess): number | undefined {
    const child = this.#procs.find((p) => p.name === name)?.owned.child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  /**
   * Registers close() with a run's Cleanup, and each process for its last-resort SIGKILL (a second
   * Ctrl-C, or close() hanging). Cleanup closes newest first: close() runs before the no-ops.
   */
  registerWith(cleanup: Cleanup): void {
    for (const name of STACK_PROCESSES) cleanup.add(`${name} process`, async () => {}, () => this.runningPid(name));
    cleanup.add('stack', () => this.close());
  }

  async start(signal: AbortSignal): Promise<void> {
    this.#workDir = mkdtempSync(join(tmpdir(), 'scopecast-loadtest-'));
    const dir = this.#workDir;
    [this.#originPort, this.#edgeHttpPort, this.#rtmpPort] = [await freePort(), await freePort(), await freePort()];
    const logLevel = this.#options.logLevel ?? 'error';
    const auth = this.auth.config;
    const originConfig = {
      http: { host: '127.0.0.1', port: this.#originPort },
      ingest: { keys: [this.auth.ingestKey] },
      webrtc: { interfaceAddress: '127.0.0.1', additionalHostAddresses: ['127.0.0.1'] },
      recordings: { dir: join(dir, 'origin-recordings') },
      auth,
      audit: { file: join(dir, 'origin-audit.jsonl') },
      logLevel,
    };
    const edgeConfig = {
      http: { host: '127.0.0.1', port: this.#edgeHttpPort },
      rtmp: { host: '127.0.0.1', port: this.#rtmpPort, ...(this.#options.publishGraceMs === undefined ? {} : { publishGraceMs: this.#options.publishGraceMs }) },
      origin: { url: this.originUrl, ingestKey: this.auth.ingestKey },
      // The load test's console is listed (an unlisted one is refused: PHI masking fails closed).
      consoles: { streams: { [this.stream]: 'endoscopy-1080p' } },
      workDir: join(dir, 'edge'),
      auth,
      audit: { file: join(dir, 'edge-audit.jsonl') },
      logLevel,
    };
    const originFile = join(dir, 'origin.json');
    const edgeFile = join(dir, 'edge.json');
    writeFileSync(originFile, JSON.stringify(originConfig, null, 2), { mode: 0o600 });
    writeFileSync(edgeFile, JSON.stringify(edgeConfig, null, 2), { mode: 0o600 });

    this.#spawn('origin', [join(ROOT, 'bin/origin.ts'), '--config', originFile]);
    await this.#waitHttp(`${this.originUrl}/healthz`, 'origin', signal, START_TIMEOUT_MS);
    this.#spawn('edge', [join(ROOT, 'bin/edge.ts'), '--config', edgeFile]);
    await this.#waitHttp(`${this.edgeUrl}/healthz`, 'edge', signal, START_TIMEOUT_MS);
    await waitForPort('127.0.0.1', this.#rtmpPort, 10_000);
    const source = this.#options.console;
    if (source) {
      const clip = source.kind === 'clip' ? ['--clip', String(DEFAULT_CLIP_SECONDS)] : [];
      this.#spawn('console', [join(ROOT, 'bin/synthetic-console.ts'), this.publishUrl, '--size', source.size, '--fps', String(source.fps), ...clip]);
    }
  }

  /** Resolves once the origin lists LL-HLS parts for the stream (and 2 s more, to fill the window). */
  async ready(signal: AbortSignal, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const headers = { authorization: `Bearer ${this.token('trainee')}` };
    const hasParts = async (): Promise<boolean> => {
      const master = await fetch(this.masterUrl, { headers, signal }).catch(() => null);
      if (!master?.ok) return false;
      const variant = /^[^#\s].*$/m.exec(await master.text())?.[0];
      if (!variant) return false;
      const media = await fetch(new URL(variant, this.masterUrl), { headers, signal }).catch(() => null);
      return Boolean(media?.ok && (await media.text()).includes('#EXT-X-PART:'));
    };
    while (!(await hasParts())) {
      signal.throwIfAborted();
      if (Date.now() > deadline) throw new Error(`the stream never appeared at the origin (LL-HLS parts) within ${timeoutMs / 1000} s${this.#tails()}`);
      await sleep(200, signal);
    }
    await sleep(2000, signal);
  }

  /** The origin's view of the stream (GET /api/streams/<stream>), or null while it has none. */
  async streamInfo(signal?: AbortSignal): Promise<OriginStreamInfo | null> {
    const res = await fetch(`${this.originUrl}/api/streams/${this.stream}`, { headers: { authorization: `Bearer ${this.token('trainee')}` }, ...(signal ? { signal } : {}) }).catch(() => null);
    if (!res?.ok) return null;
    return (await res.json()) as OriginStreamInfo;
  }

  /** The edge's pipelines (GET /healthz: no data beyond a count). */
  async edgeStreams(): Promise<number | null> {
    const res = await fetch(`${this.edgeUrl}/healthz`).catch(() => null);
    if (!res?.ok) return null;
    return ((await res.json()) as { streams?: number }).streams ?? null;
  }

  /** Idempotent: console, then edge (ends its encoders, tells the origin), then origin, then files. */
  async close(): Promise<void> {
    this.#closing = true;
    for (const name of [...STACK_PROCESSES].reverse()) {
      const proc = this.#procs.find((p) => p.name === name);
      await proc?.owned.stop(15_000);
    }
    if (this.#workDir) rmSync(this.#workDir, { recursive: true, force: true });
    this.#workDir = null;
  }

  #spawn(name: StackProcess, args: string[]): void {
    const owned = spawnOwned(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], dieWithParent: true });
    const proc: Proc = { name, owned, tail: [] };
    const keep = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        proc.tail.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
        if (proc.tail.length > TAIL_LINES) proc.tail.shift();
      }
    };
    owned.child.stdout?.on('data', keep);
    owned.child.stderr?.on('data', keep);
    this.#procs.push(proc);
    void owned.exited.then((exit) => {
      if (this.#closing) return;
      this.#unexpected?.(`${name} exited (code ${exit.code}, signal ${exit.signal})${proc.tail.length ? `:\n  ${proc.tail.slice(-10).join('\n  ')}` : ''}`);
    });
  }

  async #waitHttp(url: string, name: StackProcess, signal: AbortSignal, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      signal.throwIfAborted();
      const proc = this.#procs.find((p) => p.name === name);
      if (proc && proc.owned.child.exitCode !== null) throw new Error(`${name} exited at start-up (code ${proc.owned.child.exitCode})${this.#tails()}`);
      if (await fetch(url, { signal }).then((r) => r.ok, () => false)) return;
      if (Date.now() > deadline) throw new Error(`${name} did not answer ${url} within ${timeoutMs / 1000} s${this.#tails()}`);
      await sleep(100, signal);
    }
  }

  #tails(): string {
    const parts = this.#procs.filter((p) => p.tail.length > 0).map((p) => `\n  ${p.name}:\n    ${p.tail.slice(-8).join('\n    ')}`);
    return parts.join('');
  }
}
