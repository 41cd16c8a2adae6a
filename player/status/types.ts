// The dashboard's vocabulary: the /api/status contract (owned by the origin's latency book; type-only
// import, erased from the bundle) plus the page's own events and its test/devtools mirror.
import type { StatusSnapshot } from '../../origin/latency/status-types.js';

export type {
  DeliveryPath,
  Hop,
  LatencyAlert,
  LatencyStats,
  StatusPoint,
  StatusSnapshot,
  StreamStatus,
  ViewerRole,
  ViewerStatus,
} from '../../origin/latency/status-types.js';

/**
 * A failed poll, as data: the page shows it and keeps polling. Only a refused token (401/403) is
 * fatal: the poller stops and the page says why.
 */
export interface PollError {
  type: 'networkError' | 'httpError' | 'parseError';
  details: string;
  httpStatus?: number;
  code?: string;
  fatal: boolean;
}

export type StatusEvents = {
  /** A poll succeeded. */
  snapshot: [snapshot: StatusSnapshot];
  /** A poll failed; the last snapshot stays on screen. */
  'poll-error': [error: PollError];
};

/** `window.__scopecastStatus`: read-only by contract, nothing in the page reads it back. */
export interface StatusDebugSnapshot {
  /** Polls finished, successful or not. */
  polls: number;
  /** Polls that failed. */
  errors: number;
  /** Streams currently drawn, in page order. */
  streams: string[];
  /** Alerts currently in the banner. */
  alerts: number;
}

declare global {
  interface Window {
    __scopecastStatus?: StatusDebugSnapshot;
  }
}
