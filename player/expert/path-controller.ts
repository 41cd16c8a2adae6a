// The one place that decides how the expert watches: WebRTC (WHEP) when it delivers frames, the
// LL-HLS fallback otherwise. The decision is a pure function (decidePath, path-decision.ts); the
// controller applies it with the sessions, timers and elements it owns.
import type { Bus } from '../watch/bus.js';
import { LatencyBadge } from '../watch/latency-badge.js';
import { FallbackLoader } from './fallback-loader.js';
import type { LlHlsFallback } from './llhls-fallback.js';
import { DEFAULT_PATH_POLICY, INITIAL_PATH_CONTEXT, decidePath, type PathContext, type PathPolicy } from './path-decision.js';
import type { PlayerError } from '../watch/types.js';
import type { ExpertEvents, ExpertPath } from './types.js';
import { FrameLatency, WebRtcSession, type WebRtcOutcome, type WebRtcTimings } from './webrtc-controller.js';

export interface PathControllerOptions {
  bus: Bus<ExpertEvents>;
  /** Gets data-path = 'webrtc' | 'llhls' | '' so CSS shows the right video. */
  stage: HTMLElement;
  /** The WebRTC <video>; it stays in the page for the whole visit. */
  rtcVideo: HTMLVideoElement;
  /** Where the LL-HLS fallback creates its own <video>. */
  hlsSlot: HTMLElement;
  badge: HTMLElement;
  /** WHEP endpoint, e.g. '/whep/endo-1'. */
  whepUrl: string;
  /** LL-HLS multivariant playlist URL. */
  hlsUrl: string;
  hlsWorkerUrl: string;
  /** The fallback's own bundle (video.js + hls.js), loaded on demand. */
  fallbackScriptUrl: string;
  /** The clock every latency badge measures against; replace later with setClock(). */
  now?: () => number;
  policy?: Partial<PathPolicy>;
  webrtcTimings?: Partial<WebRtcTimings>;
  fetch?: typeof fetch;
  /** Headers for WHEP and LL-HLS requests (the access token), read per request. */
  requestHeaders?: () => Record<string, string>;
  /**
   * A request was refused (WHEP or LL-HLS, 401/403). Everything has stopped by then; the page
   * words it (its access controller) and shows it.
   */
  onDenied?: (error: PlayerError) => void;
}

/** The WebRTC path on screen: latency from frame metadata, currentTime from the element. */
interface WebRtcView {
  frames: FrameLatency;
  badge: LatencyBadge;
  offTime: () => void;
}

export class PathController {
  readonly #options: PathControllerOptions;
  readonly #bus: Bus<ExpertEvents>;
  readonly #policy: PathPolicy;
  #now: () => number;
  #context: PathContext = INITIAL_PATH_CONTEXT;
  #path: ExpertPath | null = null;
  #session: WebRtcSession | null = null;
  #view: WebRtcView | null = null;
  #fallback: LlHlsFallback | null = null;
  readonly #fallbackLoader: FallbackLoader;
  #prefetchTimer: ReturnType<typeof setTimeout> | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #muted = true;
  #started = false;
  #denied = false;
  #destroyed = false;

  constructor(options: PathControllerOptions) {
    this.#options = options;
    this.#bus = options.bus;
    this.#policy = { ...DEFAULT_PATH_POLICY, ...options.policy };
    this.#now = options.now ?? (() => Date.now());
    this.#fallbackLoader = new FallbackLoader(options.fallbackScriptUrl);
  }

  get path(): ExpertPath | null {
    return this.#path;
  }

  /** The <video> on screen: WebRTC's, or the fallback's once it runs; null before either. */
  get videoOnScreen(): HTMLVideoElement | null {
    if (this.#path === 'webrtc') return this.#options.rtcVideo;
    if (this.#path === 'llhls') return this.#fallback?.video ?? null;
    return null;
  }

  /**
   * Media time of the frame on screen (edge ingest clock on the origin clock, Unix ms): the WebRTC
   * frame's capture time, or the fallback's PROGRAM-DATE-TIME. Null while unknown.
   */
  mediaTimeOnScreen(): number | null {
    if (this.#path === 'webrtc') return this.#view?.frames.mediaTime() ?? null;
    if (this.#path === 'llhls') return this.#fallback?.playingDate?.getTime() ?? null;
    return null;
  }

  start(): void {
    if (this.#started || this.#destroyed) return;
    this.#started = true;
    this.#bus.emit('state', 'loading', 'Connecting (WebRTC)…');
    this.#attempt();
  }

  /** Swap the latency clock (clock sync with the edge) on whichever path is showing, and later ones. */
  setClock(now: () => number): void {
    this.#now = now;
    this.#view?.badge.setClock(now);
    this.#fallback?.setClock(now);
  }

  setMuted(muted: boolean): void {
    this.#muted = muted;
    this.#options.rtcVideo.muted = muted;
    this.#fallback?.setMuted(muted);
  }

  /** Ends everything this controller started; the WHEP session is DELETEd. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#clearRetry();
    if (this.#prefetchTimer) clearTimeout(this.#prefetchTimer);
    this.#endSession();
    this.#hideWebRtc();
    this.#stopFallback();
    delete this.#options.stage.dataset.path;
  }

  /**
   * Access refused: the session, the fallback and every retry end; nothing is asked again. The
   * controller stays usable for destroy(). Idempotent.
   */
  deny(error: PlayerError): void {
    if (this.#denied || this.#destroyed) return;
    this.#denied = true;
    this.#clearRetry();
    if (this.#prefetchTimer) clearTimeout(this.#prefetchTimer);
    this.#prefetchTimer = null;
    this.#endSession();
    this.#hideWebRtc();
    this.#stopFallback();
    delete this.#options.stage.dataset.path;
    if (this.#path !== null) {
      this.#path = null;
      this.#bus.emit('path', null, 'access refused');
    }
    this.#options.onDenied?.(error);
  }

  #attempt(): void {
    if (this.#destroyed || this.#denied) return;
    const session = new WebRtcSession({
      video: this.#options.rtcVideo,
      endpoint: this.#options.whepUrl,
      timings: this.#options.webrtcTimings,
      ...(this.#options.fetch ? { fetch: this.#options.fetch } : {}),
      ...(this.#options.requestHeaders ? { headers: this.#options.requestHeaders } : {}),
      onOutcome: (outcome) => {
        if (session === this.#session) this.#onOutcome(outcome);
      },
      onFrames: (frames) => {
        if (session === this.#session) this.#bus.emit('frames', frames);
      },
      onCapture: (unixMs, rtpTimestamp) => {
        if (session === this.#session) this.#view?.frames.setCapture(unixMs, rtpTimestamp);
      },
    });
    this.#session = session;
    void session.start();
  }

  #onOutcome(outcome: WebRtcOutcome): void {
    if (this.#destroyed || this.#denied) return;
    const { decision, next } = decidePath(this.#context, outcome, this.#policy);
    this.#context = next;
    if (outcome.kind !== 'frames') this.#bus.emit('error', outcome.error);
    switch (decision.action) {
      case 'denied':
        if (outcome.kind !== 'frames') this.deny(outcome.error);
        return;
      case 'use-webrtc':
        this.#stopFallback();
        this.#showWebRtc();
        return;
      case 'fallback': {
        this.#endSession();
        this.#hideWebRtc();
        const reason = outcome.kind === 'frames' ? '' : outcome.error.details;
        this.#startFallback(reason);
        const seconds = Math.round(decision.retryInMs / 1000);
        this.#schedule(decision.retryInMs);
        if (outcome.kind === 'dropped') {
          this.#bus.emit('state', 'reconnecting', `WebRTC lost — LL-HLS fallback, reconnecting in ${seconds} s`);
        }
        return;
      }
    }
  }

  #showWebRtc(): void {
    const video = this.#options.rtcVideo;
    if (!this.#view) {
      const frames = new FrameLatency(video);
      const badge = new LatencyBadge({
        element: this.#options.badge,
        bus: this.#bus,
        measure: (nowMs) => frames.measure(nowMs),
        now: this.#now,
      });
      const onTime = (): void => this.#bus.emit('time', video.currentTime);
      video.addEventListener('timeupdate', onTime);
      this.#view = { frames, badge, offTime: () => video.removeEventListener('timeupdate', onTime) };
    }
    video.muted = this.#muted;
    video.play().catch((error: unknown) => {
      const name = error instanceof DOMException ? error.name : 'unknown';
      this.#bus.emit('error', { type: 'playerError', details: `playRejected:${name}`, fatal: false });
    });
    this.#setPath('webrtc', 'WebRTC delivers frames');
    this.#prefetchFallback();
    this.#bus.emit('state', 'playing', 'Live');
  }

  #hideWebRtc(): void {
    const view = this.#view;
    if (!view) return;
    this.#view = null;
    view.offTime();
    view.badge.destroy();
    view.frames.destroy();
  }

  #startFallback(reason: string): void {
    if (this.#denied) return;
    this.#setPath('llhls', `WebRTC unavailable (${reason})`);
    if (this.#fallback) return;
    this.#fallbackLoader.load().then(
      (Fallback) => {
        // WebRTC may have come back (or the page gone) while the bundle loaded.
        if (this.#destroyed || this.#denied || this.#path !== 'llhls' || this.#fallback) return;
        this.#fallback = new Fallback({
          bus: this.#bus,
          slot: this.#options.hlsSlot,
          badge: this.#options.badge,
          source: this.#options.hlsUrl,
          workerPath: this.#options.hlsWorkerUrl,
          now: this.#now,
          muted: this.#muted,
          ...(this.#options.requestHeaders ? { requestHeaders: this.#options.requestHeaders } : {}),
          // The fallback's own recovery logic stops on a refusal; here the whole page does.
          onDenied: (error) => queueMicrotask(() => this.deny(error)),
        });
      },
      (error: unknown) => {
        if (this.#destroyed) return;
        this.#bus.emit('error', { type: 'playerError', details: `fallbackLoad:${error instanceof Error ? error.message : 'unknown'}`, fatal: false });
      },
    );
  }

  /** Once WebRTC plays, fetch the fallback quietly so a later switch is instant. */
  #prefetchFallback(): void {
    if (this.#prefetchTimer || this.#destroyed || this.#denied) return;
    this.#prefetchTimer = setTimeout(() => {
      this.#fallbackLoader.load().catch(() => {}); // retried when actually needed
    }, 3000);
  }

  #stopFallback(): void {
    this.#fallback?.destroy();
    this.#fallback = null;
  }

  #endSession(): void {
    this.#session?.destroy();
    this.#session = null;
  }

  #setPath(path: ExpertPath, reason: string): void {
    this.#options.stage.dataset.path = path;
    if (path === this.#path) return;
    this.#path = path;
    this.#bus.emit('path', path, reason);
  }

  #schedule(delayMs: number): void {
    this.#clearRetry();
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#attempt();
    }, delayMs);
  }

  #clearRetry(): void {
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
  }
}
