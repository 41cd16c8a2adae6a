import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Every origin metric, on a registry owned by one origin instance (no prom-client globals). */
export class OriginMetrics {
  readonly registry = new Registry();
  readonly ingestFragments = new Counter({
    name: 'scopecast_ingest_fragments_total',
    help: 'CMAF fragments received from edges',
    labelNames: ['stream', 'rendition'] as const,
    registers: [this.registry],
  });
  readonly ingestBytes = new Counter({
    name: 'scopecast_ingest_bytes_total',
    help: 'Media bytes received from edges',
    labelNames: ['stream', 'rendition'] as const,
    registers: [this.registry],
  });
  readonly ingestRejected = new Counter({
    name: 'scopecast_ingest_rejected_total',
    help: 'Ingest requests refused, by error code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  /** Hop "edge ingest -> origin": prft wall clock of the fragment's first frame to its arrival here. */
  readonly fragmentAge = new Histogram({
    name: 'scopecast_hop_delay_seconds',
    help: 'Delay per hop: edge ingest wall clock of a fragment\'s first frame to arrival at the origin',
    labelNames: ['stream', 'hop'] as const,
    buckets: [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2, 5],
    registers: [this.registry],
  });
  readonly hlsRequests = new Counter({
    name: 'scopecast_hls_requests_total',
    help: 'LL-HLS requests by kind and outcome',
    labelNames: ['kind', 'status'] as const,
    registers: [this.registry],
  });
  readonly hlsBlockingWait = new Histogram({
    name: 'scopecast_hls_blocking_wait_seconds',
    help: 'Time blocking playlist and part requests waited',
    labelNames: ['kind'] as const,
    buckets: [0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5],
    registers: [this.registry],
  });
  readonly liveStreams = new Gauge({
    name: 'scopecast_live_streams',
    help: 'Streams currently live at this origin',
    registers: [this.registry],
  });

  /** Forget a stream's label sets once it is gone, so series don't grow without bound. */
  forgetStream(stream: string): void {
    for (const metric of [this.ingestFragments, this.ingestBytes]) metric.remove({ stream, rendition: 'main' });
    for (const hop of ['edge_to_origin', 'edge_to_origin_realtime']) this.fragmentAge.remove({ stream, hop });
  }
}
