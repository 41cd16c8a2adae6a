// Synthetic /api/status snapshots for the dashboard tests and screenshots: deterministic,
// realistic-looking figures (WebRTC ~150-250 ms with a spike, LL-HLS ~1.5-2.5 s).
import type { LatencyAlert, LatencyStats, StatusPoint, StatusSnapshot, StreamStatus, ViewerStatus } from '../../origin/latency/status-types.js';

export const THRESHOLD_MS = 300;

/** Deterministic wobble in [-1, 1]. */
function wobble(i: number, seed: number): number {
  return Math.sin(i * 0.37 + seed) * 0.6 + Math.sin(i * 1.91 + seed * 3) * 0.4;
}

function stats(p50: number, spread: number): LatencyStats {
  return { p50Ms: Math.round(p50), p95Ms: Math.round(p50 * spread), maxMs: Math.round(p50 * spread * 1.2), n: 30 };
}

export interface SyntheticStreamOptions {
  name: string;
  now: number;
  historySeconds?: number;
  seed?: number;
  webrtcMs?: number;
  llhlsMs?: number;
  /** Seconds from the end during which WebRTC latency spikes to ~420 ms. */
  spikeSeconds?: number;
  /** Seconds (from the start) with no reports: the line breaks there. */
  gap?: [from: number, to: number];
  webrtcViewers?: number;
  llhlsViewers?: number;
  live?: boolean;
}

export function syntheticStream(options: SyntheticStreamOptions): StreamStatus {
  const { name, now } = options;
  const seconds = options.historySeconds ?? 120;
  const seed = options.seed ?? 1;
  const webrtcMs = options.webrtcMs ?? 180;
  const llhlsMs = options.llhlsMs ?? 1900;
  const spike = options.spikeSeconds ?? 0;
  const start = Math.floor(now / 1000) * 1000 - (seconds - 1) * 1000;
  const history: StatusPoint[] = [];
  for (let i = 0; i < seconds; i++) {
    const inGap = options.gap !== undefined && i >= options.gap[0] && i < options.gap[1];
    const spiking = i >= seconds - spike;
    const webrtc = spiking ? 410 + wobble(i, seed) * 20 : webrtcMs + wobble(i, seed) * 35;
    history.push({
      t: start + i * 1000,
      webrtc: inGap ? null : stats(webrtc, 1.35),
      llhls: inGap ? null : stats(llhlsMs + wobble(i, seed + 2) * 250, 1.25),
    });
  }
  const webrtcViewers = options.webrtcViewers ?? 2;
  const llhlsViewers = options.llhlsViewers ?? 5;
  const viewerList: ViewerStatus[] = [];
  for (let i = 0; i < webrtcViewers; i++) {
    viewerList.push({ id: `${name}-expert-${i + 1}`, path: 'webrtc', role: 'expert', latencyMs: Math.round((spike > 0 && i === 0 ? 420 : webrtcMs) + i * 12), lastReportAt: now - 400 - i * 300 });
  }
  for (let i = 0; i < llhlsViewers; i++) {
    viewerList.push({ id: `${name}-trainee-${i + 1}`, path: 'llhls', role: 'trainee', latencyMs: Math.round(llhlsMs + i * 37), lastReportAt: now - 900 - i * 200 });
  }
  return {
    stream: name,
    live: options.live ?? true,
    viewers: { webrtc: webrtcViewers, llhls: llhlsViewers },
    ingest: { bitrateBps: 6_200_000 + seed * 150_000, fps: 30, encoderSpeed: 1.01, droppedFrames: 3 * seed },
    hops: { ingest_to_encoded: 48, edge_to_origin: 37 + seed, origin_to_player: webrtcMs - 90, end_to_end: webrtcMs },
    viewerList,
    history,
  };
}

export function syntheticAlert(stream: StreamStatus, now: number, forMs = 7000): LatencyAlert {
  const viewer = stream.viewerList.find((v) => v.path === 'webrtc');
  if (!viewer) throw new Error(`${stream.stream} has no WebRTC viewer to alert on`);
  return {
    stream: stream.stream,
    viewerId: viewer.id,
    role: viewer.role,
    path: 'webrtc',
    since: now - forMs,
    latencyMs: 420,
    thresholdMs: THRESHOLD_MS,
    message: `WebRTC latency above ${THRESHOLD_MS} ms`,
  };
}

export function syntheticSnapshot(now: number, streams: StreamStatus[], alerts: LatencyAlert[] = []): StatusSnapshot {
  return { now, historySeconds: 120, alertThresholdMs: THRESHOLD_MS, alertAfterMs: 5000, streams, alerts };
}
