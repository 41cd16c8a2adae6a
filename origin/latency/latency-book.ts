// Everything the origin knows about delay, per stream: viewers' latency reports (per viewer and
// per second), the delay of each hop, what arrives from the edge and what its encoder says, and
// the expert alert. Pure bookkeeping on an injected clock; the WebSocket and ingest plugins feed
// it, /api/status and /metrics read it.
import type { DeliveryPath, Hop, LatencyAlert, LatencyStats, StatusPoint, StatusSnapshot, StreamStatus, ViewerRole, ViewerStatus } from './status-types.js';

export interface LatencyBookOptions {
  historySeconds?: number;
  /** An expert on WebRTC above this, ms ... */
  alertThresholdMs?: number;
  /** ... without a break for this long, ms, raises an alert. */
  alertAfterMs?: number;
  /** A viewer with no report for this long is not counted, ms. */
  viewerTimeoutMs?: number;
  now?: () => number;
  /** Called with each report and hop sample (the metrics plugin observes histograms). */
  onSample?: (stream: string, path: DeliveryPath, hop: Hop, ms: number) => void;
  /** Called when an alert starts or ends (logged for the hospital's IT). */
  onAlert?: (alert: LatencyAlert, active: boolean) => void;
}

export interface EncoderReport {
  speed: number | null;
  fps: number;
  droppedFrames: number;
  duplicatedFrames: number;
  encodeMs: { llhls: number | null; webrtc: number | null };
}

interface Viewer {
  id: string;
  role: ViewerRole;
  path: DeliveryPath | null;
  latencyMs: number | null;
  lastReportAt: number;
  /** Since when an expert on WebRTC has been above the threshold. */
  aboveSince: number | null;
  alerted: boolean;
}

/** Recent (time, value) pairs, kept for a window. */
class Window {
  readonly #spanMs: number;
  readonly #items: Array<[number, number]> = [];

  constructor(spanMs: number) {
    this.#spanMs = spanMs;
  }

  add(at: number, value: number): void {
    this.#items.push([at, value]);
    this.#trim(at);
    if (this.#items.length > 10_000) this.#items.shift(); // bounded, whatever the rate
  }

  values(now: number): number[] {
    this.#trim(now);
    return this.#items.map(([, v]) => v);
  }

  #trim(now: number): void {
    while (this.#items.length > 0 && this.#items[0]![0] < now - this.#spanMs) this.#items.shift();
  }
}

interface StreamBook {
  viewers: Map<string, Viewer>;
  /** Second (epoch ms, floored) -> reports in it, per path. */
  seconds: Map<number, { webrtc: number[]; llhls: number[] }>;
  hops: Record<Hop, Window>;
  /** Ingest -> arrival at the origin per feed: origin_to_player is a report minus this. */
  arrival: Record<DeliveryPath, Window>;
  bytes: Window;
  frames: Window;
  encoder: EncoderReport | null;
}

const HOP_WINDOW_MS = 10_000;
const RATE_WINDOW_MS = 5_000;
const HOPS: readonly Hop[] = ['ingest_to_encoded', 'edge_to_origin', 'origin_to_player', 'end_to_end'];

export class LatencyBook {
  readonly #options: Required<Omit<LatencyBookOptions, 'onSample' | 'onAlert'>> & Pick<LatencyBookOptions, 'onSample' | 'onAlert'>;
  readonly #streams = new Map<string, StreamBook>();
  readonly #live = new Set<string>();

  constructor(options: LatencyBookOptions = {}) {
    this.#options = {
      historySeconds: 300,
      alertThresholdMs: 300,
      alertAfterMs: 5000,
      viewerTimeoutMs: 10_000,
      now: () => Date.now(),
      ...options,
    };
  }

  /** The registry's view: which streams are live (a stream with viewers but no media is not). */
  setLive(stream: string, live: boolean): void {
    if (live) {
      this.#live.add(stream);
      this.#book(stream);
    } else {
      this.#live.delete(stream);
    }
  }

  /** Forget a stream entirely (removed from the registry, nobody connected). */
  forget(stream: string): void {
    const book = this.#streams.get(stream);
    if (book && book.viewers.size > 0) return;
    this.#streams.delete(stream);
    this.#live.delete(stream);
  }

  viewerJoined(stream: string, id: string, role: ViewerRole): void {
    this.#book(stream).viewers.set(id, { id, role, path: null, latencyMs: null, lastReportAt: 0, aboveSince: null, alerted: false });
  }

  viewerRole(stream: string, id: string, role: ViewerRole): void {
    const viewer = this.#streams.get(stream)?.viewers.get(id);
    if (viewer) viewer.role = role;
  }

  viewerLeft(stream: string, id: string): void {
    const book = this.#streams.get(stream);
    const viewer = book?.viewers.get(id);
    if (!book || !viewer) return;
    if (viewer.alerted) this.#endAlert(stream, viewer);
    book.viewers.delete(id);
    if (!this.#live.has(stream) && book.viewers.size === 0) this.#streams.delete(stream);
  }

  /** A viewer's latency report: origin-synced now minus the ingest clock of the frame on screen. */
  report(stream: string, id: string, path: DeliveryPath, latencyMs: number): void {
    const book = this.#streams.get(stream);
    const viewer = book?.viewers.get(id);
    if (!book || !viewer) return;
    const now = this.#options.now();
    viewer.path = path;
    viewer.latencyMs = latencyMs;
    viewer.lastReportAt = now;
    const second = Math.floor(now / 1000) * 1000;
    let bucket = book.seconds.get(second);
    if (!bucket) {
      bucket = { webrtc: [], llhls: [] };
      book.seconds.set(second, bucket);
      this.#trimSeconds(book, now);
    }
    if (bucket[path].length < 10_000) bucket[path].push(latencyMs);
    this.#sample(stream, book, path, 'end_to_end', latencyMs, now);
    const arrival = median(book.arrival[path].values(now));
    if (arrival !== null) this.#sample(stream, book, path, 'origin_to_player', Math.max(0, latencyMs - arrival), now);
    this.#checkAlert(stream, viewer, now);
  }

  /**
   * A fragment (part or realtime frame) arrived from the edge at arrivedAt; ingestMs is its first
   * frame's edge ingest clock, already on the origin clock.
   */
  ingest(stream: string, path: DeliveryPath, bytes: number, frames: number, ingestMs: number | undefined, arrivedAt: number): void {
    const book = this.#streams.get(stream);
    if (!book) return;
    const now = arrivedAt;
    // Both feeds carry the same pictures: rates come from one of them (LL-HLS parts: audio too).
    if (path === 'llhls') {
      book.bytes.add(now, bytes);
      book.frames.add(now, frames);
    }
    if (ingestMs === undefined) return;
    const sinceIngest = now - ingestMs;
    book.arrival[path].add(now, sinceIngest);
    // Without the edge's encoder report (no WebSocket link), encoding is counted in this hop.
    const encode = book.encoder?.encodeMs[path] ?? 0;
    this.#sample(stream, book, path, 'edge_to_origin', Math.max(0, sinceIngest - encode), now);
  }

  /** The edge's encoder report (once a second). */
  encoder(stream: string, report: EncoderReport): void {
    const book = this.#streams.get(stream);
    if (!book) return;
    book.encoder = report;
    const now = this.#options.now();
    for (const path of ['llhls', 'webrtc'] as const) {
      const ms = report.encodeMs[path];
      if (ms !== null) this.#sample(stream, book, path, 'ingest_to_encoded', ms, now);
    }
  }

  alerts(): LatencyAlert[] {
    const now = this.#options.now();
    const out: LatencyAlert[] = [];
    for (const [stream, book] of this.#streams) {
      for (const viewer of book.viewers.values()) {
        this.#checkAlert(stream, viewer, now);
        if (viewer.alerted) out.push(this.#alert(stream, viewer));
      }
    }
    return out;
  }

  snapshot(): StatusSnapshot {
    const now = this.#options.now();
    const alerts = this.alerts();
    const streams = [...this.#streams.keys()].sort().map((name) => this.#streamStatus(name, this.#streams.get(name)!, now));
    return {
      now,
      historySeconds: this.#options.historySeconds,
      alertThresholdMs: this.#options.alertThresholdMs,
      alertAfterMs: this.#options.alertAfterMs,
      streams,
      alerts,
    };
  }

  /** Viewers per path that reported recently, for the gauges. */
  viewerCounts(stream: string): { webrtc: number; llhls: number } {
    const book = this.#streams.get(stream);
    const counts = { webrtc: 0, llhls: 0 };
    if (!book) return counts;
    const now = this.#options.now();
    for (const v of book.viewers.values()) if (v.path && now - v.lastReportAt <= this.#options.viewerTimeoutMs) counts[v.path] += 1;
    return counts;
  }

  get streams(): string[] {
    return [...this.#streams.keys()];
  }

  /** Each stream's ingest figures alone (the gauges' read: no history, no hop medians). */
  ingestStatus(): Array<{ stream: string; ingest: StreamStatus['ingest'] }> {
    const now = this.#options.now();
    return [...this.#streams].map(([stream, book]) => ({ stream, ingest: this.#ingest(book, now) }));
  }

  #ingest(book: StreamBook, now: number): StreamStatus['ingest'] {
    const rateSeconds = RATE_WINDOW_MS / 1000;
    const e = book.encoder;
    return {
      bitrateBps: (sum(book.bytes.values(now)) * 8) / rateSeconds,
      fps: sum(book.frames.values(now)) / rateSeconds,
      encoderSpeed: e?.speed ?? null,
      droppedFrames: e ? e.droppedFrames + e.duplicatedFrames : null,
    };
  }

  #streamStatus(stream: string, book: StreamBook, now: number): StreamStatus {
    const hops = Object.fromEntries(HOPS.map((hop) => [hop, median(book.hops[hop].values(now))])) as Record<Hop, number | null>;
    const viewerList: ViewerStatus[] = [];
    for (const v of book.viewers.values()) {
      if (v.path && v.latencyMs !== null && now - v.lastReportAt <= this.#options.viewerTimeoutMs) {
        viewerList.push({ id: v.id, path: v.path, role: v.role, latencyMs: v.latencyMs, lastReportAt: v.lastReportAt });
      }
    }
    return {
      stream,
      live: this.#live.has(stream),
      viewers: this.viewerCounts(stream),
      ingest: this.#ingest(book, now),
      hops,
      viewerList,
      history: this.#history(book, now),
    };
  }

  #history(book: StreamBook, now: number): StatusPoint[] {
    this.#trimSeconds(book, now);
    return [...book.seconds.entries()]
      .sort(([a], [b]) => a - b)
      .map(([t, b]) => ({ t, webrtc: stats(b.webrtc), llhls: stats(b.llhls) }));
  }

  #trimSeconds(book: StreamBook, now: number): void {
    const oldest = now - this.#options.historySeconds * 1000;
    for (const t of book.seconds.keys()) if (t < oldest) book.seconds.delete(t);
  }

  #sample(stream: string, book: StreamBook, path: DeliveryPath, hop: Hop, ms: number, now: number): void {
    book.hops[hop].add(now, ms);
    this.#options.onSample?.(stream, path, hop, ms);
  }

  #checkAlert(stream: string, viewer: Viewer, now: number): void {
    const { alertThresholdMs, alertAfterMs, viewerTimeoutMs } = this.#options;
    const watched = viewer.role === 'expert' && viewer.path === 'webrtc' && now - viewer.lastReportAt <= viewerTimeoutMs;
    const above = watched && viewer.latencyMs !== null && viewer.latencyMs > alertThresholdMs;
    if (!above) {
      viewer.aboveSince = null;
      if (viewer.alerted) this.#endAlert(stream, viewer);
      return;
    }
    viewer.aboveSince ??= viewer.lastReportAt;
    if (!viewer.alerted && now - viewer.aboveSince >= alertAfterMs) {
      viewer.alerted = true;
      this.#options.onAlert?.(this.#alert(stream, viewer), true);
    }
  }

  #endAlert(stream: string, viewer: Viewer): void {
    viewer.alerted = false;
    this.#options.onAlert?.(this.#alert(stream, viewer), false);
  }

  #alert(stream: string, viewer: Viewer): LatencyAlert {
    const since = viewer.aboveSince ?? viewer.lastReportAt;
    const latencyMs = viewer.latencyMs ?? 0;
    const seconds = Math.round((this.#options.now() - since) / 1000);
    return {
      stream,
      viewerId: viewer.id,
      role: viewer.role,
      path: viewer.path ?? 'webrtc',
      since,
      latencyMs,
      thresholdMs: this.#options.alertThresholdMs,
      message: `Expert ${viewer.id.slice(0, 8)} on ${stream}: WebRTC latency ${Math.round(latencyMs)} ms for ${seconds} s (> ${this.#options.alertThresholdMs} ms)`,
    };
  }

  #book(stream: string): StreamBook {
    let book = this.#streams.get(stream);
    if (!book) {
      book = {
        viewers: new Map(),
        seconds: new Map(),
        hops: Object.fromEntries(HOPS.map((h) => [h, new Window(HOP_WINDOW_MS)])) as Record<Hop, Window>,
        arrival: { webrtc: new Window(HOP_WINDOW_MS), llhls: new Window(HOP_WINDOW_MS) },
        bytes: new Window(RATE_WINDOW_MS),
        frames: new Window(RATE_WINDOW_MS),
        encoder: null,
      };
      this.#streams.set(stream, book);
    }
    return book;
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

function stats(values: readonly number[]): LatencyStats | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50Ms: at(0.5), p95Ms: at(0.95), maxMs: sorted.at(-1)!, n: sorted.length };
}
