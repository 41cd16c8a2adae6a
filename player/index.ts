// Public surface of player/: what the origin (and tests) may import.
export { STREAM_NAME_RE, isValidStreamName } from './shared/stream-name.js';
export { renderWatchPage, escapeHtml, type WatchPageOptions } from './shared/watch-page.js';
export { Bus, type EventMap } from './watch/bus.js';
export { decideRecovery, backoffDelay, type Recovery, type PlaybackActions } from './watch/status-controller.js';
export { measureLatency, latencyLevel, formatLatency, DEFAULT_THRESHOLDS, type LatencyLevel } from './watch/latency-badge.js';
export type { WatchState, PlayerError, WatchEvents, ScopecastDebugSnapshot } from './watch/types.js';

export { renderExpertPage, type ExpertPageOptions } from './shared/expert-page.js';
export {
  decidePath,
  DEFAULT_PATH_POLICY,
  INITIAL_PATH_CONTEXT,
  type PathContext,
  type PathDecision,
  type PathPolicy,
} from './expert/path-decision.js';
export { frameLatency, DEFAULT_WEBRTC_TIMINGS, type WebRtcOutcome, type WebRtcTimings } from './expert/webrtc-controller.js';
export { preferredCodecs, isSdpAnswer, whepResponseError, sessionUrl } from './expert/whep-client.js';
export type { ExpertPath, ExpertEvents, ExpertDebugSnapshot } from './expert/types.js';

export { renderStatusPage, STATUS_CSS, type StatusPageOptions } from './shared/status-page.js';
export { buildChart, type ChartInput, type ChartModel } from './status/chart.js';
export { formatAlert, isStatusSnapshot } from './status/format.js';
