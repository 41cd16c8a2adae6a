// Pure text for the dashboard: numbers with units, the alert sentence, and a shape check on what
// /api/status returned (the page renders only what passes it, so a bad body is a poll error).
import type { DeliveryPath, Hop, LatencyAlert, StatusSnapshot, ViewerRole } from './types.js';

export const PATH_LABELS: Record<DeliveryPath, string> = { webrtc: 'WebRTC', llhls: 'LL-HLS' };
export const ROLE_LABELS: Record<ViewerRole, string> = { expert: 'Expert', trainee: 'Trainee', surgeon: 'Surgeon', probe: 'Probe' };
export const HOP_LABELS: Record<Hop, string> = {
  ingest_to_encoded: 'ingest → encoded',
  edge_to_origin: 'edge → origin',
  origin_to_player: 'origin → player',
  end_to_end: 'end-to-end',
};
export const HOPS: readonly Hop[] = ['ingest_to_encoded', 'edge_to_origin', 'origin_to_player', 'end_to_end'];

export const DASH = '—';

export function formatMs(ms: number | null | undefined): string {
  return ms === null || ms === undefined || !Number.isFinite(ms) ? DASH : `${Math.round(ms)} ms`;
}

export function formatMbps(bps: number): string {
  return Number.isFinite(bps) ? `${(bps / 1e6).toFixed(bps < 10e6 ? 2 : 1)} Mbit/s` : DASH;
}

export function formatFps(fps: number): string {
  return Number.isFinite(fps) ? fps.toFixed(fps % 1 === 0 ? 0 : 1) : DASH;
}

export function formatSpeed(speed: number | null): string {
  return speed === null || !Number.isFinite(speed) ? DASH : `${speed.toFixed(2)}×`;
}

export function formatCount(n: number | null): string {
  return n === null || !Number.isFinite(n) ? DASH : String(Math.round(n));
}

/** "3 s ago" from two epoch-ms times on the same (origin) clock. */
export function formatAge(thenMs: number, nowMs: number): string {
  return `${Math.max(0, Math.round((nowMs - thenMs) / 1000))} s ago`;
}

/**
 * "Expert e-7 on or1: WebRTC latency 420 ms for 7 s (> 300 ms)". Built from the alert's fields and
 * the snapshot's clock rather than `message`, so the duration is always that of this snapshot.
 */
export function formatAlert(alert: LatencyAlert, nowMs: number): string {
  const seconds = Math.max(0, Math.round((nowMs - alert.since) / 1000));
  const role = ROLE_LABELS[alert.role] ?? alert.role;
  const path = PATH_LABELS[alert.path] ?? alert.path;
  return `${role} ${alert.viewerId} on ${alert.stream}: ${path} latency ${Math.round(alert.latencyMs)} ms for ${seconds} s (> ${alert.thresholdMs} ms)`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The top-level shape and each stream's containers. Deep enough that drawing cannot throw on a
 * missing array or object; individual numbers are checked where they are drawn.
 */
export function isStatusSnapshot(value: unknown): value is StatusSnapshot {
  if (!isObject(value)) return false;
  if (typeof value.now !== 'number' || typeof value.historySeconds !== 'number' || typeof value.alertThresholdMs !== 'number') return false;
  if (!Array.isArray(value.streams) || !Array.isArray(value.alerts)) return false;
  if (!value.alerts.every((a) => isObject(a) && typeof a.stream === 'string' && typeof a.viewerId === 'string')) return false;
  return value.streams.every((s) =>
    isObject(s) && typeof s.stream === 'string' && isObject(s.viewers) && isObject(s.ingest) && isObject(s.hops)
    && Array.isArray(s.viewerList) && Array.isArray(s.history));
}
