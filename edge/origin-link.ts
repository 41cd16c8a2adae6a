// The edge's control line to the origin (WebSocket /ws): clock sync, so the origin can put this
// edge's wall-clock stamps on its own clock, and once a second each encoder's stats. Media does
// not depend on it: while it is down the origin keeps the last offset, and it reconnects with
// backoff on its own.
import type { FastifyBaseLogger } from 'fastify';
import WebSocket from 'ws';
import { ClockSync } from '../lib/clock-sync.js';
import { INGEST_HEADERS } from '../lib/ingest-protocol.js';
import type { TlsConnectOptions } from '../lib/tls.js';
import type { ClientMessage, ServerMessage } from '../lib/ws-protocol.js';
import type { EncoderStats } from './pipeline/stream-pipeline.js';

export interface OriginLinkOptions {
  /** Origin base URL (http or https); the link goes to ws(s)://.../ws. */
  originUrl: string;
  edgeId: string;
  log: FastifyBaseLogger;
  /** Current encoder stats per published stream. */
  encoders: () => Iterable<[stream: string, stats: EncoderStats]>;
  statsIntervalMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  /** For a wss:// link: trusted CA and TLS floor (lib/tls.ts originTlsClient().ws). */
  tls?: TlsConnectOptions;
  /** This edge's credential (origin ingest.keys), sent on the upgrade. */
  ingestKey: string;
  /** Token ids the origin revoked (all in force when the link comes up, then each new one). */
  onRevocations?: (entries: Array<[string, number]>) => void;
}

export interface OriginLinkState {
  connected: boolean;
  /** Origin minus edge, ms, null before the first estimate. */
  offsetMs: number | null;
  rttMs: number | null;
}

export class OriginLink {
  readonly #options: OriginLinkOptions;
  readonly #url: string;
  readonly #clock: ClockSync;
  #socket: WebSocket | null = null;
  #retryMs: number;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #statsTimer: ReturnType<typeof setInterval> | null = null;
  #connected = false;
  #closed = false;

  constructor(options: OriginLinkOptions) {
    this.#options = options;
    const url = new URL('/ws', options.originUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    this.#url = url.toString();
    this.#retryMs = options.retryMinMs ?? 500;
    this.#clock = new ClockSync({
      send: (ping) => this.#send(ping),
      onUpdate: (offsetMs, rttMs) => this.#send({ type: 'offset', offsetMs, rttMs }),
    });
  }

  get state(): OriginLinkState {
    return { connected: this.#connected, offsetMs: this.#clock.synced ? this.#clock.offsetMs : null, rttMs: this.#clock.rttMs };
  }

  start(): void {
    if (this.#closed || this.#socket) return;
    const socket = new WebSocket(this.#url, { handshakeTimeout: 5000, ...this.#options.tls, headers: { [INGEST_HEADERS.key]: this.#options.ingestKey } });
    this.#socket = socket;
    socket.on('open', () => {
      this.#connected = true;
      this.#retryMs = this.#options.retryMinMs ?? 500;
      this.#options.log.info({ url: this.#url }, 'origin control link up');
      this.#send({ type: 'hello', role: 'edge', edgeId: this.#options.edgeId });
      this.#clock.start();
      this.#statsTimer = setInterval(() => this.#sendStats(), this.#options.statsIntervalMs ?? 1000);
    });
    socket.on('message', (data) => this.#onMessage(data.toString()));
    socket.on('error', (err) => this.#options.log.debug({ err: err.message }, 'origin control link error'));
    socket.on('close', (code, reason) => {
      if (this.#connected) this.#options.log.warn({ code, reason: reason.toString() }, 'origin control link down; reconnecting');
      this.#connected = false;
      this.#socket = null;
      this.#clock.pause();
      if (this.#statsTimer) clearInterval(this.#statsTimer);
      this.#statsTimer = null;
      if (!this.#closed) this.#scheduleRetry();
    });
  }

  /** Idempotent: no socket, timer or retry survives it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clock.destroy();
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    if (this.#statsTimer) clearInterval(this.#statsTimer);
    this.#retryTimer = null;
    this.#statsTimer = null;
    this.#socket?.terminate();
    this.#socket = null;
  }

  #scheduleRetry(): void {
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, this.#options.retryMaxMs ?? 10_000);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.start();
    }, delay);
  }

  #onMessage(text: string): void {
    let message: ServerMessage;
    try {
      message = JSON.parse(text) as ServerMessage;
    } catch {
      return;
    }
    if (message.type === 'pong') this.#clock.onPong(message);
    else if (message.type === 'revocations' && Array.isArray(message.entries)) this.#options.onRevocations?.(message.entries);
    else if (message.type === 'error') this.#options.log.error({ code: message.code, message: message.message }, 'origin refused a control message');
  }

  #sendStats(): void {
    try {
      for (const [stream, stats] of this.#options.encoders()) this.#send({ type: 'edge-stats', stream, ...stats });
    } catch {
      // the link went down between ticks; 'close' handles it
    }
  }

  #send(message: ClientMessage): void {
    const socket = this.#socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) throw new Error('origin control link is down');
    socket.send(JSON.stringify(message));
  }
}
