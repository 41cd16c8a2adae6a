import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Every edge metric, on a registry owned by one edge instance. */
export class EdgeMetrics {
  readonly registry = new Registry();
  readonly publishes = new Counter({
    name: 'scopecast_edge_publishes_total',
    help: 'Console publishes: accepted, refused (bad name, busy), unlisted (not in consoles.streams: PHI masking fails closed)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly authDecisions = new Counter({
    name: 'scopecast_auth_decisions_total',
    help: 'Token checks by outcome and reason (missing, expired, role, stream, revoked, ...)',
    labelNames: ['outcome', 'reason'] as const,
    registers: [this.registry],
  });
  readonly rtmpConnections = new Gauge({
    name: 'scopecast_edge_rtmp_connections',
    help: 'Open RTMP/RTMPS connections (publishing, playing, or still in the handshake)',
    registers: [this.registry],
  });
  readonly rtmpDropped = new Counter({
    name: 'scopecast_edge_rtmp_dropped_total',
    help: 'RTMP connections refused or closed by the listener limits: over_limit, handshake_timeout, idle_timeout, protocol, parser_error, slow_reader',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly ffmpegRestarts = new Counter({
    name: 'scopecast_edge_ffmpeg_restarts_total',
    help: 'Encoder processes that died and were restarted',
    labelNames: ['stream'] as const,
    registers: [this.registry],
  });
  readonly fragments = new Counter({
    name: 'scopecast_edge_fragments_total',
    help: 'CMAF fragments produced by the encoder',
    labelNames: ['stream'] as const,
    registers: [this.registry],
  });
  /** Hop "ingest -> encoded": encoder-input wall clock of a fragment's first frame to the fragment leaving ffmpeg. */
  readonly encodeDelay = new Histogram({
    name: 'scopecast_edge_hop_delay_seconds',
    help: 'Delay per hop at the edge: ingest->encoded (fragment complete), ingest->origin (acknowledged)',
    labelNames: ['stream', 'hop'] as const,
    buckets: [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2, 5],
    registers: [this.registry],
  });
  readonly uplinkQueueBytes = new Gauge({
    name: 'scopecast_edge_uplink_queue_bytes',
    help: 'Media bytes waiting for the uplink',
    labelNames: ['stream'] as const,
    registers: [this.registry],
  });
  readonly uplinkFailures = new Counter({
    name: 'scopecast_edge_uplink_failures_total',
    help: 'Uplink requests that failed (retried)',
    labelNames: ['stream'] as const,
    registers: [this.registry],
  });
  readonly uplinkDropped = new Counter({
    name: 'scopecast_edge_uplink_dropped_fragments_total',
    help: 'Fragments dropped because the uplink queue was full',
    labelNames: ['stream'] as const,
    registers: [this.registry],
  });

  forgetStream(stream: string): void {
    for (const m of [this.ffmpegRestarts, this.fragments, this.uplinkQueueBytes, this.uplinkFailures, this.uplinkDropped]) m.remove({ stream });
    for (const hop of ['ingest_to_encoded', 'ingest_to_origin']) this.encodeDelay.remove({ stream, hop });
  }
}
