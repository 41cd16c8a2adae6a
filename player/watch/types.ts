// The page's vocabulary: states, errors as data, bus events, and the debug snapshot contract.
import type { AnnotationDebugSnapshot } from '../shared/annotation-layer.js';
import type { EventMap } from './bus.js';

/** 'denied': the server refused the page's token (401/403); the status line says what to do. */
export type WatchState = 'loading' | 'playing' | 'reconnecting' | 'waiting' | 'ended' | 'error' | 'denied';

/**
 * An error as data. `type` and `details` are hls.js ErrorTypes / ErrorDetails strings, or
 * 'playerError' / our own details for failures outside hls.js. `httpStatus` is set when a load
 * failed with an HTTP response (e.g. 404 for a stream that has not started).
 */
export interface PlayerError {
  type: string;
  details: string;
  fatal: boolean;
  httpStatus?: number;
  /** The server's error code (e.g. SC_ERR_STREAM_NOT_FOUND) when it answered with a coded error. */
  code?: string;
}

export interface WatchEvents extends EventMap {
  /** hls.js parsed the multivariant playlist. */
  'manifest-parsed': [];
  /** Any error, fatal or not, from hls.js or the media element. */
  error: [error: PlayerError];
  /** A media playlist was (re)loaded; live === false means EXT-X-ENDLIST was seen. */
  'level-updated': [live: boolean];
  /** The media element started or resumed playback. */
  'media-playing': [];
  /** The media element is waiting for data. */
  'media-waiting': [];
  /** media.currentTime, on every timeupdate. */
  time: [seconds: number];
  /** Glass-to-glass latency estimate; null while unknown. */
  latency: [ms: number | null];
  /** The one state the status controller decided, with the text it shows. */
  state: [state: WatchState, message: string];
}

/** `window.__scopecast`: read by tests and by humans in devtools. Kept up to date by DebugState. */
export interface ScopecastDebugSnapshot {
  state: WatchState;
  latencyMs: number | null;
  currentTime: number;
  errors: PlayerError[];
  /** The annotation overlay, on pages that have one. */
  annotations?: AnnotationDebugSnapshot;
}

declare global {
  interface Window {
    __scopecast?: ScopecastDebugSnapshot;
  }
}
