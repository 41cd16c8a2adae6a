// Anchor: a plain node-media-server 4.4, RTMP in and HTTP-FLV out (what many hospital video
// systems ship as "low latency"). It runs as a child process on free 127.0.0.1 ports.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPort } from '../../lib/net.js';
import { spawnOwned, type OwnedChild } from './child.js';

const SERVER_ENTRY = fileURLToPath(new URL('./nms-server.ts', import.meta.url));

export class NmsFlvAnchor {
  readonly #stream: string;
  #dir: string | null = null;
  #child: OwnedChild | null = null;
  #closing = false;
  #ports: { rtmp: number; http: number } | null = null;
  #published: Promise<void> | null = null;
  #stderr = '';

  constructor(stream: string) {
    this.#stream = stream;
  }

  get publishUrl(): string {
    if (!this.#ports) throw new Error('nms anchor not started');
    return `rtmp://127.0.0.1:${this.#ports.rtmp}/live/${this.#stream}`;
  }

  get flvUrl(): string {
    if (!this.#ports) throw new Error('nms anchor not started');
    return `http://127.0.0.1:${this.#ports.http}/live/${this.#stream}.flv`;
  }

  /** Resolves once a publisher is on our stream (the relay connected). */
  async ready(signal: AbortSignal, timeoutMs: number): Promise<void> {
    if (!this.#published) throw new Error('nms anchor not started');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`nms-flv: nothing published to node-media-server after ${timeoutMs / 1000} s`)), timeoutMs);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
    try {
      await Promise.race([this.#published, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async start(): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'scopecast-nms-'));
    this.#dir = dir;
    const ports = { rtmp: await freePort(), http: await freePort() };
    this.#ports = ports;
    const child = spawnOwned(process.execPath, ['--import', 'tsx', SERVER_ENTRY, String(ports.rtmp), String(ports.http), dir], { stdio: ['ignore', 'pipe', 'pipe'], dieWithParent: true });
    this.#child = child;
    child.child.stderr?.on('data', (chunk: Buffer) => (this.#stderr = (this.#stderr + chunk.toString()).slice(-2000)));
    let stdout = '';
    this.#published = new Promise<void>((resolve) => {
      child.child.stdout?.on('data', (chunk: Buffer) => {
        stdout = (stdout + chunk.toString()).slice(-4000);
        if (stdout.includes(`publish /live/${this.#stream}`)) resolve();
      });
    });
    const early = child.exited.then((exit) => {
      throw new Error(`node-media-server exited at start (code ${exit.code}): ${(this.#stderr + stdout).trim().slice(-800)}`);
    });
    await Promise.race([Promise.all([waitForPort('127.0.0.1', ports.rtmp, 15_000), waitForPort('127.0.0.1', ports.http, 15_000)]), early]);
  }

  /** Resolves with a reason if the server exits before close() was called; never otherwise. */
  unexpectedExit(): Promise<string> {
    const child = this.#child;
    if (!child) return new Promise(() => {});
    return child.exited.then((exit) =>
      this.#closing ? new Promise<string>(() => {}) : `node-media-server exited (code ${exit.code}, signal ${exit.signal}): ${this.#stderr.trim().slice(-400)}`,
    );
  }

  get pid(): number | undefined {
    const child = this.#child?.child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }


  /** Idempotent: ends the server process, waits for it, removes its store dir. */
  async close(): Promise<void> {
    this.#closing = true;
    const child = this.#child;
    this.#child = null;
    if (child) await child.stop();
    if (this.#dir) rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = null;
  }
}
