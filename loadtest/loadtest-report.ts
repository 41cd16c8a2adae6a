// Pure reporting for the load test (loadtest-run.ts): phase statistics, the target verdict, Markdown
// tables for stdout / BENCHMARKS.md, and a self-contained HTML page with inline SVG charts in the
// style of bench-report.ts (no scripts, fonts or anything fetched from elsewhere).
import type { ProcPoint, SystemPoint } from './loadtest-proc.js';
import type { ViewerClass } from './loadtest-protocol.js';
import { quantile } from './stats.js';

/** DESIGN.md: 500 LL-HLS + 20 WHEP viewers on one origin, p95 latency rise <= 300 ms over 1 viewer. */
export const RISE_TARGET_MS = 300;

export type PhaseName = 'baseline' | 'ramp' | 'load';
export const PHASES: readonly PhaseName[] = ['baseline', 'ramp', 'load'];

/** Unix ms bounds of the phases; the measured windows are baseline and load. */
export interface PhaseBounds {
  baseline: [from: number, to: number];
  ramp: [from: number, to: number];
  load: [from: number, to: number];
}

export interface Percentiles {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function percentiles(values: readonly number[]): Percentiles {
  const sorted = Float64Array.from(values).sort();
  const arr = Array.from(sorted);
  return { n: arr.length, p50: quantile(arr, 0.5), p95: quantile(arr, 0.95), p99: quantile(arr, 0.99), max: arr.at(-1) ?? Number.NaN };
}

export function phaseOf(at: number, phases: PhaseBounds): PhaseName | null {
  for (const name of PHASES) {
    const [from, to] = phases[name];
    if (at >= from && at < to) return name;
  }
  return null;
}

/** Samples of one class in one phase window. */
export function inPhase(samples: readonly (readonly [number, number])[], [from, to]: readonly [number, number]): number[] {
  const out: number[] = [];
  for (const [at, l] of samples) if (at >= from && at < to) out.push(l);
  return out;
}

export interface ClassResult {
  kind: ViewerClass;
  label: string;
  requested: number;
  /** Viewers started / that received media, at the end. */
  joined: number;
  withMedia: number;
  baseline: Percentiles;
  load: Percentiles;
  /** load p95 - baseline p95, ms. */
  riseP95Ms: number;
  verdict: 'PASS' | 'FAIL' | 'NO DATA';
}

export function classResult(input: { kind: ViewerClass; label: string; requested: number; joined: number; withMedia: number; samples: readonly (readonly [number, number])[]; phases: PhaseBounds }): ClassResult {
  const baseline = percentiles(inPhase(input.samples, input.phases.baseline));
  const load = percentiles(inPhase(input.samples, input.phases.load));
  const riseP95Ms = load.p95 - baseline.p95;
  const verdict = baseline.n === 0 || load.n === 0 ? 'NO DATA' : riseP95Ms <= RISE_TARGET_MS ? 'PASS' : 'FAIL';
  return { kind: input.kind, label: input.label, requested: input.requested, joined: input.joined, withMedia: input.withMedia, baseline, load, riseP95Ms, verdict };
}

export interface ProcSummary {
  name: string;
  baseline: { cpuMeanPct: number; rssMeanMb: number; waitMeanPct: number };
  load: { cpuMeanPct: number; cpuMaxPct: number; rssMeanMb: number; rssMaxMb: number; waitMeanPct: number };
}

const mean = (values: readonly number[]): number => {
  const v = values.filter((x) => Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN;
};
const maxOf = (v: readonly number[]): number => (v.length ? Math.max(...v) : Number.NaN);

export function procSummary(name: string, points: readonly ProcPoint[], phases: PhaseBounds): ProcSummary {
  const pick = ([from, to]: readonly [number, number]): ProcPoint[] => points.filter((p) => p.at > from && p.at <= to);
  const b = pick(phases.baseline);
  const l = pick(phases.load);
  return {
    name,
    baseline: { cpuMeanPct: mean(b.map((p) => p.cpuPct)), rssMeanMb: mean(b.map((p) => p.rssMb)), waitMeanPct: mean(b.map((p) => p.waitPct)) },
    load: {
      cpuMeanPct: mean(l.map((p) => p.cpuPct)),
      cpuMaxPct: maxOf(l.map((p) => p.cpuPct)),
      rssMeanMb: mean(l.map((p) => p.rssMb)),
      rssMaxMb: maxOf(l.map((p) => p.rssMb)),
      waitMeanPct: mean(l.map((p) => p.waitPct)),
    },
  };
}

export function systemSummary(points: readonly SystemPoint[], phases: PhaseBounds): { baselinePct: number; loadPct: number } {
  const pick = ([from, to]: readonly [number, number]): number[] => points.filter((p) => p.at > from && p.at <= to).map((p) => p.busyPct);
  return { baselinePct: mean(pick(phases.baseline)), loadPct: mean(pick(phases.load)) };
}

/** Errors by kind, counted per phase (before the baseline counts as baseline, after load as load). */
export type ErrorTable = Record<string, Record<PhaseName, number>>;

export function addErrors(table: ErrorTable, at: number, errors: Record<string, number>, phases: PhaseBounds): void {
  const phase = phaseOf(at, phases) ?? (at < phases.baseline[0] ? 'baseline' : at < phases.load[0] ? 'ramp' : 'load');
  for (const [kind, n] of Object.entries(errors)) {
    const row = (table[kind] ??= { baseline: 0, ramp: 0, load: 0 });
    row[phase] += n;
  }
}

/** What some error kinds mean, printed under the table. */
export const ERROR_NOTES: Record<string, string> = {
  'hls:stall': `an LL-HLS viewer got no new part for ${2} s while following the live edge`,
  'hls:lost-place': 'the part an LL-HLS viewer had last fetched was no longer listed (it fell out of the window); it resynced',
  'whep:broken-frame': 'a WHEP frame could not be reassembled within 150 ms (an RTP packet lost or late)',
  'whep:stall': 'a WHEP viewer got no frame for 2 s',
};

// --- text ------------------------------------------------------------------------------------

export const fmtMs = (n: number): string => (Number.isFinite(n) ? `${Math.round(n)} ms` : '—');
export const fmtPct = (n: number): string => (Number.isFinite(n) ? `${Math.round(n)}%` : '—');
export const fmtMb = (n: number): string => (Number.isFinite(n) ? `${Math.round(n)} MB` : '—');
const signed = (n: number): string => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${Math.round(n)} ms` : '—');

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function latencyTable(classes: readonly ClassResult[]): { header: string[]; rows: string[][] } {
  const header = ['viewers', 'phase', 'samples', 'p50', 'p95', 'p99', 'max', 'p95 rise', `target (rise <= ${RISE_TARGET_MS} ms)`];
  const rows: string[][] = [];
  for (const c of classes) {
    rows.push([`${c.label}: 1`, 'baseline', String(c.baseline.n), fmtMs(c.baseline.p50), fmtMs(c.baseline.p95), fmtMs(c.baseline.p99), fmtMs(c.baseline.max), '', '']);
    rows.push([`${c.label}: ${c.requested} (${c.withMedia} got media)`, 'load', String(c.load.n), fmtMs(c.load.p50), fmtMs(c.load.p95), fmtMs(c.load.p99), fmtMs(c.load.max), signed(c.riseP95Ms), `**${c.verdict}**`]);
  }
  return { header, rows };
}

export function procTable(procs: readonly ProcSummary[]): { header: string[]; rows: string[][] } {
  const header = ['process', 'CPU baseline', 'CPU load (mean)', 'CPU load (max)', 'waiting for a CPU baseline', 'waiting for a CPU load', 'RSS baseline', 'RSS load (mean)', 'RSS load (max)'];
  const rows = procs.map((p) => [
    p.name,
    fmtPct(p.baseline.cpuMeanPct),
    fmtPct(p.load.cpuMeanPct),
    fmtPct(p.load.cpuMaxPct),
    fmtPct(p.baseline.waitMeanPct),
    fmtPct(p.load.waitMeanPct),
    fmtMb(p.baseline.rssMeanMb),
    fmtMb(p.load.rssMeanMb),
    fmtMb(p.load.rssMaxMb),
  ]);
  return { header, rows };
}

export function errorRows(table: ErrorTable): { header: string[]; rows: string[][] } {
  const kinds = Object.keys(table).sort();
  return { header: ['error kind', 'baseline', 'ramp', 'load'], rows: kinds.map((k) => [k, String(table[k]!.baseline), String(table[k]!.ramp), String(table[k]!.load)]) };
}

// --- charts ----------------------------------------------------------------------------------

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf', '#7f7f7f'] as const;

export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export interface ChartSeries {
  label: string;
  /** [x, y] */
  points: ReadonlyArray<readonly [number, number]>;
  dashed?: boolean;
}

export interface ChartBand {
  from: number;
  to: number;
  label: string;
}

export interface ChartInput {
  series: readonly ChartSeries[];
  xLabel: string;
  yLabel: string;
  /** Formats a y tick. */
  yUnit: (v: number) => string;
  /** Log scale (latency) instead of linear from 0. */
  log?: boolean;
  bands?: readonly ChartBand[];
  /** x tick suffix, e.g. " s". */
  xUnit?: string;
  height?: number;
}

const niceStep = (range: number, ticks: number): number => {
  const raw = range / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  return ([1, 2, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
};

/** A line chart: one polyline per series, shaded bands (phases), legend on a white box. */
export function lineChartSvg(input: ChartInput): string {
  const W = 960;
  const H = input.height ?? 360;
  const m = { left: 72, right: 16, top: 16, bottom: 44 };
  const all = input.series.flatMap((s) => s.points);
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y).filter((y) => Number.isFinite(y));
  const xMin = Math.min(0, ...xs);
  const xMax = Math.max(xMin + 1, ...xs);
  let yMin: number;
  let yMax: number;
  let yTicks: number[];
  if (input.log) {
    const steps = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000];
    const positive = ys.filter((y) => y > 0);
    yMin = [...steps].reverse().find((s) => s <= Math.min(...positive, 100)) ?? 10;
    yMax = steps.find((s) => s >= Math.max(...positive, 200)) ?? 50000;
    yTicks = steps.filter((s) => s >= yMin && s <= yMax);
  } else {
    yMin = 0;
    const top = Math.max(1, ...ys);
    const step = niceStep(top, 5);
    yMax = Math.ceil(top / step) * step;
    yTicks = [];
    for (let i = 0; i * step <= yMax + step / 2; i++) yTicks.push(Number((i * step).toPrecision(12)));
  }
  const x = (v: number): number => m.left + ((v - xMin) / (xMax - xMin)) * (W - m.left - m.right);
  const y = (v: number): number => {
    const t = input.log ? (Math.log10(Math.min(yMax, Math.max(yMin, v))) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin)) : (v - yMin) / (yMax - yMin);
    return H - m.bottom - t * (H - m.top - m.bottom);
  };
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`);
  const fills = ['#eef4fb', '#f6f0e6', '#eef7ee'];
  (input.bands ?? []).forEach((b, i) => {
    const x0 = x(Math.max(xMin, b.from));
    const x1 = x(Math.min(xMax, b.to));
    if (x1 <= x0) return;
    out.push(`<rect x="${x0.toFixed(1)}" y="${m.top}" width="${(x1 - x0).toFixed(1)}" height="${H - m.top - m.bottom}" fill="${fills[i % fills.length]!}"/>`);
    out.push(`<text x="${(x0 + 4).toFixed(1)}" y="${m.top + 14}" fill="#888">${escapeHtml(b.label)}</text>`);
  });
  for (const t of yTicks) {
    out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${m.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${escapeHtml(input.yUnit(t))}</text>`);
  }
  const xStep = niceStep(xMax - xMin, 10);
  for (let i = Math.ceil(xMin / xStep); i * xStep <= xMax; i++) {
    const t = Number((i * xStep).toPrecision(12));
    out.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${m.top}" y2="${H - m.bottom}" stroke="#f3f3f3"/>`);
    out.push(`<text x="${x(t).toFixed(1)}" y="${H - m.bottom + 16}" text-anchor="middle">${t}${input.xUnit ?? ''}</text>`);
  }
  out.push(`<text x="${(W + m.left) / 2}" y="${H - 6}" text-anchor="middle">${escapeHtml(input.xLabel)}</text>`);
  out.push(`<text transform="translate(14 ${(H - m.bottom + m.top) / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(input.yLabel)}</text>`);
  input.series.forEach((s, i) => {
    const points = s.points.filter(([, v]) => Number.isFinite(v)).map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${COLORS[i % COLORS.length]!}" stroke-width="1.4"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${points}"/>`);
  });
  const lw = 330;
  const lx = W - m.right - lw;
  out.push(`<rect x="${lx - 8}" y="${m.top + 4}" width="${lw}" height="${input.series.length * 18 + 8}" fill="#fff" fill-opacity="0.9" stroke="#ccc"/>`);
  input.series.forEach((s, i) => {
    out.push(`<rect x="${lx}" y="${m.top + 10 + i * 18}" width="12" height="12" fill="${COLORS[i % COLORS.length]!}"/>`);
    out.push(`<text x="${lx + 18}" y="${m.top + 20 + i * 18}">${escapeHtml(s.label)}</text>`);
  });
  out.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${H - m.bottom}" stroke="#333"/>`);
  out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${H - m.bottom}" y2="${H - m.bottom}" stroke="#333"/>`);
  out.push('</svg>');
  return out.join('\n');
}

/** Per-second quantile of samples, as [seconds since t0, value] points. */
export function perSecondQuantile(samples: readonly (readonly [number, number])[], t0: number, q: number): Array<[number, number]> {
  const buckets = new Map<number, number[]>();
  for (const [at, l] of samples) {
    const s = Math.floor((at - t0) / 1000);
    const b = buckets.get(s);
    if (b) b.push(l);
    else buckets.set(s, [l]);
  }
  return [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([s, v]) => [s + 0.5, quantile(v.sort((a, b) => a - b), q)]);
}

export interface HtmlSection {
  heading: string;
  svg?: string;
  table?: { header: readonly string[]; rows: readonly (readonly string[])[] };
  paragraphs?: readonly string[];
}

export function reportHtml(title: string, intro: readonly string[], sections: readonly HtmlSection[]): string {
  const cells = (r: readonly string[], tag: string): string => `<tr>${r.map((c) => `<${tag}>${escapeHtml(c.replace(/\*\*/g, ''))}</${tag}>`).join('')}</tr>`;
  const body = sections
    .map((s) =>
      [
        `<h2>${escapeHtml(s.heading)}</h2>`,
        ...(s.paragraphs ?? []).map((p) => `<p>${escapeHtml(p)}</p>`),
        s.svg ?? '',
        s.table ? `<table>${cells(s.table.header, 'th')}${s.table.rows.map((r) => cells(r, 'td')).join('')}</table>` : '',
      ].join('\n'),
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}p{max-width:960px}</style>
</head><body>
<h1>${escapeHtml(title)}</h1>
${intro.map((s) => `<p>${escapeHtml(s)}</p>`).join('\n')}
${body}
</body></html>
`;
}

// --- publish/unpublish cycles ----------------------------------------------------------------

export interface CycleRecord {
  cycle: number;
  /** Publish start -> the origin lists the new stream live with media, ms (null: never). */
  liveAfterMs: number | null;
  /** How long the publisher ran, ms. */
  publishedMs: number;
  /** How the publisher was ended: ffmpeg quit cleanly (SIGINT) or was SIGKILLed. */
  unpublish: 'clean' | 'kill';
  /** Unpublish -> edge pipeline gone and no ffmpeg under the edge, ms (null: not within the deadline). */
  cleanAfterMs: number | null;
  /** ffmpeg processes under the edge when the cycle was recorded (after the wait). */
  ffmpegAfter: number;
  originState: string;
  edgeRssMb: number;
  originRssMb: number;
}

/** Least-squares slope of y over x (per unit x). */
export function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den > 0 ? num / den : Number.NaN;
}

export interface RssTrend {
  firstMb: number;
  lastMb: number;
  maxMb: number;
  /** MB per 100 cycles over all cycles, and over the second half (after warm-up). */
  slopePer100: number;
  secondHalfSlopePer100: number;
  /** Mean of the last fifth minus mean of the second fifth, MB: growth after the caches filled. */
  growthMb: number;
  /** growthMb <= max(5% of the second fifth's mean, 5 MB). */
  flat: boolean;
}

export function rssTrend(values: readonly number[]): RssTrend {
  const pts = values.map((v, i) => [i + 1, v] as const);
  const n = values.length;
  const fifth = Math.max(1, Math.floor(n / 5));
  const second = values.slice(fifth, 2 * fifth);
  const last = values.slice(n - fifth);
  const base = mean(second.length ? second : values);
  const growthMb = mean(last) - base;
  return {
    firstMb: values[0] ?? Number.NaN,
    lastMb: values.at(-1) ?? Number.NaN,
    maxMb: maxOf([...values]),
    slopePer100: slope(pts) * 100,
    secondHalfSlopePer100: slope(pts.slice(Math.floor(n / 2))) * 100,
    growthMb,
    flat: growthMb <= Math.max(0.05 * base, 5),
  };
}

export function rssTrendRows(trends: ReadonlyArray<{ name: string; trend: RssTrend }>): { header: string[]; rows: string[][] } {
  const f1 = (n: number): string => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${n.toFixed(1)} MB` : '—');
  return {
    header: ['process', 'RSS first cycle', 'RSS last cycle', 'RSS max', 'slope / 100 cycles', 'slope / 100 (2nd half)', 'growth (last fifth - second fifth)', 'flat'],
    rows: trends.map(({ name, trend: t }) => [name, fmtMb(t.firstMb), fmtMb(t.lastMb), fmtMb(t.maxMb), f1(t.slopePer100), f1(t.secondHalfSlopePer100), f1(t.growthMb), t.flat ? '**yes**' : '**no**']),
  };
}
