// One stream's section of the dashboard: header, latency chart with legend, ingest and viewer
// figures, per-hop medians and the viewer list. Built once; each snapshot only updates text, so
// the viewer list keeps its scroll position.
import { LatencyChart, SERIES_COLOURS } from './chart-view.js';
import { SERIES, type Stat } from './chart.js';
import { html, setText } from './dom.js';
import {
  DASH,
  HOPS,
  HOP_LABELS,
  PATH_LABELS,
  ROLE_LABELS,
  formatAge,
  formatCount,
  formatFps,
  formatMbps,
  formatMs,
  formatSpeed,
} from './format.js';
import type { DeliveryPath, Hop, StatusSnapshot, StreamStatus } from './types.js';

const TILES = {
  'viewers-webrtc': 'WebRTC viewers',
  'viewers-llhls': 'LL-HLS viewers',
  bitrate: 'Ingest bitrate',
  fps: 'Ingest fps',
  speed: 'Encoder speed',
  dropped: 'Dropped frames',
} as const;
type Tile = keyof typeof TILES;
type SeriesKey = `${DeliveryPath}-${Stat}`;

/** Rows past this are summarised, so a 500-viewer load test does not build a 500-row table each second. */
const MAX_VIEWER_ROWS = 50;

export class StreamPanel {
  readonly element: HTMLElement;
  readonly #chart: LatencyChart;
  readonly #live: HTMLElement;
  readonly #tiles = new Map<Tile, HTMLElement>();
  readonly #hops = new Map<Hop, HTMLElement>();
  readonly #legend = new Map<SeriesKey, HTMLElement>();
  readonly #viewerCount: HTMLElement;
  readonly #viewerRows: HTMLTableSectionElement;

  constructor(name: string) {
    this.element = html('section', 'sc-stream');
    this.element.dataset.stream = name;

    const header = html('header', 'sc-stream-head');
    this.#live = html('span', 'sc-live');
    header.append(html('h2', undefined, name), this.#live);

    const chartBox = html('div', 'sc-chart-box');
    this.#chart = new LatencyChart(chartBox);
    const legend = html('div', 'sc-legend');
    for (const { path, stat } of [...SERIES].reverse()) {
      const item = html('span', 'sc-legend-item');
      item.dataset.stat = stat;
      const swatch = html('span', 'sc-swatch');
      swatch.dataset.stat = stat;
      swatch.style.borderColor = SERIES_COLOURS[path];
      const value = html('span', 'sc-legend-value', DASH);
      item.append(swatch, `${PATH_LABELS[path]} ${stat} `, value);
      legend.append(item);
      this.#legend.set(`${path}-${stat}`, value);
    }
    chartBox.append(legend);

    const tiles = html('dl', 'sc-tiles');
    for (const [key, label] of Object.entries(TILES) as Array<[Tile, string]>) {
      const value = html('dd', undefined, DASH);
      value.dataset.field = key;
      tiles.append(figure('sc-tile', label, value));
      this.#tiles.set(key, value);
    }
    const hops = html('dl', 'sc-hops');
    for (const hop of HOPS) {
      const value = html('dd', undefined, DASH);
      value.dataset.hop = hop;
      hops.append(figure('sc-hop', HOP_LABELS[hop], value));
      this.#hops.set(hop, value);
    }
    const figures = html('div', 'sc-figures');
    figures.append(group('Ingest and viewers', tiles), group('Median delay per hop', hops));

    const viewers = html('div', 'sc-viewers');
    this.#viewerCount = html('h3', undefined, 'Viewers');
    const table = html('table', 'sc-viewer-table');
    const head = html('thead');
    const headRow = html('tr');
    for (const title of ['Viewer', 'Role', 'Path', 'Latency', 'Report']) headRow.append(html('th', undefined, title));
    head.append(headRow);
    this.#viewerRows = html('tbody');
    table.append(head, this.#viewerRows);
    const scroller = html('div', 'sc-viewer-scroll');
    scroller.append(table);
    viewers.append(this.#viewerCount, scroller);

    const body = html('div', 'sc-stream-body');
    body.append(chartBox, viewers);
    this.element.append(header, figures, body);
  }

  update(stream: StreamStatus, snapshot: StatusSnapshot): void {
    const threshold = snapshot.alertThresholdMs;
    setText(this.#live, stream.live ? 'live' : 'not live');
    this.#live.dataset.live = String(stream.live);
    // Rows are marked by the origin's alerts, not by comparing with the threshold here: LL-HLS
    // viewers are always above 300 ms and are not what the alert is about.
    const alerted = new Set(snapshot.alerts.filter((a) => a.stream === stream.stream).map((a) => a.viewerId));
    this.element.dataset.alert = String(alerted.size > 0);

    const model = this.#chart.update({ history: stream.history, now: snapshot.now, historySeconds: snapshot.historySeconds, thresholdMs: threshold });
    for (const series of model.series) {
      const value = this.#legend.get(`${series.path}-${series.stat}`);
      if (value) setText(value, formatMs(series.last));
    }

    const figures: Record<Tile, string> = {
      'viewers-webrtc': formatCount(stream.viewers.webrtc),
      'viewers-llhls': formatCount(stream.viewers.llhls),
      bitrate: formatMbps(stream.ingest.bitrateBps),
      fps: formatFps(stream.ingest.fps),
      speed: formatSpeed(stream.ingest.encoderSpeed),
      dropped: formatCount(stream.ingest.droppedFrames),
    };
    for (const [key, node] of this.#tiles) setText(node, figures[key]);
    const speed = stream.ingest.encoderSpeed;
    (this.#tiles.get('speed') as HTMLElement).dataset.level = speed !== null && speed < 0.98 ? 'bad' : '';
    for (const [hop, node] of this.#hops) setText(node, formatMs(stream.hops[hop]));

    this.#renderViewers(stream, snapshot.now, alerted);
  }

  destroy(): void {
    this.#chart.destroy();
    this.element.remove();
  }

  #renderViewers(stream: StreamStatus, now: number, alerted: ReadonlySet<string>): void {
    // Alerting viewers first, then WebRTC before LL-HLS, slowest first within each.
    const list = [...stream.viewerList].sort((a, b) =>
      Number(alerted.has(b.id)) - Number(alerted.has(a.id))
      || Number(b.path === 'webrtc') - Number(a.path === 'webrtc')
      || b.latencyMs - a.latencyMs);
    setText(this.#viewerCount, `Viewers (${list.length})`);
    const rows = list.slice(0, MAX_VIEWER_ROWS).map((viewer) => {
      const row = html('tr');
      row.dataset.viewer = viewer.id;
      if (alerted.has(viewer.id)) row.className = 'sc-over';
      row.append(
        html('td', 'sc-id', viewer.id),
        html('td', undefined, ROLE_LABELS[viewer.role] ?? viewer.role),
        html('td', undefined, PATH_LABELS[viewer.path] ?? viewer.path),
        html('td', 'sc-num', formatMs(viewer.latencyMs)),
        html('td', 'sc-num', formatAge(viewer.lastReportAt, now)),
      );
      return row;
    });
    if (list.length > MAX_VIEWER_ROWS) {
      const more = html('tr', 'sc-more');
      const cell = html('td', undefined, `+${list.length - MAX_VIEWER_ROWS} more`);
      cell.colSpan = 5;
      more.append(cell);
      rows.push(more);
    }
    if (rows.length === 0) {
      const none = html('tr', 'sc-more');
      const cell = html('td', undefined, 'no viewers');
      cell.colSpan = 5;
      none.append(cell);
      rows.push(none);
    }
    this.#viewerRows.replaceChildren(...rows);
  }
}

function figure(className: string, label: string, value: HTMLElement): HTMLElement {
  const item = html('div', className);
  item.append(html('dt', undefined, label), value);
  return item;
}

function group(title: string, list: HTMLElement): HTMLElement {
  const box = html('div', 'sc-group');
  box.append(html('h3', undefined, title), list);
  return box;
}
