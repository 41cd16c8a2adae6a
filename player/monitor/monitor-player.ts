// The edge monitor's video: the expert page's WHEP session (WebRtcSession) against the origin,
// retried with backoff when it fails or drops. No LL-HLS fallback: the surgeon has the console
// itself in front of them; this screen is for the drawings, and a second late copy would not help.
import type { Bus } from '../watch/bus.js';
import { LatencyBadge } from '../watch/latency-badge.js';
import { backoffDelay } from '../watch/status-controller.js';
import type { PlayerError, WatchEvents } from '../watch/types.js';
import { FrameLatency, WebRtcSession, type WebRtcOutcome } from '../expert/webrtc-controller.js';

export interface MonitorPlayerOptions {
  video: HTMLVideoElement;
  badge: HTMLElement;
  bus: Bus<WatchEvents>;
  /** The origin's WHEP endpoint for the stream (absolute URL). */
  whepUrl: string;
  /** The clock the latency badge measures against (origin-synced). */
  now: () => number;
  /** Reconnect backoff, ms. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Headers for the WHEP POST and DELETE (the access token), read per request. */
  requestHeaders?: () => Record<string, string>;
  /** WHEP refused the token (401/403): the player has stopped retrying; the page says why. */
  onDenied?: (error: PlayerError) => void;
}

export class MonitorPlayer {
  readonly #o: MonitorPlayerOptions;
  readonly #frames: FrameLatency;
  readonly #badge: LatencyBadge;
  #session: WebRtcSession | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #failures = 0;
  #denied = false;
  #destroyed = false;

  constructor(options: MonitorPlayerOptions) {
    this.#o = options;
    this.#frames = new FrameLatency(options.video);
    this.#badge = new LatencyBadge({ element: options.badge, bus: options.bus, measure: (nowMs) => this.#frames.measure(nowMs), now: options.now });
    options.video.addEventListener('timeupdate', this.#onTime);
  }

  readonly #onTime = (): void => this.#o.bus.emit('time', this.#o.video.currentTime);

  /** Edge ingest wall clock (origin clock, ms) of the frame on screen; null while unknown. */
  mediaTime(): number | null {
    return this.#session ? this.#frames.mediaTime() : null;
  }

  start(): void {
    if (this.#destroyed || this.#denied || this.#session || this.#retryTimer) return;
    this.#o.bus.emit('state', 'loading', 'Connecting (WebRTC)…');
    this.#attempt();
  }

  /** Access refused: the session ends and nothing is retried. Idempotent. */
  stop(): void {
    this.#denied = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#session?.destroy();
    this.#session = null;
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.stop();
    this.#o.video.removeEventListener('timeupdate', this.#onTime);
    this.#badge.destroy();
    this.#frames.destroy();
  }

  #attempt(): void {
    if (this.#destroyed || this.#denied) return;
    const video = this.#o.video;
    const session: WebRtcSession = new WebRtcSession({
      video,
      endpoint: this.#o.whepUrl,
      ...(this.#o.requestHeaders ? { headers: this.#o.requestHeaders } : {}),
      onOutcome: (outcome) => {
        if (session === this.#session) this.#onOutcome(outcome);
      },
      onCapture: (unixMs, rtpTimestamp) => {
        if (session === this.#session) this.#frames.setCapture(unixMs, rtpTimestamp);
      },
    });
    this.#session = session;
    void session.start();
  }

  #onOutcome(outcome: WebRtcOutcome): void {
    if (this.#destroyed || this.#denied) return;
    const bus = this.#o.bus;
    if (outcome.kind === 'frames') {
      this.#failures = 0;
      this.#o.video.play().catch((error: unknown) => {
        const name = error instanceof DOMException ? error.name : 'unknown';
        bus.emit('error', { type: 'playerError', details: `playRejected:${name}`, fatal: false });
      });
      bus.emit('state', 'playing', 'Live');
      return;
    }
    bus.emit('error', outcome.error);
    this.#session?.destroy();
    this.#session = null;
    const status = outcome.error.httpStatus;
    if (status === 401 || status === 403) {
      // The same token would be refused again: no retry; the page shows why.
      this.stop();
      this.#o.onDenied?.(outcome.error);
      return;
    }
    const delay = backoffDelay(this.#failures++, this.#o.retryMinMs ?? 1000, this.#o.retryMaxMs ?? 8000);
    const why = outcome.kind === 'dropped' ? 'WebRTC lost' : 'Stream not available';
    bus.emit('state', outcome.kind === 'dropped' ? 'reconnecting' : 'waiting', `${why} — retrying in ${Math.round(delay / 1000)} s`);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#attempt();
    }, delay);
  }
}
