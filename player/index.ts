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

export { renderLibraryPage, renderReplayPage, LIBRARY_CSS, RECORDING_ID_RE, isRecordingId, type LibraryPageOptions, type ReplayPageOptions } from './shared/library-page.js';
export { drawAnnotations, fitVideoRect, toCanvasPoint, ROLE_COLORS, DEFAULT_ANNOTATION_COLOR, type VideoRect, type DrawOptions } from './shared/annotation-renderer.js';
export { mediaTimeAt, positionOf, type TimelineFragment } from './library/media-time.js';

export { renderMonitorPage, monitorPageCsp, originEndpoints, type MonitorPageOptions, type OriginEndpoints } from './shared/monitor-page.js';
export { DEFAULT_FADE_MS } from './shared/watch-page.js';
export {
  AccessToken,
  accessMessage,
  decodeTokenPayload,
  denyOnSocketRefusal,
  isAccessStatus,
  splitTokenFromUrl,
  withTokenParam,
  xhrHeadersSetup,
  TOKEN_PARAM,
  type AccessDenial,
  type AccessDetails,
  type AccessDebugSnapshot,
  type AccessTokenOptions,
  type TokenPayload,
} from './shared/access-token.js';
export { displayedRect, toNormalised, toPixels, normalisedRadius, type Rect } from './shared/annotation-geometry.js';
export { Gesture, cleanLabel, newAnnotationId, DRAWING_TOOLS, type DrawingTool, type GestureStart } from './shared/annotation-gesture.js';
export { AnnotationStore, compactEvents } from './shared/annotation-store.js';
export { renderToolbar, TOOL_BUTTONS } from './shared/annotation-toolbar.js';
export { monotonic, parseFadeMs, type AnnotationDebugSnapshot } from './shared/annotation-layer.js';
