// Owns the media pipeline: video.js for the chrome around the <video>, hls.js as the only
// streaming engine. It reports what happens on the bus and carries out recovery actions; it
// never decides what to do about an error (the status controller does).
import Hls, { Events, type ErrorData, type HlsConfig, type LevelUpdatedData } from 'hls.js';
import videojsModule from 'video.js';
import { xhrHeadersSetup } from '../shared/access-token.js';
import type { Bus } from './bus.js';
import type { PlaybackActions } from './status-controller.js';
import type { PlayerError, WatchEvents } from './types.js';

// video.js ships ESM-style typings for a CommonJS package, so under NodeNext its default import is
// typed as the module object. The bundler hands us the function itself; this names its real type.
const videojs = videojsModule as unknown as typeof videojsModule.default;
type VideoJsPlayer = ReturnType<typeof videojs>;

export interface VideoControllerOptions {
  video: HTMLVideoElement;
  bus: Bus<WatchEvents>;
  /** Multivariant playlist URL. */
  source: string;
  /** URL of hls.js's worker script (the ESM build has no inline worker). */
  workerPath: string;
  /** Headers for every playlist, init, segment and part request (the access token), read per request. */
  requestHeaders?: () => Record<string, string>;
  /** Overrides for tests; merged over LIVE_HLS_CONFIG. */
  hlsConfig?: Partial<HlsConfig>;
}

export interface LiveLatency {
  latency: number;
  target: number;
  ahead: number;
}

/**
 * Tuned for LL-HLS: hold-back comes from PART-HOLD-BACK, so liveSyncDurationCount stays unset.
 * hls.js's own rate control is off (rate 1): it only acts with more than 1 s buffered, which a
 * 0.6 s hold-back never has; CatchUpController keeps the player near the target instead.
 */
export const LIVE_HLS_CONFIG: Partial<HlsConfig> = {
  lowLatencyMode: true,
  backBufferLength: 4,
  maxLiveSyncPlaybackRate: 1,
  // The fMP4 passthrough remux is cheap; a worker only adds a script fetch before the first frame.
  enableWorker: false,
};

export function toPlayerError(data: ErrorData): PlayerError {
  const error: PlayerError = { type: data.type, details: data.details, fatal: data.fatal };
  const status = data.response?.code;
  if (typeof status === 'number' && status > 0) error.httpStatus = status;
  const code = errorCode(data.networkDetails);
  if (code) error.code = code;
  return error;
}

/** The origin's error code (`{type:'error', code}` body) of a failed XHR, when there is one. */
function errorCode(details: unknown): string | null {
  if (typeof XMLHttpRequest === 'undefined' || !(details instanceof XMLHttpRequest)) return null;
  try {
    const body: unknown = JSON.parse(typeof details.response === 'string' ? details.response : details.responseText);
    const code = typeof body === 'object' && body !== null ? (body as { code?: unknown }).code : undefined;
    return typeof code === 'string' && /^SC_ERR_[A-Z_]{1,40}$/.test(code) ? code : null;
  } catch {
    return null;
  }
}

export class VideoController implements PlaybackActions {
  readonly #video: HTMLVideoElement;
  readonly #bus: Bus<WatchEvents>;
  readonly #source: string;
  readonly #config: Partial<HlsConfig>;
  readonly #player: VideoJsPlayer;
  readonly #mediaListeners: Array<[keyof HTMLMediaElementEventMap, EventListener]> = [];
  #hls: Hls | null = null;
  #hlsListenersOff: Array<() => void> = [];
  #destroyed = false;

  constructor(options: VideoControllerOptions) {
    this.#video = options.video;
    this.#bus = options.bus;
    this.#source = options.source;
    this.#config = {
      ...LIVE_HLS_CONFIG,
      workerPath: options.workerPath,
      ...(options.requestHeaders ? { xhrSetup: xhrHeadersSetup(options.requestHeaders) } : {}),
      ...options.hlsConfig,
    };
    // video.js only draws controls; it never gets a source. restoreEl puts the original element
    // back on dispose, so destroy() undoes exactly what this constructor did to the DOM.
    this.#player = videojs(this.#video, {
      controls: true,
      autoplay: 'muted',
      muted: true,
      fluid: true,
      preload: 'auto',
      restoreEl: true,
      // Our status line is the one place that shows errors.
      errorDisplay: false,
    });
    this.#listenMedia('playing', () => this.#bus.emit('media-playing'));
    this.#listenMedia('waiting', () => this.#bus.emit('media-waiting'));
    this.#listenMedia('timeupdate', () => this.#bus.emit('time', this.#video.currentTime));
  }

  /** Creates hls.js and starts loading. Separate from the constructor so listeners can subscribe first. */
  start(): void {
    if (this.#destroyed || this.#hls) return;
    if (!Hls.isSupported()) {
      this.#bus.emit('error', { type: 'playerError', details: 'mseUnsupported', fatal: true });
      return;
    }
    this.#createHls();
  }

  /** PROGRAM-DATE-TIME of the frame on screen; null until known. */
  get playingDate(): Date | null {
    return this.#hls?.playingDate ?? null;
  }

  get currentTime(): number {
    return this.#video.currentTime;
  }

  /**
   * Where playback stands against the live edge: latency (s behind the edge), the playlist's
   * PART-HOLD-BACK target, and seconds of media buffered ahead. Null until a live playlist loaded.
   */
  liveLatency(): LiveLatency | null {
    const hls = this.#hls;
    const details = hls && hls.currentLevel >= 0 ? hls.levels[hls.currentLevel]?.details : undefined;
    if (!hls || !details?.live) return null;
    const target = details.partHoldBack || details.holdBack || 3 * details.targetduration;
    const buffered = this.#video.buffered;
    const end = buffered.length > 0 ? buffered.end(buffered.length - 1) : this.#video.currentTime;
    return { latency: hls.latency, target, ahead: Math.max(0, end - this.#video.currentTime) };
  }

  reload(): void {
    this.#hls?.loadSource(this.#source);
  }

  recoverMediaError(): void {
    this.#hls?.recoverMediaError();
  }

  swapAudioCodecAndRecover(): void {
    if (!this.#hls) return;
    this.#hls.swapAudioCodec();
    this.#hls.recoverMediaError();
  }

  /** Stops loading and pauses; the picture stays as it is (restart() would start again). */
  stop(): void {
    this.#hls?.stopLoad();
    if (!this.#video.paused) this.#video.pause();
  }

  /** Tears hls.js down and builds a fresh instance on the same element. */
  restart(): void {
    if (this.#destroyed) return;
    this.#destroyHls();
    this.#createHls();
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#destroyHls();
    for (const [type, listener] of this.#mediaListeners) this.#video.removeEventListener(type, listener);
    this.#mediaListeners.length = 0;
    this.#player.dispose();
  }

  #createHls(): void {
    const hls = new Hls(this.#config);
    this.#hls = hls;
    const onManifest = (): void => {
      this.#bus.emit('manifest-parsed');
      // Muted, so autoplay policy allows it; a rejection is reported, not thrown.
      this.#video.play().catch((error: unknown) => {
        if (this.#hls !== hls) return;
        const name = error instanceof DOMException ? error.name : 'unknown';
        this.#bus.emit('error', { type: 'playerError', details: `playRejected:${name}`, fatal: false });
      });
    };
    const onLevelUpdated = (_event: Events.LEVEL_UPDATED, data: LevelUpdatedData): void => {
      this.#bus.emit('level-updated', data.details.live);
    };
    const onError = (_event: Events.ERROR, data: ErrorData): void => {
      this.#bus.emit('error', toPlayerError(data));
    };
    hls.on(Events.MANIFEST_PARSED, onManifest);
    hls.on(Events.LEVEL_UPDATED, onLevelUpdated);
    hls.on(Events.ERROR, onError);
    this.#hlsListenersOff = [
      () => hls.off(Events.MANIFEST_PARSED, onManifest),
      () => hls.off(Events.LEVEL_UPDATED, onLevelUpdated),
      () => hls.off(Events.ERROR, onError),
    ];
    hls.attachMedia(this.#video);
    hls.loadSource(this.#source);
  }

  #destroyHls(): void {
    for (const off of this.#hlsListenersOff) off();
    this.#hlsListenersOff = [];
    this.#hls?.destroy();
    this.#hls = null;
  }

  #listenMedia(type: keyof HTMLMediaElementEventMap, listener: EventListener): void {
    this.#video.addEventListener(type, listener);
    this.#mediaListeners.push([type, listener]);
  }
}
