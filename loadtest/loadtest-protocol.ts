// Messages between the load test's main thread and its viewer workers (loadtest-worker.ts).

export type ViewerClass = 'hls' | 'whep';

/** workerData of a viewer worker. */
export interface WorkerInit {
  kind: ViewerClass;
  /** LL-HLS master playlist URL, or the WHEP endpoint. */
  url: string;
  /** Bearer token (trainee or above for LL-HLS, expert or above for WHEP). */
  token?: string;
  /** Keep-alive connections of the worker's HTTP pool (LL-HLS). */
  connections: number;
  /** Bind WHEP ICE to this address. */
  interfaceAddress?: string;
}

export type ToWorker = { type: 'add'; count: number; overMs: number } | { type: 'stop' };

/** Once a second: what the worker's viewers saw since the previous tick. */
export interface WorkerTick {
  type: 'tick';
  kind: ViewerClass;
  at: number;
  /** Latency samples since the last tick: Unix ms taken, latency ms (parallel arrays). */
  sampleAt: number[];
  sampleLatency: number[];
  /** Errors since the last tick, by kind. */
  errors: Record<string, number>;
  viewers: number;
  /** Viewers that have received at least one part / frame. */
  withMedia: number;
  /** Cumulative over the worker's viewers. */
  media: number;
  bytes: number;
  requests: number;
  /** The worker's event-loop delay over the last tick, ms. */
  loopDelayMs: { p50: number; p99: number; max: number };
}

export type FromWorker = { type: 'ready' } | WorkerTick | { type: 'stopped' };
