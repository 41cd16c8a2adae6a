// The JSON contract of GET /api/status: what the /status dashboard draws. The origin's latency
// book produces it; the page only reads it. Times are epoch ms on the origin clock.

export type DeliveryPath = 'webrtc' | 'llhls';
export type ViewerRole = 'expert' | 'trainee' | 'surgeon' | 'probe';
/** Where the delay is spent: at the edge, on the uplink, from origin to the player's screen. */
export type Hop = 'ingest_to_encoded' | 'edge_to_origin' | 'origin_to_player' | 'end_to_end';

/** Percentiles over the reports of one second (or a window); null when there were none. */
export interface LatencyStats {
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  /** Reports the figures are computed from. */
  n: number;
}

/** One second of one stream. */
export interface StatusPoint {
  /** Start of the second, epoch ms. */
  t: number;
  webrtc: LatencyStats | null;
  llhls: LatencyStats | null;
}

export interface ViewerStatus {
  id: string;
  path: DeliveryPath;
  role: ViewerRole;
  /** Latest report, ms (synced now - ingest wall clock of the frame on screen). */
  latencyMs: number;
  /** Epoch ms of the latest report. */
  lastReportAt: number;
}

export interface LatencyAlert {
  stream: string;
  viewerId: string;
  role: ViewerRole;
  path: DeliveryPath;
  /** Epoch ms since when the viewer has been above the threshold without a break. */
  since: number;
  latencyMs: number;
  thresholdMs: number;
  message: string;
}

export interface StreamStatus {
  stream: string;
  live: boolean;
  viewers: { webrtc: number; llhls: number };
  ingest: {
    /** Media bits per second arriving from the edge, over the last few seconds. */
    bitrateBps: number;
    /** Video frames per second arriving from the edge. */
    fps: number;
    /** The edge encoder's speed (1.0 = real time), null until the edge reported it. */
    encoderSpeed: number | null;
    /** Frames the edge encoder dropped or duplicated since it started, null until reported. */
    droppedFrames: number | null;
  };
  /** Median delay per hop over the last ~10 s, ms; null when unknown. */
  hops: Record<Hop, number | null>;
  viewerList: ViewerStatus[];
  /** Oldest first, one point per second, the last `historySeconds`. */
  history: StatusPoint[];
}

export interface StatusSnapshot {
  now: number;
  historySeconds: number;
  alertThresholdMs: number;
  alertAfterMs: number;
  streams: StreamStatus[];
  alerts: LatencyAlert[];
}
