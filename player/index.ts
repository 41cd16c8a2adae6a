// Public surface of player/: what the origin (and tests) may import.
export { STREAM_NAME_RE, isValidStreamName } from './shared/stream-name.js';
export { renderWatchPage, escapeHtml, type WatchPageOptions } from './shared/watch-page.js';
export { Bus, type EventMap } from './watch/bus.js';
export { decideRecovery, backoffDelay, type Recovery, type PlaybackActions } from './watch/status-controller.js';
export { measureLatency, latencyLevel, formatLatency, DEFAULT_THRESHOLDS, type LatencyLevel } from './watch/latency-badge.js';
export type { WatchState, PlayerError, WatchEvents, ScopecastDebugSnapshot } from './watch/types.js';

