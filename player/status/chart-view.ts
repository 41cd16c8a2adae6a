// Draws one stream's latency chart as inline SVG (no chart library, nothing fetched) from the pure
// geometry in chart.ts. Redrawn whole on each update: a few hundred nodes at 1 Hz.
import { buildChart, type ChartModel, type Stat } from './chart.js';
import { svg } from './dom.js';
import type { DeliveryPath, StatusPoint } from './types.js';

export const SERIES_COLOURS: Record<DeliveryPath, string> = { webrtc: '#3ddc84', llhls: '#ffb020' };
const DASHES: Record<Stat, string> = { p50: '', p95: '5 4' };
const THRESHOLD_COLOUR = '#ff5c5c';
const HEIGHT = 180;
/** Used until the element has been laid out. */
const FALLBACK_WIDTH = 640;

export interface ChartData {
  history: readonly StatusPoint[];
  now: number;
  historySeconds: number;
  thresholdMs: number;
}

export class LatencyChart {
  readonly element: SVGSVGElement;

  constructor(parent: HTMLElement) {
    this.element = svg('svg', { class: 'sc-chart', role: 'img', height: HEIGHT });
    parent.append(this.element);
  }

  /** Redraws; returns the geometry (the legend shows each series' newest value). */
  update(data: ChartData): ChartModel {
    // Sized to its box in CSS pixels so text and strokes keep their size at any width.
    const width = Math.round(this.element.getBoundingClientRect().width) || FALLBACK_WIDTH;
    const model = buildChart({ ...data, width, height: HEIGHT });
    const { plot } = model;
    const nodes: SVGElement[] = [];
    this.element.setAttribute('viewBox', `0 0 ${width} ${HEIGHT}`);
    this.element.setAttribute('aria-label', `latency over the last ${data.historySeconds} s, alert line at ${data.thresholdMs} ms`);

    for (const tick of model.yTicks) {
      nodes.push(svg('line', { class: 'sc-grid', x1: plot.left, x2: plot.right, y1: tick.at, y2: tick.at }));
      const label = svg('text', { class: 'sc-axis', x: plot.left - 6, y: tick.at, 'text-anchor': 'end', 'dominant-baseline': 'middle' });
      label.textContent = tick.label;
      nodes.push(label);
    }
    for (const tick of model.xTicks) {
      const label = svg('text', { class: 'sc-axis', x: tick.at, y: plot.bottom + 15, 'text-anchor': tick.label === 'now' ? 'end' : 'middle' });
      label.textContent = tick.label;
      nodes.push(label);
    }
    nodes.push(svg('rect', { class: 'sc-frame', x: plot.left, y: plot.top, width: plot.right - plot.left, height: plot.bottom - plot.top }));

    const threshold = model.threshold;
    nodes.push(svg('line', {
      class: 'sc-threshold', x1: plot.left, x2: plot.right, y1: threshold.y, y2: threshold.y,
      stroke: THRESHOLD_COLOUR, 'stroke-width': 1.5, 'stroke-dasharray': '7 4',
    }));
    const thresholdLabel = svg('text', { class: 'sc-threshold-label', x: plot.left + 6, y: threshold.y - 5, fill: THRESHOLD_COLOUR });
    thresholdLabel.textContent = `alert ${threshold.label}`;
    nodes.push(thresholdLabel);

    for (const series of model.series) {
      if (!series.d) continue;
      nodes.push(svg('path', {
        class: 'sc-line', d: series.d, 'data-series': `${series.path}-${series.stat}`,
        fill: 'none', stroke: SERIES_COLOURS[series.path], 'stroke-width': series.stat === 'p50' ? 2 : 1.5,
        'stroke-dasharray': DASHES[series.stat], 'stroke-linejoin': 'round', 'stroke-linecap': 'round',
        opacity: series.stat === 'p50' ? 1 : 0.8,
      }));
    }
    this.element.replaceChildren(...nodes);
    return model;
  }

  destroy(): void {
    this.element.remove();
  }
}
