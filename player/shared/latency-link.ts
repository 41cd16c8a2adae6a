// A page's line to the origin (WebSocket /ws/<stream>): syncs the page's clock to the origin's
// (NTP-style, lib/clock-sync) so latency badges measure against the same clock the edge stamps
// were moved onto, and reports the page's latency once a second. Errors are data: while the
// socket is down the page keeps playing, badges use the last offset, and it reconnects.
import { ClockSync } from '../../lib/clock-sync.js';
import type { ClientMessage, HelloMessage, ServerMessage, WsPath, WsRole } from '../../lib/ws-protocol.js';

export type ServerMessageListener = (message: ServerMessage) => void;

export interface LatencyLinkOptions {
  /**
   * ws(s)://host/ws/<stream>; built from location by latencyLinkUrl(). A function is asked on every
   * (re)connect: the access token rides in the URL (?token=) and is refreshed now and then.
   */
  url: string | (() => string);
  role: Exclude<WsRole, 'edge'>;
  /** The figure on screen now (path and ms), or null when nothing is playing. */
  current: () => { path: WsPath; latencyMs: number } | null;
  reportIntervalMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Extra hello fields on every (re)connect, e.g. the last annotation seq seen (since). */
  hello?: () => Partial<Pick<HelloMessage, 'since'>>;
  /** For tests: a WebSocket constructor. */
  WebSocketImpl?: typeof WebSocket;
}

export function latencyLinkUrl(stream: string, location: Location): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws/${encodeURIComponent(stream)}`;
}

export class LatencyLink {
  readonly #options: LatencyLinkOptions;
  readonly #clock: ClockSync;
  #socket: WebSocket | null = null;
  #reportTimer: ReturnType<typeof setInterval> | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #retryMs: number;
  #reports = 0;
  #viewerId: string | null = null;
  #destroyed = false;
  readonly #listeners = new Set<ServerMessageListener>();
  readonly #openListeners = new Set<() => void>();

  constructor(options: LatencyLinkOptions) {
    this.#options = options;
    this.#retryMs = options.retryMinMs ?? 1000;
    this.#clock = new ClockSync({ send: (ping) => this.#send(ping) });
  }

  /** The origin's clock, ms (the local clock until the first answer). */
  readonly now = (): number => this.#clock.now();

  get state(): { connected: boolean; synced: boolean; offsetMs: number; rttMs: number | null; reports: number; viewerId: string | null } {
    return {
      connected: this.#socket?.readyState === 1,
      synced: this.#clock.synced,
      offsetMs: this.#clock.offsetMs,
      rttMs: this.#clock.rttMs,
      reports: this.#reports,
      viewerId: this.#viewerId,
    };
  }

  start(): void {
    if (this.#destroyed || this.#socket) return;
    const Impl = this.#options.WebSocketImpl ?? WebSocket;
    let socket: WebSocket;
    try {
      const url = this.#options.url;
      socket = new Impl(typeof url === 'function' ? url() : url);
    } catch {
      this.#scheduleRetry();
      return;
    }
    this.#socket = socket;
    socket.addEventListener('open', () => {
      this.#retryMs = this.#options.retryMinMs ?? 1000;
      this.#send({ type: 'hello', role: this.#options.role, ...this.#options.hello?.() });
      for (const listener of this.#openListeners) listener();
      this.#clock.start();
      this.#reportTimer = setInterval(() => this.#report(), this.#options.reportIntervalMs ?? 1000);
    });
    socket.addEventListener('message', (event) => this.#onMessage(event.data));
    socket.addEventListener('close', () => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      this.#clock.pause();
      this.#stopReports();
      this.#scheduleRetry();
    });
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#clock.destroy();
    this.#listeners.clear();
    this.#openListeners.clear();
    this.#stopReports();
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    const socket = this.#socket;
    this.#socket = null;
    socket?.close(1000, 'page closed');
  }

  #report(): void {
    const current = this.#options.current();
    if (!current || !Number.isFinite(current.latencyMs)) return;
    try {
      this.#send({ type: 'report', path: current.path, latencyMs: Math.round(current.latencyMs) });
      this.#reports += 1;
    } catch {
      // the socket closed between ticks; 'close' reconnects
    }
  }

  #onMessage(data: unknown): void {
    if (typeof data !== 'string') return;
    let message: ServerMessage;
    try {
      message = JSON.parse(data) as ServerMessage;
    } catch {
      return;
    }
    if (message.type === 'pong') this.#clock.onPong(message);
    else if (message.type === 'welcome') this.#viewerId = message.id;
    for (const listener of this.#listeners) {
      try {
        listener(message);
      } catch {
        // a listener's failure is its own; the link and the others go on
      }
    }
  }

  /** Every message from the origin (annotations, refusals...). Returns the unsubscribe function. */
  onMessage(listener: ServerMessageListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Called after each (re)connect's hello. Returns the unsubscribe function. */
  onOpen(listener: () => void): () => void {
    this.#openListeners.add(listener);
    return () => this.#openListeners.delete(listener);
  }

  /** Send a message now; false when the link is down (the caller decides whether to retry). */
  send(message: ClientMessage): boolean {
    try {
      this.#send(message);
      return true;
    } catch {
      return false;
    }
  }

  #send(message: ClientMessage): void {
    const socket = this.#socket;
    if (!socket || socket.readyState !== 1) throw new Error('latency link is down');
    socket.send(JSON.stringify(message));
  }

  #stopReports(): void {
    if (this.#reportTimer) clearInterval(this.#reportTimer);
    this.#reportTimer = null;
  }

  #scheduleRetry(): void {
    if (this.#destroyed || this.#retryTimer) return;
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, this.#options.retryMaxMs ?? 15_000);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.start();
    }, delay);
  }
}
