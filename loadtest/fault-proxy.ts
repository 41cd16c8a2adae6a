// A TCP fault proxy for tests and benches (toxiproxy-like, in-process): forwards a listening
// port to a target and can add latency and jitter, cap bandwidth, blackhole (hold everything,
// connections stay open: a dead 5G uplink), reset every connection, or refuse new ones.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface Faults {
  /** Added to every chunk in each direction, ms. */
  latencyMs: number;
  /** Uniform 0..jitterMs on top of latency (order is kept), ms. */
  jitterMs: number;
  /** Per direction, bytes per second; 0 = unlimited. */
  bandwidthBps: number;
  /** Hold all data (nothing forwarded, nothing closed) until lifted; held data then flows. */
  blackhole: boolean;
  /** Refuse new connections (accept, then reset at once). */
  refuse: boolean;
}

export const NO_FAULTS: Faults = { latencyMs: 0, jitterMs: 0, bandwidthBps: 0, blackhole: false, refuse: false };

const SLICE_BYTES = 8 * 1024;

interface Pipe {
  from: Socket;
  to: Socket;
  queue: Buffer[];
  /** When the head of the line may go, epoch ms (keeps order under jitter). */
  nextAt: number;
  timer: ReturnType<typeof setTimeout> | null;
  /** Silent until then, epoch ms (holdExisting). */
  heldUntil: number;
}

export class FaultProxy {
  readonly #target: { host: string; port: number };
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #pipes = new Set<Pipe>();
  #faults: Faults = { ...NO_FAULTS };
  #port = 0;
  #closed = false;
  #connections = 0;

  constructor(target: { host: string; port: number }) {
    this.#target = target;
    this.#server = createServer((client) => this.#accept(client));
  }

  async listen(host = '127.0.0.1', port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => resolve());
    });
    const address = this.#server.address();
    this.#port = typeof address === 'object' && address ? address.port : port;
    return this.#port;
  }

  get port(): number {
    return this.#port;
  }

  /** Connections accepted so far (refused ones included). */
  get connections(): number {
    return this.#connections;
  }

  set(faults: Partial<Faults>): void {
    this.#faults = { ...this.#faults, ...faults };
    for (const pipe of this.#pipes) this.#schedule(pipe);
  }

  /**
   * Every connection open now stays silent for ms more while new ones flow: what TCP does after a
   * real outage, where each old connection waits out its retransmission backoff (seconds).
   */
  holdExisting(ms: number): void {
    const until = Date.now() + ms;
    for (const pipe of this.#pipes) {
      pipe.heldUntil = until;
      if (pipe.timer) clearTimeout(pipe.timer);
      pipe.timer = null;
      this.#schedule(pipe);
    }
  }

  /** Every open connection is reset (RST), as when a radio link drops. */
  resetAll(): void {
    for (const socket of this.#sockets) socket.resetAndDestroy();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const pipe of this.#pipes) if (pipe.timer) clearTimeout(pipe.timer);
    this.#pipes.clear();
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.#connections += 1;
    if (this.#faults.refuse || this.#closed) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(this.#target.port, this.#target.host);
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        this.#sockets.delete(s);
        // One side gone: the other follows once its queued data is out (or at once if held).
        const other = s === client ? upstream : client;
        if (!other.destroyed) other.end();
      });
    }
    this.#pipe(client, upstream);
    this.#pipe(upstream, client);
  }

  #pipe(from: Socket, to: Socket): void {
    const pipe: Pipe = { from, to, queue: [], nextAt: 0, timer: null, heldUntil: 0 };
    this.#pipes.add(pipe);
    from.on('data', (chunk: Buffer) => {
      // Small slices under a bandwidth cap, so the cap paces bytes, not whole socket reads.
      for (let i = 0; i < chunk.length; i += SLICE_BYTES) pipe.queue.push(chunk.subarray(i, i + SLICE_BYTES));
      // Back-pressure: a held or slow pipe stops reading instead of buffering without bound.
      if (pipe.queue.length > 1024) from.pause();
      this.#schedule(pipe);
    });
    from.on('close', () => this.#pipes.delete(pipe));
  }

  #schedule(pipe: Pipe): void {
    if (pipe.timer || pipe.queue.length === 0 || this.#faults.blackhole) return;
    const f = this.#faults;
    const delay = f.latencyMs + Math.random() * f.jitterMs;
    // A slice arrives once the link has carried it: its transmission time comes after the last one.
    const transmitMs = f.bandwidthBps > 0 ? (pipe.queue[0]!.length / f.bandwidthBps) * 1000 : 0;
    const at = Math.max(Date.now() + delay, pipe.nextAt + transmitMs, pipe.heldUntil);
    pipe.timer = setTimeout(() => {
      pipe.timer = null;
      if (this.#faults.blackhole) return;
      const chunk = pipe.queue.shift();
      if (!chunk) return;
      if (!pipe.to.destroyed) pipe.to.write(chunk);
      pipe.nextAt = this.#faults.bandwidthBps > 0 ? Date.now() : 0;
      if (pipe.queue.length < 256) pipe.from.resume();
      this.#schedule(pipe);
    }, Math.max(0, at - Date.now()));
  }
}
