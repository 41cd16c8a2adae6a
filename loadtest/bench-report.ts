// Pure formatting for the side-by-side bench: the table printed to stdout (Markdown, so it can be
// pasted into BENCHMARKS.md as is) and a self-contained HTML page with an inline SVG chart of
// latency over time per viewer (no scripts, fonts or anything fetched from elsewhere).
import type { LatencySeries, ViewerResult } from './measure.js';
import { ms } from './stats.js';

export interface BenchViewer {
  /** Short name used by --only and in the ratios, e.g. nms-flv. */
  key: string;
  label: string;
  /** Anchors are the yardsticks the other rows are divided by. */
  anchor: boolean;
  result: ViewerResult;
  startedAt: number;
  series: LatencySeries;
}

/** median(row) / median(anchor), as "x0.45"; "—" when either is missing. */
export function ratio(value: number, anchor: number): string {
  return Number.isFinite(value) && Number.isFinite(anchor) && anchor > 0 ? `x${(value / anchor).toFixed(2)}` : '—';
}

/** The table as cells: a header row, then one row per viewer. */
export function benchRows(viewers: readonly BenchViewer[]): { header: string[]; rows: string[][] } {
  const anchors = viewers.filter((v) => v.anchor);
  const header = ['viewer', 'median', 'p95', 'max', 'TTFF', 'first frame age', 'frames', ...anchors.map((a) => `median vs ${a.key}`)];
  const rows = viewers.map((v) => {
    const r = v.result;
    return [
      `${v.key}: ${v.label}`,
      ms(r.latency.median),
      ms(r.latency.p95),
      ms(r.latency.max),
      ms(r.ttffMs ?? Number.NaN),
      ms(r.firstFrameAgeMs ?? Number.NaN),
      String(r.latency.n),
      ...anchors.map((a) => (a === v ? '—' : `${ratio(r.latency.median, a.result.latency.median)} of ${a.key}`)),
    ];
  });
  return { header, rows };
}

/** Markdown table, for stdout and BENCHMARKS.md. */
export function benchTable(viewers: readonly BenchViewer[]): string {
  const { header, rows } = benchRows(viewers);
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'] as const;

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The chart: latency (log scale) against seconds since the viewers started, warm-up shaded. */
export function latencySvg(viewers: readonly BenchViewer[], warmupS: number): string {
  const W = 960;
  const H = 440;
  const m = { left: 64, right: 16, top: 16, bottom: 44 };
  const t0 = Math.min(...viewers.map((v) => v.startedAt));
  const all = viewers.flatMap((v) => v.series);
  const tMax = Math.max(1, ...all.map(([at]) => (at - t0) / 1000));
  const positive = all.map(([, l]) => l).filter((l) => l > 0);
  const steps = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000];
  const yMin = [...steps].reverse().find((s) => s <= Math.min(...positive, 1000)) ?? 10;
  const yMax = steps.find((s) => s >= Math.max(...positive, 200)) ?? 50000;
  const x = (t: number): number => m.left + (t / tMax) * (W - m.left - m.right);
  const y = (l: number): number => {
    const v = Math.log10(Math.min(yMax, Math.max(yMin, l)));
    return H - m.bottom - ((v - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * (H - m.top - m.bottom);
  };
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`);
  const warmEnd = (Math.max(...viewers.map((v) => v.startedAt)) - t0) / 1000 + warmupS;
  out.push(`<rect x="${x(0)}" y="${m.top}" width="${x(Math.min(warmEnd, tMax)) - x(0)}" height="${H - m.top - m.bottom}" fill="#eee"/>`);
  out.push(`<text x="${x(0) + 4}" y="${m.top + 14}" fill="#888">warm-up</text>`);
  for (const s of steps.filter((s) => s >= yMin && s <= yMax)) {
    out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${y(s)}" y2="${y(s)}" stroke="#ddd"/>`);
    out.push(`<text x="${m.left - 6}" y="${y(s) + 4}" text-anchor="end">${s >= 1000 ? `${s / 1000} s` : `${s} ms`}</text>`);
  }
  const tickEvery = tMax > 60 ? 10 : 5;
  for (let t = 0; t <= tMax; t += tickEvery) {
    out.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${m.top}" y2="${H - m.bottom}" stroke="#f3f3f3"/>`);
    out.push(`<text x="${x(t)}" y="${H - m.bottom + 16}" text-anchor="middle">${t} s</text>`);
  }
  out.push(`<text x="${(W + m.left) / 2}" y="${H - 6}" text-anchor="middle">time since the viewers started (frames by the time the viewer had them decoded)</text>`);
  out.push(`<text transform="translate(14 ${(H - m.bottom + m.top) / 2}) rotate(-90)" text-anchor="middle">latency (log scale)</text>`);
  viewers.forEach((v, i) => {
    const points = v.series.map(([at, l]) => `${x((at - t0) / 1000).toFixed(1)},${y(l).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${COLORS[i % COLORS.length]!}" stroke-width="1.2" points="${points}"/>`);
  });
  // Legend last, on a white box, so no line runs through it.
  const lx = W - m.right - 260;
  out.push(`<rect x="${lx - 8}" y="${m.top + 4}" width="260" height="${viewers.length * 18 + 8}" fill="#fff" fill-opacity="0.9" stroke="#ccc"/>`);
  viewers.forEach((v, i) => {
    out.push(`<rect x="${lx}" y="${m.top + 10 + i * 18}" width="12" height="12" fill="${COLORS[i % COLORS.length]!}"/>`);
    out.push(`<text x="${lx + 18}" y="${m.top + 20 + i * 18}">${escapeHtml(`${v.key} (median ${ms(v.result.latency.median)})`)}</text>`);
  });
  out.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${H - m.bottom}" stroke="#333"/>`);
  out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${H - m.bottom}" y2="${H - m.bottom}" stroke="#333"/>`);
  out.push('</svg>');
  return out.join('\n');
}

export function benchHtml(input: { title: string; setup: readonly string[]; viewers: readonly BenchViewer[]; warmupS: number }): string {
  const { header, rows } = benchRows(input.viewers);
  const cells = (r: readonly string[], tag: string): string => `<tr>${r.map((c) => `<${tag}>${escapeHtml(c)}</${tag}>`).join('')}</tr>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title>
<style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}p{max-width:960px}</style>
</head><body>
<h1>${escapeHtml(input.title)}</h1>
${input.setup.map((s) => `<p>${escapeHtml(s)}</p>`).join('\n')}
${latencySvg(input.viewers, input.warmupS)}
<table>${cells(header, 'th')}${rows.map((r) => cells(r, 'td')).join('')}</table>
</body></html>
`;
}
