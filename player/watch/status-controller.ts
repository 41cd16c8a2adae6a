// The one place that decides what an error means for the viewer: retry, recover, restart,
// wait, or give up. Decisions are a pure function (decideRecovery); the controller applies them
// with timers it owns and shows the outcome on the status line.
import type { Bus } from './bus.js';
import type { PlayerError, WatchEvents, WatchState } from './types.js';

/** What the status controller may ask the video pipeline to do. */
export interface PlaybackActions {
  /** loadSource() again (network failures, stream not there yet). */
  reload(): void;
  recoverMediaError(): void;
  swapAudioCodecAndRecover(): void;
  /** Destroy hls.js and start over on the same element. */
  restart(): void;
  /** Stop loading and playing (access refused: nothing more will load). */
  stop(): void;
}

export type Recovery =
  | { action: 'none' }
  | { action: 'reload'; state: 'waiting' | 'reconnecting' }
  | { action: 'recover-media' }
  | { action: 'swap-codec-and-recover' }
  | { action: 'restart'; state: 'reconnecting' | 'error' }
  | { action: 'give-up' }
  /** The server refused the token (401/403): retrying the same token cannot help. */
  | { action: 'denied' };

/**
 * @param mediaStage how many media recoveries were already tried in the current window
 *   (0: none, 1: recoverMediaError, 2: swap codec + recover).
 */
export function decideRecovery(error: PlayerError, mediaStage: number): Recovery {
  // Fatal or not (a part hls.js would skip): a refused token refuses the next request too.
  if (error.httpStatus === 401 || error.httpStatus === 403) return { action: 'denied' };
  if (!error.fatal) return { action: 'none' };
  if (error.type === 'networkError') {
    const isMaster = error.details === 'manifestLoadError';
    if (isMaster && error.httpStatus === 404) return { action: 'reload', state: 'waiting' };
    return { action: 'reload', state: 'reconnecting' };
  }
  if (error.type === 'mediaError') {
    if (mediaStage === 0) return { action: 'recover-media' };
    if (mediaStage === 1) return { action: 'swap-codec-and-recover' };
    return { action: 'restart', state: 'reconnecting' };
  }
  if (error.type === 'playerError' && error.details === 'mseUnsupported') return { action: 'give-up' };
  return { action: 'restart', state: 'error' };
}

/** 1, 2, 4, ... capped: delay before retry number `attempt` (0-based). */
export function backoffDelay(attempt: number, initialMs = 1000, maxMs = 8000): number {
  return Math.min(initialMs * 2 ** Math.max(0, attempt), maxMs);
}

export interface StatusControllerOptions {
  bus: Bus<WatchEvents>;
  actions: PlaybackActions;
  /** The status line; its text and data-state are kept in step with the state. */
  element: HTMLElement;
  now?: () => number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Media recoveries older than this are forgotten, so a later glitch starts at stage 0 again. */
  mediaRecoveryWindowMs?: number;
  /**
   * A request was refused (401/403). The page's access controller words it and calls deny();
   * without this option the controller denies at once with a generic message.
   */
  onDenied?: (error: PlayerError) => void;
}

const MESSAGES: Record<WatchState, string> = {
  loading: 'Connecting…',
  playing: 'Live',
  reconnecting: 'Connection lost — reconnecting…',
  waiting: 'Waiting for stream…',
  ended: 'Stream ended',
  error: 'Playback error',
  denied: 'Access refused — ask the coordinator for a new link.',
};

export class StatusController {
  readonly #bus: Bus<WatchEvents>;
  readonly #actions: PlaybackActions;
  readonly #element: HTMLElement;
  readonly #now: () => number;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #mediaWindowMs: number;
  readonly #onDenied: ((error: PlayerError) => void) | undefined;
  readonly #unsubscribe: Array<() => void>;
  #state: WatchState = 'loading';
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #attempt = 0;
  #mediaStage = 0;
  #lastMediaRecoveryAt = -Infinity;
  #destroyed = false;

  constructor(options: StatusControllerOptions) {
    this.#bus = options.bus;
    this.#actions = options.actions;
    this.#element = options.element;
    this.#now = options.now ?? (() => Date.now());
    this.#initialBackoffMs = options.initialBackoffMs ?? 1000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 8000;
    this.#mediaWindowMs = options.mediaRecoveryWindowMs ?? 10_000;
    this.#onDenied = options.onDenied;
    this.#unsubscribe = [
      this.#bus.on('error', (error) => this.#onError(error)),
      this.#bus.on('manifest-parsed', () => this.#onManifestParsed()),
      this.#bus.on('media-playing', () => this.#onPlaying()),
      this.#bus.on('media-waiting', () => this.#onWaiting()),
      this.#bus.on('level-updated', (live) => this.#onLevelUpdated(live)),
    ];
    this.#setState('loading', MESSAGES.loading);
  }

  get state(): WatchState {
    return this.#state;
  }

  /** Access refused: no more retries, playback stopped, `message` on the status line. Final. */
  deny(message: string): void {
    if (this.#destroyed || this.#state === 'denied') return;
    this.#clearRetry();
    this.#actions.stop();
    this.#setState('denied', message);
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const off of this.#unsubscribe) off();
    this.#clearRetry();
  }

  #onError(error: PlayerError): void {
    if (this.#state === 'ended' || this.#state === 'denied') return;
    if (this.#now() - this.#lastMediaRecoveryAt > this.#mediaWindowMs) this.#mediaStage = 0;
    const recovery = decideRecovery(error, this.#mediaStage);
    switch (recovery.action) {
      case 'none':
        return;
      case 'reload': {
        const delay = this.#nextDelay();
        const message = recovery.state === 'waiting' ? MESSAGES.waiting : MESSAGES.reconnecting;
        this.#setState(recovery.state, `${message} (retry in ${Math.round(delay / 1000)} s)`);
        this.#schedule(delay, () => this.#actions.reload());
        return;
      }
      case 'recover-media':
        this.#noteMediaRecovery();
        this.#actions.recoverMediaError();
        return;
      case 'swap-codec-and-recover':
        this.#noteMediaRecovery();
        this.#actions.swapAudioCodecAndRecover();
        return;
      case 'restart': {
        this.#mediaStage = 0;
        const delay = this.#nextDelay();
        const base = recovery.state === 'error' ? `${MESSAGES.error} (${error.details})` : MESSAGES.reconnecting;
        this.#setState(recovery.state, `${base} — restarting in ${Math.round(delay / 1000)} s`);
        this.#schedule(delay, () => this.#actions.restart());
        return;
      }
      case 'give-up':
        this.#clearRetry();
        this.#setState('error', `${MESSAGES.error}: this browser cannot play the stream (${error.details})`);
        return;
      case 'denied':
        this.#clearRetry();
        if (this.#onDenied) this.#onDenied(error);
        // Whatever the page made of it, this pipeline is done.
        this.deny(MESSAGES.denied);
        return;
    }
  }

  #onManifestParsed(): void {
    if (this.#state === 'denied') return;
    if (this.#state === 'waiting' || this.#state === 'reconnecting') this.#setState('loading', MESSAGES.loading);
  }

  #onPlaying(): void {
    if (this.#state === 'ended' || this.#state === 'denied') return;
    this.#attempt = 0;
    this.#clearRetry();
    this.#setState('playing', MESSAGES.playing);
  }

  #onWaiting(): void {
    if (this.#state === 'playing') this.#setState('loading', 'Buffering…');
  }

  #onLevelUpdated(live: boolean): void {
    if (live || this.#state === 'ended' || this.#state === 'denied') return;
    this.#clearRetry();
    this.#setState('ended', MESSAGES.ended);
  }

  #noteMediaRecovery(): void {
    this.#mediaStage += 1;
    this.#lastMediaRecoveryAt = this.#now();
  }

  #nextDelay(): number {
    const delay = backoffDelay(this.#attempt, this.#initialBackoffMs, this.#maxBackoffMs);
    this.#attempt += 1;
    return delay;
  }

  #schedule(delayMs: number, run: () => void): void {
    this.#clearRetry();
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (!this.#destroyed) run();
    }, delayMs);
  }

  #clearRetry(): void {
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
  }

  #setState(state: WatchState, message: string): void {
    const changed = state !== this.#state || this.#element.textContent !== message;
    this.#state = state;
    this.#element.textContent = message;
    this.#element.dataset.state = state;
    if (changed) this.#bus.emit('state', state, message);
  }
}
