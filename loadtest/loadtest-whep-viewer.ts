// The load test's WHEP viewer: WhepClient (werift) without decoding; latency = frame reassembled -
// the edge ingest wall clock the origin's RTCP sender reports map its RTP timestamp to. On failure
// (POST refused, ICE/DTLS failed) it counts the error and connects again, as the expert page does.
import { RETRY_MS, STALL_MS, errorKind, sleepUnlessAborted, type ViewerCounters, type ViewerSink } from './loadtest-viewers.js';
import { WhepClient } from './whep-client.js';

export interface WhepLoadViewerOptions {
  sink: ViewerSink;
  token?: string;
  /** Bind ICE to this address (127.0.0.1 on loopback). */
  interfaceAddress?: string;
}

export class WhepLoadViewer {
  readonly #url: string;
  readonly #options: WhepLoadViewerOptions;
  readonly #abort = new AbortController();
  readonly counters: ViewerCounters = { media: 0, bytes: 0, requests: 0 };
  #client: WhepClient | null = null;
  #running: Promise<void> | null = null;
  #lastFrameAt = 0;
  #stalled = false;
  /** Frames that arrived before the first sender report (no wall clock to measure against). */
  framesWithoutClock = 0;

  constructor(url: string, options: WhepLoadViewerOptions) {
    this.#url = url;
    this.#options = options;
  }

  get hasMedia(): boolean {
    return this.counters.media > 0;
  }

  start(): void {
    this.#running ??= this.#run();
  }

  checkStall(now: number): void {
    if (this.#lastFrameAt === 0) return;
    const stalled = now - this.#lastFrameAt > STALL_MS;
    if (stalled && !this.#stalled) this.#options.sink.error('whep:stall');
    this.#stalled = stalled;
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#running;
    await this.#client?.close();
    this.#client = null;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      const failed = new Promise<string>((resolve) => {
        const client = new WhepClient({ ...(this.#options.interfaceAddress ? { interfaceAddress: this.#options.interfaceAddress } : {}), ...(this.#options.token ? { token: this.#options.token } : {}) });
        this.#client = client;
        client.on('frame', (f) => {
          this.counters.media += 1;
          this.counters.bytes += f.annexB.length;
          this.#lastFrameAt = f.receivedAtMs;
          if (f.senderWallClockMs === undefined) this.framesWithoutClock += 1;
          else this.#options.sink.sample(f.receivedAtMs, f.receivedAtMs - f.senderWallClockMs);
        });
        client.on('broken', () => this.#options.sink.error('whep:broken-frame'));
        client.on('connectionState', (s) => {
          if (s === 'failed' || s === 'closed') resolve(`state-${s}`);
        });
        this.counters.requests += 1;
        client.connect(this.#url).catch((err: unknown) => {
          const status = (err as { status?: unknown }).status;
          resolve(typeof status === 'number' ? `connect-http-${status}` : errorKind('connect', err));
        });
        signal.addEventListener('abort', () => resolve('closed-by-us'), { once: true });
      });
      const reason = await failed;
      if (signal.aborted) return;
      this.#options.sink.error(`whep:${reason}`);
      this.#lastFrameAt = 0;
      await this.#client?.close();
      this.#client = null;
      await sleepUnlessAborted(RETRY_MS, signal);
    }
  }
}
