import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LatencyBook } from './latency/latency-book.js';

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
  readonly authDecisions = new Counter({
    name: 'scopecast_auth_decisions_total',
    help: 'Token checks by outcome and reason (missing, expired, role, stream, revoked, ...)',
    labelNames: ['outcome', 'reason'] as const,
    registers: [this.registry],
  });
  /**
   * The timing contract's histogram: viewers' reported latency (hop end_to_end), and where it is
   * spent: ingest_to_encoded (edge), edge_to_origin (uplink), origin_to_player (delivery + decode).
   */
  readonly latency = new Histogram({
    name: 'scopecast_latency_seconds',
    help: 'Latency per stream, delivery path and hop (edge ingest wall clock on the origin clock to the event)',
    labelNames: ['stream', 'path', 'hop'] as const,
    buckets: [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
    registers: [this.registry],
  });
  readonly hlsStalledReaders = new Counter({
    name: 'scopecast_hls_stalled_readers_total',
    help: 'LL-HLS connections closed because a response could not be sent within hls.stalledReaderTimeoutMs (the viewer stopped reading)',
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
  /** Recording writes, deletes and sweeps that failed; the origin logs them and carries on. */
  readonly recordingErrors = new Counter({
    name: 'scopecast_recording_errors_total',
    help: 'Recording disk operations that failed, by operation',
    labelNames: ['op'] as const,
    registers: [this.registry],
  });
  readonly liveStreams = new Gauge({
    name: 'scopecast_live_streams',
    help: 'Streams currently live at this origin',
    registers: [this.registry],
  });

  #book: LatencyBook | null = null;
  // Read from the latency book at scrape time (collect), so they are never stale.
  readonly viewers = this.#bookGauge('scopecast_viewers', 'Viewers reporting latency in the last 10 s, per delivery path', ['stream', 'path'], (book, gauge) => {
    for (const stream of book.streams) {
      const counts = book.viewerCounts(stream);
      gauge.set({ stream, path: 'webrtc' }, counts.webrtc);
      gauge.set({ stream, path: 'llhls' }, counts.llhls);
    }
  });
  readonly ingestBitrate = this.#bookGauge('scopecast_ingest_bitrate_bps', 'Media bits per second arriving from the edge (LL-HLS feed, last 5 s)', ['stream'], (book, gauge) => {
    for (const s of book.ingestStatus()) gauge.set({ stream: s.stream }, s.ingest.bitrateBps);
  });
  readonly ingestFps = this.#bookGauge('scopecast_ingest_fps', 'Video frames per second arriving from the edge (last 5 s)', ['stream'], (book, gauge) => {
    for (const s of book.ingestStatus()) gauge.set({ stream: s.stream }, s.ingest.fps);
  });
  readonly encoderSpeed = this.#bookGauge('scopecast_encoder_speed', "The edge encoder's speed (1 = real time), as the edge reports it", ['stream'], (book, gauge) => {
    for (const s of book.ingestStatus()) if (s.ingest.encoderSpeed !== null) gauge.set({ stream: s.stream }, s.ingest.encoderSpeed);
  });
  readonly encoderDropped = this.#bookGauge('scopecast_encoder_dropped_frames', 'Frames the edge encoder dropped or duplicated since it started', ['stream'], (book, gauge) => {
    for (const s of book.ingestStatus()) if (s.ingest.droppedFrames !== null) gauge.set({ stream: s.stream }, s.ingest.droppedFrames);
  });
  readonly latencyAlerts = this.#bookGauge('scopecast_latency_alerts', 'Experts on WebRTC above the latency threshold for longer than the alert time', ['stream'], (book, gauge) => {
    const counts = new Map<string, number>(book.streams.map((s) => [s, 0]));
    for (const a of book.alerts()) counts.set(a.stream, (counts.get(a.stream) ?? 0) + 1);
    for (const [stream, n] of counts) gauge.set({ stream }, n);
  });

  /** The book the gauges read. */
  useLatencyBook(book: LatencyBook): void {
    this.#book = book;
  }

  /** Forget a stream's label sets once it is gone, so series don't grow without bound. */
  forgetStream(stream: string): void {
    for (const metric of [this.ingestFragments, this.ingestBytes]) metric.remove({ stream, rendition: 'main' });
    for (const path of ['webrtc', 'llhls']) {
      for (const hop of ['ingest_to_encoded', 'edge_to_origin', 'origin_to_player', 'end_to_end']) this.latency.remove({ stream, path, hop });
    }
  }

  #bookGauge<L extends string>(name: string, help: string, labelNames: readonly L[], fill: (book: LatencyBook, gauge: Gauge<L>) => void): Gauge<L> {
    const metrics = this;
    return new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset(); // streams that are gone disappear from the scrape
        if (metrics.#book) fill(metrics.#book, this);
      },
    });
  }
}
