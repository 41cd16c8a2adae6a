// Plays a recording: plain hls.js on the page's <video> (native controls), no low-latency tuning.
// Knows the timeline once the playlist is loaded, so the page can map the playhead to media time
// (for the overlay and new bookmarks) and media time to a position (chapter and bookmark clicks).
import Hls, { Events, type ErrorData, type LevelLoadedData, type LevelDetails } from 'hls.js';
import type { Bus } from '../watch/bus.js';
import { xhrHeadersSetup } from '../shared/access-token.js';
import { mediaTimeAt, positionOf, type TimelineFragment } from './media-time.js';
import type { LibraryEvents } from './types.js';

export interface ReplayVideoOptions {
  video: HTMLVideoElement;
  bus: Bus<LibraryEvents>;
  /** The recording's playlist URL. */
  source: string;
  /** Headers for the playlist and every segment (the access token), read per request. */
  requestHeaders?: () => Record<string, string>;
}

export class ReplayVideo {
  readonly #video: HTMLVideoElement;
  readonly #bus: Bus<LibraryEvents>;
  readonly #source: string;
  readonly #requestHeaders: (() => Record<string, string>) | undefined;
  #hls: Hls | null = null;
  #details: LevelDetails | null = null;
  #recoveredMedia = false;
  #destroyed = false;

  constructor(options: ReplayVideoOptions) {
    this.#video = options.video;
    this.#bus = options.bus;
    this.#source = options.source;
    this.#requestHeaders = options.requestHeaders;
  }

  start(): void {
    if (this.#destroyed || this.#hls) return;
    if (!Hls.isSupported()) {
      this.#bus.emit('error', { type: 'mediaError', details: 'this browser cannot play HLS (no MediaSource)', fatal: true });
      return;
    }
    // The ESM build has no inline worker, and remuxing a VOD's fMP4 is cheap on the main thread.
    const hls = new Hls({
      enableWorker: false,
      lowLatencyMode: false,
      ...(this.#requestHeaders ? { xhrSetup: xhrHeadersSetup(this.#requestHeaders) } : {}),
    });
    this.#hls = hls;
    hls.on(Events.LEVEL_LOADED, this.#onLevelLoaded);
    hls.on(Events.ERROR, this.#onError);
    hls.attachMedia(this.#video);
    hls.loadSource(this.#source);
  }

  /** hls.js keeps fragment starts up to date as it parses media: always read them live. */
  get fragments(): readonly TimelineFragment[] {
    return this.#details?.fragments ?? [];
  }

  /** Media time (ingest wall clock, Unix ms) of the frame at the playhead; null until known. */
  mediaTime(): number | null {
    return mediaTimeAt(this.fragments, this.#video.currentTime);
  }

  /** Seeks to the frame of media time atMs; false when the timeline is not known yet. */
  seekToMediaTime(atMs: number): boolean {
    const position = positionOf(this.fragments, atMs);
    if (position === null) return false;
    this.#video.currentTime = position;
    return true;
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    const hls = this.#hls;
    this.#hls = null;
    if (!hls) return;
    hls.off(Events.LEVEL_LOADED, this.#onLevelLoaded);
    hls.off(Events.ERROR, this.#onError);
    hls.destroy();
  }

  readonly #onLevelLoaded = (_event: Events.LEVEL_LOADED, data: LevelLoadedData): void => {
    this.#details = data.details;
    this.#bus.emit('timeline', this.fragments);
  };

  readonly #onError = (_event: Events.ERROR, data: ErrorData): void => {
    // Non-fatal errors (a stall, a retried request) are routine for hls.js: not worth a word.
    const status = data.response?.code;
    if (status === 401 || status === 403) {
      // The page's token is refused: nothing more will load; the page says why.
      this.#hls?.stopLoad();
      this.#bus.emit('error', { type: 'httpError', details: data.details, fatal: true, httpStatus: status });
      return;
    }
    if (!data.fatal || !this.#hls) return;
    this.#bus.emit('error', { type: 'mediaError', details: data.details, fatal: true });
    // One media recovery (a decode hiccup); a network failure on a VOD is retried by reloading.
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !this.#recoveredMedia) {
      this.#recoveredMedia = true;
      this.#hls.recoverMediaError();
    } else if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
      this.#hls.startLoad();
    }
  };
}
