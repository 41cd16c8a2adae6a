// Polls GET /api/status with the page's token. One request at a time, each with a timeout; a
// failure is reported on the bus as data and the next poll is scheduled as usual, except a refused
// token (401/403), which ends polling. Never throws into the page.
import type { Bus } from '../watch/bus.js';
import { isStatusSnapshot } from './format.js';
import type { PollError, StatusEvents } from './types.js';

export interface StatusPollerOptions {
  bus: Bus<StatusEvents>;
  url: string;
  /** From the start of one poll to the start of the next, ms. Default 1000. */
  intervalMs?: number;
  /** A poll slower than this is aborted and counted as failed, ms. Default 3000. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** Headers for every poll (the access token), read per request. */
  headers?: () => Record<string, string>;
}

export class StatusPoller {
  readonly #bus: Bus<StatusEvents>;
  readonly #url: string;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  readonly #headers: () => Record<string, string>;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #inflight: AbortController | null = null;
  #destroyed = false;

  constructor(options: StatusPollerOptions) {
    this.#bus = options.bus;
    this.#url = options.url;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#timeoutMs = options.timeoutMs ?? 3000;
    // Bound: a bare `fetch` called as a method of this object throws "Illegal invocation".
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#headers = options.headers ?? (() => ({}));
  }

  start(): void {
    if (this.#destroyed || this.#timer !== null || this.#inflight !== null) return;
    void this.#poll();
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#inflight?.abort();
    this.#inflight = null;
  }

  async #poll(): Promise<void> {
    this.#timer = null;
    const started = Date.now();
    const controller = new AbortController();
    this.#inflight = controller;
    const timeout = setTimeout(() => controller.abort(), this.#timeoutMs);
    let error: PollError | null = null;
    let body: unknown = null;
    try {
      const response = await this.#fetch(this.#url, { signal: controller.signal, cache: 'no-store', headers: { ...this.#headers(), accept: 'application/json' } });
      if (response.status === 401 || response.status === 403) {
        // A refused token: asking again with it cannot help.
        const refusal: unknown = await response.json().catch(() => null);
        const code = typeof refusal === 'object' && refusal !== null ? (refusal as { code?: unknown }).code : undefined;
        error = { type: 'httpError', details: `HTTP ${response.status}`, httpStatus: response.status, ...(typeof code === 'string' ? { code } : {}), fatal: true };
      } else if (!response.ok) {
        error = { type: 'httpError', details: `HTTP ${response.status}`, httpStatus: response.status, fatal: false };
      } else {
        body = await response.json().catch(() => undefined);
        if (!isStatusSnapshot(body)) error = { type: 'parseError', details: 'malformed status', fatal: false };
      }
    } catch (cause) {
      const timedOut = controller.signal.aborted;
      error = { type: 'networkError', details: timedOut ? 'timeout' : cause instanceof Error ? cause.message : String(cause), fatal: false };
    } finally {
      clearTimeout(timeout);
    }
    if (this.#destroyed) return;
    this.#inflight = null;
    if (error) this.#bus.emit('poll-error', error);
    else if (isStatusSnapshot(body)) this.#bus.emit('snapshot', body);
    // A listener may have destroyed us while handling that event; a fatal error ends polling.
    if (this.#destroyed || error?.fatal) return;
    this.#timer = setTimeout(() => void this.#poll(), Math.max(0, this.#intervalMs - (Date.now() - started)));
  }
}
