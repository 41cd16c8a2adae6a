// The LL-HLS fallback is the trainee page's pipeline, reused as it is: VideoController (video.js +
// hls.js), StatusController (hls.js error recovery), LatencyBadge (PROGRAM-DATE-TIME) and
// CatchUpController, on a bus of their own. Only state, latency, time and errors are forwarded to
// the page bus, so WebRTC errors on the page bus never reach the hls.js recovery logic.
import { Bus } from '../watch/bus.js';
import { CatchUpController } from '../watch/catch-up-controller.js';
import { LatencyBadge } from '../watch/latency-badge.js';
import { StatusController } from '../watch/status-controller.js';
import type { PlayerError, WatchEvents } from '../watch/types.js';
import { VideoController } from '../watch/video-controller.js';
import type { ExpertEvents } from './types.js';

export interface LlHlsFallbackOptions {
  bus: Bus<ExpertEvents>;
  /** Container the fallback's own <video> is created in (video.js wraps it; dispose restores it). */
  slot: HTMLElement;
  /** The page's latency badge. */
  badge: HTMLElement;
  /** Multivariant playlist URL. */
  source: string;
  workerPath: string;
  now: () => number;
  muted: boolean;
  /** Headers for every LL-HLS request (the access token), read per request. */
  requestHeaders?: () => Record<string, string>;
  /** A playlist or segment was refused (401/403): this pipeline has stopped; the page decides the rest. */
  onDenied?: (error: PlayerError) => void;
}

export class LlHlsFallback {
  readonly #slot: HTMLElement;
  readonly #video: HTMLVideoElement;
  readonly #forwards: Array<() => void>;
  readonly #controller: VideoController;
  readonly #status: StatusController;
  readonly #latency: LatencyBadge;
  readonly #catchUp: CatchUpController;
  #destroyed = false;

  constructor(options: LlHlsFallbackOptions) {
    this.#slot = options.slot;
    const video = document.createElement('video');
    video.className = 'video-js vjs-default-skin';
    video.playsInline = true;
    video.muted = true;
    this.#slot.replaceChildren(video);
    this.#video = video;

    const bus = new Bus<WatchEvents>();
    const page = options.bus;
    this.#forwards = [
      bus.on('state', (state, message) => page.emit('state', state, message)),
      bus.on('latency', (ms) => page.emit('latency', ms)),
      bus.on('time', (seconds) => page.emit('time', seconds)),
      bus.on('error', (error) => page.emit('error', error)),
    ];
    this.#controller = new VideoController({
      video,
      bus,
      source: options.source,
      workerPath: options.workerPath,
      ...(options.requestHeaders ? { requestHeaders: options.requestHeaders } : {}),
    });
    // The page's status line is drawn from the forwarded 'state' events; this element stays detached.
    this.#status = new StatusController({
      bus,
      actions: this.#controller,
      element: document.createElement('p'),
      ...(options.onDenied ? { onDenied: options.onDenied } : {}),
    });
    const controller = this.#controller;
    this.#latency = new LatencyBadge({ element: options.badge, bus, playingDate: () => controller.playingDate, now: options.now });
    this.#catchUp = new CatchUpController({ video, measure: () => controller.liveLatency() });
    controller.start();
    if (!options.muted) video.muted = false;
  }

  /** The fallback's <video> (for the annotation overlay). */
  get video(): HTMLVideoElement {
    return this.#video;
  }

  /** PROGRAM-DATE-TIME of the frame on screen; null until known. */
  get playingDate(): Date | null {
    return this.#controller.playingDate;
  }

  setClock(now: () => number): void {
    this.#latency.setClock(now);
  }

  setMuted(muted: boolean): void {
    this.#video.muted = muted;
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#catchUp.destroy();
    this.#latency.destroy();
    this.#status.destroy();
    this.#controller.destroy();
    for (const off of this.#forwards) off();
    this.#forwards.length = 0;
    // video.js put a clean copy of the <video> back; this fallback created it, so it goes too.
    this.#slot.replaceChildren();
  }
}
