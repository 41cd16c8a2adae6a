// The latency chart as geometry: history in, SVG path data and tick positions out. Pure, so it is
// tested without a browser; chart-view.ts only turns it into elements.
//
// The y axis is logarithmic: WebRTC sits around 100-400 ms and LL-HLS around 1-3 s, and on a linear
// axis tall enough for LL-HLS the 300 ms alert line and WebRTC's wobble around it would be flat.
import type { DeliveryPath, StatusPoint } from './types.js';

export type Stat = 'p50' | 'p95';

export interface ChartInput {
  history: readonly StatusPoint[];
  /** Right edge of the chart, epoch ms (the snapshot's `now`). */
  now: number;
  historySeconds: number;
  thresholdMs: number;
  /** Drawing size in CSS pixels. */
  width: number;
  height: number;
}

export interface ChartSeries {
  path: DeliveryPath;
  stat: Stat;
  /** SVG path data; '' when the series has no points. Breaks where seconds are missing. */
  d: string;
  /** The newest value in the window, ms; null when there is none. */
  last: number | null;
}

export interface Tick {
  /** Position along the axis, px. */
  at: number;
  label: string;
}

export interface ChartModel {
  plot: { left: number; top: number; right: number; bottom: number };
  series: ChartSeries[];
  threshold: { y: number; label: string };
  yTicks: Tick[];
  xTicks: Tick[];
}

export const CHART_PADDING = { left: 52, right: 14, top: 10, bottom: 22 } as const;
export const SERIES: ReadonlyArray<{ path: DeliveryPath; stat: Stat }> = [
  { path: 'llhls', stat: 'p95' },
  { path: 'llhls', stat: 'p50' },
  { path: 'webrtc', stat: 'p95' },
  { path: 'webrtc', stat: 'p50' },
];

const NICE = [1, 2, 5] as const;
const X_STEPS_S = [5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600] as const;
/** A gap longer than this between two points breaks the line (a missing second). */
const MAX_GAP_MS = 1500;

/** 1, 2, 5, 10, 20, 50, ... from below `lo` to above `hi` (ms). */
function niceSteps(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let exp = Math.floor(Math.log10(lo)) - 1; exp <= Math.ceil(Math.log10(hi)) + 1; exp++) {
    for (const m of NICE) out.push(m * 10 ** exp);
  }
  const below = out.filter((v) => v <= lo);
  const above = out.filter((v) => v >= hi);
  const min = below[below.length - 1] ?? out[0] ?? 1;
  const max = above[0] ?? out[out.length - 1] ?? 10_000;
  return out.filter((v) => v >= min && v <= max);
}

export function formatTickMs(ms: number): string {
  return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

export function buildChart(input: ChartInput): ChartModel {
  const { history, now, thresholdMs } = input;
  const spanMs = Math.max(1, input.historySeconds) * 1000;
  const start = now - spanMs;
  const plot = {
    left: CHART_PADDING.left,
    top: CHART_PADDING.top,
    right: Math.max(CHART_PADDING.left + 1, input.width - CHART_PADDING.right),
    bottom: Math.max(CHART_PADDING.top + 1, input.height - CHART_PADDING.bottom),
  };
  const points = history.filter((p) => Number.isFinite(p.t) && p.t >= start - 1000 && p.t <= now);

  // The y range covers every value in the window and always shows the alert line with room around it.
  const values: number[] = [thresholdMs / 2, thresholdMs * 2];
  for (const p of points) {
    for (const path of ['webrtc', 'llhls'] as const) {
      const stats = p[path];
      if (stats) values.push(stats.p50Ms, stats.p95Ms);
    }
  }
  const positive = values.filter((v) => Number.isFinite(v) && v > 0);
  const steps = niceSteps(Math.max(1, Math.min(...positive)), Math.max(...positive));
  const yMin = steps[0] ?? 1;
  const yMax = steps[steps.length - 1] ?? 10_000;
  const logMin = Math.log10(yMin);
  const logSpan = Math.log10(yMax) - logMin || 1;
  const y = (ms: number): number => {
    const clamped = Math.min(yMax, Math.max(yMin, ms));
    return round1(plot.bottom - ((Math.log10(clamped) - logMin) / logSpan) * (plot.bottom - plot.top));
  };
  const x = (t: number): number => round1(plot.left + ((t - start) / spanMs) * (plot.right - plot.left));

  // Few enough labels to stay legible: only powers of ten when 1-2-5 would crowd the axis.
  const crowded = steps.length > Math.max(3, Math.floor((plot.bottom - plot.top) / 22));
  const yTicks = steps.filter((v) => !crowded || Number.isInteger(Math.log10(v))).map((v) => ({ at: y(v), label: formatTickMs(v) }));

  const stepS = X_STEPS_S.find((s) => spanMs / 1000 / s <= 6) ?? 3600;
  const xTicks: Tick[] = [];
  for (let back = 0; back * 1000 <= spanMs; back += stepS) {
    xTicks.push({ at: x(now - back * 1000), label: back === 0 ? 'now' : `−${back} s` });
  }

  const series = SERIES.map(({ path, stat }): ChartSeries => {
    let d = '';
    let runLength = 0;
    let previousT = Number.NEGATIVE_INFINITY;
    let last: number | null = null;
    const key = stat === 'p50' ? 'p50Ms' : 'p95Ms';
    for (const p of points) {
      const value = p[path]?.[key];
      if (value === undefined || !Number.isFinite(value)) {
        if (runLength === 1) d += 'h0.01';
        runLength = 0;
        continue;
      }
      const joined = runLength > 0 && p.t - previousT <= MAX_GAP_MS;
      if (!joined && runLength === 1) d += 'h0.01';
      d += `${joined ? 'L' : 'M'}${x(p.t)} ${y(value)}`;
      runLength = joined ? runLength + 1 : 1;
      previousT = p.t;
      last = value;
    }
    // A lone point is drawn as a dot (round caps on a zero-length segment).
    if (runLength === 1) d += 'h0.01';
    return { path, stat, d, last };
  });

  return { plot, series, threshold: { y: y(thresholdMs), label: `${thresholdMs} ms` }, yTicks, xTicks };
}
