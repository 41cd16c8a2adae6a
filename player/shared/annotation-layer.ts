// The annotation overlay of a page: a <canvas> laid exactly over the <video> on screen, the events
// the origin relayed (one per seq), and a paint on every animation frame of what visibleAt() says
// is on screen at the page's playhead. The playhead is injected: the expert's WebRTC frame time,
// the trainee's PROGRAM-DATE-TIME, the edge monitor's "latest". Where the playhead can be read per
// presented video frame (atFrame), drawings appear in step with the frame they were drawn on.
import { visibleAt, type Annotation, type AnnotationEvent, type AnnotatorRole, type Point } from '../../lib/annotations.js';
import type { ServerMessage } from '../../lib/ws-protocol.js';
import { EMPTY_RECT, displayedRect, sameRect, toNormalised, type Rect } from './annotation-geometry.js';
import { drawAnnotations } from './annotation-renderer.js';
import { AnnotationStore } from './annotation-store.js';

/** Where annotations come from: the page's LatencyLink. */
export interface AnnotationSource {
  onMessage(listener: (message: ServerMessage) => void): () => void;
}

export interface Playhead {
  /** Media time on screen now (origin-clock Unix ms); null while unknown (then nothing relayed is drawn). */
  now: () => number | null;
  /** Media time of a frame being presented (requestVideoFrameCallback); painting then follows the frames. */
  atFrame?: (video: HTMLVideoElement, frame: VideoFrameCallbackMetadata) => number | null;
}

export interface AnnotationLayerOptions {
  /** Positioned ancestor of the video(s); the canvas is placed in it. */
  container: HTMLElement;
  /** The <video> on screen now (it may change, e.g. the expert's fallback), or null. */
  video: () => HTMLVideoElement | null;
  playhead: Playhead;
  /** Unpinned drawings go this long after their media time, ms. */
  fadeMs: number;
  source: AnnotationSource;
  /** The canvas takes pointer events (drawing tools); otherwise clicks reach the video. */
  interactive?: boolean;
  /**
   * Place each drawing at the time the origin accepted it (receivedAt) instead of its media time:
   * the edge monitor, which shows drawings at once and fades them fadeMs later however far behind
   * the drawer's picture was. The playhead is then the origin clock.
   */
  showOnArrival?: boolean;
}

/** What the layer shows, for tests and devtools (window.__scopecast.annotations). Read-only by contract. */
export interface AnnotationDebugSnapshot {
  /** Events received (repeats not counted). */
  received: number;
  lastSeq: number;
  /** Playhead of the last paint, ms. */
  playheadMs: number | null;
  /** Ids on the canvas after the last paint (received and local). */
  visible: string[];
  /** Playhead (ms) of the paint that first showed each received annotation id (last 100). */
  firstDrawn: Record<string, number>;
  /**
   * The playhead of the paint before that one, per id: with firstDrawn it brackets the media time,
   * and a gap much longer than a frame means the video skipped frames there.
   */
  paintedBefore: Record<string, number | null>;
  /** The latest refusals from the origin (last 20). */
  refused: Array<{ code: string; message: string; id?: string }>;
}

/** The last part of an unpinned drawing's life, ms, in which it fades out rather than vanishing. */
const FADE_OUT_MS = 500;
/** A page's own finished drawing stays on screen this long at most waiting for the origin's copy. */
const LOCAL_HOLD_MS = 5000;
/** Frames this recent drive the playhead (atFrame); older, and the clock (now) does. */
const FRAME_FRESH_MS = 250;
const MAX_FIRST_DRAWN = 100;
const MAX_REFUSED = 20;

/** A drawing of this page's own, shown at once while it is drawn and until the relay sends it back. */
interface LocalDrawing {
  annotation: Annotation;
  role: AnnotatorRole;
  /** Versions sent and not yet back. */
  awaiting: number;
  /** When the gesture ended (performance.now()), or null while it goes on. */
  settledAt: number | null;
}

export class AnnotationLayer {
  readonly canvas: HTMLCanvasElement;
  // firstDrawn has no prototype: ids are user-chosen and '__proto__' matches the id alphabet.
  readonly debug: AnnotationDebugSnapshot = { received: 0, lastSeq: 0, playheadMs: null, visible: [], firstDrawn: Object.create(null) as Record<string, number>, paintedBefore: Object.create(null) as Record<string, number | null>, refused: [] };
  readonly #options: AnnotationLayerOptions;
  readonly #ctx: CanvasRenderingContext2D | null;
  readonly #store = new AnnotationStore();
  readonly #local = new Map<string, LocalDrawing>();
  readonly #resize: ResizeObserver | null;
  readonly #offMessage: () => void;
  #video: HTMLVideoElement | null = null;
  #videoSize = [0, 0];
  #frameHandle: number | null = null;
  #framePlayhead: { ms: number; at: number } | null = null;
  #raf: number | null = null;
  #dirty = true;
  #box: Rect = EMPTY_RECT;
  #picture: Rect = EMPTY_RECT;
  #dpr = 1;
  #painted: { list: Annotation[]; alphas: number[]; picture: Rect } | null = null;
  #hellos = 0;
  /** Playhead of the previous paint (for debug.paintedBefore). */
  #lastPlayhead: number | null = null;
  #lastCompact = 0;
  #destroyed = false;

  constructor(options: AnnotationLayerOptions) {
    this.#options = options;
    const canvas = document.createElement('canvas');
    canvas.className = 'sc-annotations';
    canvas.setAttribute('aria-hidden', 'true');
    // Styles set here (not in page CSS) so every page gets the same overlay; CSSOM is not inline script.
    Object.assign(canvas.style, { position: 'absolute', left: '0', top: '0', width: '0', height: '0', zIndex: '5' });
    canvas.style.pointerEvents = options.interactive ? 'auto' : 'none';
    if (options.interactive) {
      canvas.style.cursor = 'crosshair';
      canvas.style.touchAction = 'none';
    }
    options.container.append(canvas);
    this.canvas = canvas;
    this.#ctx = canvas.getContext('2d');
    this.#resize = typeof ResizeObserver === 'function' ? new ResizeObserver(() => (this.#dirty = true)) : null;
    this.#resize?.observe(options.container);
    window.addEventListener('resize', this.#markDirty);
    this.#offMessage = options.source.onMessage((message) => this.#onMessage(message));
    this.#raf = requestAnimationFrame(this.#onAnimationFrame);
  }

  /** The highest seq received (0 = none). */
  get lastSeq(): number {
    return this.#store.lastSeq;
  }

  /** The newest media time received, ms; -Infinity before any (the edge monitor's "latest"). */
  get latestMediaTime(): number {
    return this.#store.latestMediaTime;
  }

  /**
   * Hello fields for the page's link (LatencyLinkOptions.hello): nothing on the first connect (the
   * origin sends the recent drawings), then the last seq seen, so a reconnect loses and repeats nothing.
   */
  readonly hello = (): { since?: number } => (this.#hellos++ === 0 ? {} : { since: this.#store.lastSeq });

  /** The displayed picture inside the canvas box, CSS px. */
  get picture(): Rect {
    return this.#picture;
  }

  /** A pointer's client position to frame coordinates (null outside the picture unless clamped). */
  toFrame(clientX: number, clientY: number, clamp = false): Point | null {
    this.#measure(true);
    const box = this.canvas.getBoundingClientRect();
    return toNormalised(clientX - box.left, clientY - box.top, this.#picture, clamp);
  }

  /** Shows one of this page's drawings at once, on top, until the relay sends it back. `sent`: a version went out. */
  showLocal(annotation: Annotation, role: AnnotatorRole, sent: boolean): void {
    const entry = this.#local.get(annotation.id);
    const awaiting = (entry?.awaiting ?? 0) + (sent ? 1 : 0);
    this.#local.set(annotation.id, { annotation, role, awaiting, settledAt: entry?.settledAt ?? null });
  }

  /** The gesture ended: its local copy goes when every sent version is back (or after LOCAL_HOLD_MS). */
  settleLocal(id: string): void {
    const entry = this.#local.get(id);
    if (!entry) return;
    if (entry.awaiting <= 0) this.#local.delete(id);
    else entry.settledAt = performance.now();
  }

  dropLocal(id: string): void {
    this.#local.delete(id);
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#offMessage();
    if (this.#raf !== null) cancelAnimationFrame(this.#raf);
    this.#raf = null;
    this.#unwatchVideo();
    this.#resize?.disconnect();
    window.removeEventListener('resize', this.#markDirty);
    this.#local.clear();
    this.canvas.remove();
  }

  readonly #markDirty = (): void => {
    this.#dirty = true;
  };

  #onMessage(message: ServerMessage): void {
    if (message.type === 'annotation') {
      const event = this.#options.showOnArrival ? onArrival(message.event) : message.event;
      if (!this.#store.add(event)) return;
      this.debug.received += 1;
      this.debug.lastSeq = this.#store.lastSeq;
      const local = this.#local.get(event.annotation.id);
      if (local) {
        local.awaiting -= 1;
        if (local.awaiting <= 0 && local.settledAt !== null) this.#local.delete(event.annotation.id);
      }
    } else if (message.type === 'refused') {
      const { code, message: text, id } = message;
      this.debug.refused.push(id === undefined ? { code, message: text } : { code, message: text, id });
      if (this.debug.refused.length > MAX_REFUSED) this.debug.refused.shift();
      if (id !== undefined) this.#local.delete(id);
    }
  }

  readonly #onAnimationFrame = (): void => {
    if (this.#destroyed) return;
    this.#raf = requestAnimationFrame(this.#onAnimationFrame);
    this.#measure(false);
    const now = performance.now();
    for (const [id, entry] of this.#local) {
      if (entry.settledAt !== null && now - entry.settledAt > LOCAL_HOLD_MS) this.#local.delete(id);
    }
    const frame = this.#framePlayhead;
    const playhead = frame && now - frame.at < FRAME_FRESH_MS ? frame.ms : this.#options.playhead.now();
    this.#paint(playhead);
    if (playhead !== null && now - this.#lastCompact > 5000) {
      this.#lastCompact = now;
      this.#store.compact(playhead, this.#options.fadeMs);
    }
  };

  /** Re-places the canvas over the video on screen when it changed, moved or resized. */
  #measure(force: boolean): void {
    const video = this.#options.video();
    if (video !== this.#video) {
      this.#unwatchVideo();
      this.#video = video;
      this.#dirty = true;
      if (video) {
        this.#resize?.observe(video);
        this.#requestFrame(video);
      }
    }
    const size = video ? [video.videoWidth, video.videoHeight] : [0, 0];
    if (size[0] !== this.#videoSize[0] || size[1] !== this.#videoSize[1]) {
      this.#videoSize = size;
      this.#dirty = true;
    }
    if (!this.#dirty && !force) return;
    this.#dirty = false;
    const container = this.#options.container;
    let box = EMPTY_RECT;
    if (video) {
      const c = container.getBoundingClientRect();
      const v = video.getBoundingClientRect();
      box = { x: v.left - c.left - container.clientLeft, y: v.top - c.top - container.clientTop, width: v.width, height: v.height };
    }
    const dpr = window.devicePixelRatio || 1;
    if (sameRect(box, this.#box) && dpr === this.#dpr) return;
    this.#box = box;
    this.#dpr = dpr;
    const style = this.canvas.style;
    style.left = `${box.x}px`;
    style.top = `${box.y}px`;
    style.width = `${box.width}px`;
    style.height = `${box.height}px`;
    this.canvas.width = Math.round(box.width * dpr);
    this.canvas.height = Math.round(box.height * dpr);
    this.#picture = displayedRect(size[0] ?? 0, size[1] ?? 0, box.width, box.height);
    this.#painted = null; // resizing cleared the canvas
  }

  #requestFrame(video: HTMLVideoElement): void {
    const atFrame = this.#options.playhead.atFrame;
    if (!atFrame || typeof video.requestVideoFrameCallback !== 'function') return;
    this.#frameHandle = video.requestVideoFrameCallback((_now, metadata) => {
      if (this.#destroyed || video !== this.#video) return;
      const ms = atFrame(video, metadata);
      if (ms !== null && Number.isFinite(ms)) {
        this.#framePlayhead = { ms, at: performance.now() };
        this.#paint(ms);
      }
      this.#requestFrame(video);
    });
  }

  #unwatchVideo(): void {
    const video = this.#video;
    if (!video) return;
    if (this.#frameHandle !== null) video.cancelVideoFrameCallback(this.#frameHandle);
    this.#frameHandle = null;
    this.#framePlayhead = null;
    this.#resize?.unobserve(video);
  }

  #paint(playhead: number | null): void {
    const ctx = this.#ctx;
    if (!ctx) return;
    const fadeMs = this.#options.fadeMs;
    this.debug.playheadMs = playhead;
    const before = this.#lastPlayhead;
    this.#lastPlayhead = playhead;
    const relayed = playhead === null ? [] : visibleAt(this.#store.events, playhead, fadeMs).filter((a) => !this.#local.has(a.id));
    const list = [...relayed, ...[...this.#local.values()].map((l) => l.annotation)];
    const alphas = list.map((a, i) => {
      if (i >= relayed.length || a.pinned || playhead === null) return 1;
      const left = fadeMs - (playhead - a.mediaTime);
      return Math.round(Math.max(0, Math.min(1, left / Math.min(FADE_OUT_MS, fadeMs / 3))) * 50) / 50;
    });
    const last = this.#painted;
    if (last && sameRect(last.picture, this.#picture) && last.list.length === list.length && list.every((a, i) => a === last.list[i] && alphas[i] === last.alphas[i])) return;
    this.#painted = { list, alphas, picture: this.#picture };
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.setTransform(this.#dpr, 0, 0, this.#dpr, 0, 0);
    const alpha = new Map(list.map((a, i) => [a, alphas[i] ?? 1]));
    drawAnnotations(ctx, list, this.#picture, {
      roleOf: (a) => this.#local.get(a.id)?.role ?? this.#store.roleOf(a.id),
      opacityOf: (a) => alpha.get(a) ?? 1,
    });
    this.#record(relayed, playhead, before);
  }

  #record(relayed: readonly Annotation[], playhead: number | null, before: number | null): void {
    this.debug.visible = this.#painted?.list.map((a) => a.id) ?? [];
    if (playhead === null || this.#picture.width === 0) return;
    const { firstDrawn, paintedBefore } = this.debug;
    for (const a of relayed) {
      if (a.id in firstDrawn) continue;
      firstDrawn[a.id] = playhead;
      paintedBefore[a.id] = before;
      const oldest = Object.keys(firstDrawn)[0];
      if (Object.keys(firstDrawn).length > MAX_FIRST_DRAWN && oldest !== undefined) {
        delete firstDrawn[oldest];
        delete paintedBefore[oldest];
      }
    }
  }
}

/**
 * A playhead that never steps back while `epoch()` stays the same. WebRTC capture-time estimates
 * jitter between frames; a playhead that stepped back would hide a drawing stamped a moment ago.
 * A new epoch (e.g. the expert switching to LL-HLS, which really is further back) starts afresh.
 */
export function monotonic(read: () => number | null, epoch: () => unknown): () => number | null {
  let current: { epoch: unknown; ms: number } | null = null;
  return () => {
    const ms = read();
    if (ms === null) return current && current.epoch === epoch() ? current.ms : null;
    const e = epoch();
    if (!current || current.epoch !== e || ms > current.ms) current = { epoch: e, ms };
    return current.ms;
  };
}

/** The event as the monitor's timeline sees it: drawn when the origin accepted it. */
function onArrival(event: AnnotationEvent): AnnotationEvent {
  const at = Math.max(event.annotation.mediaTime, event.receivedAt);
  return { ...event, annotation: { ...event.annotation, mediaTime: at } };
}

/** The page's data-fade-ms, re-checked: a whole number of ms in the origin's range, else 5000. */
export function parseFadeMs(value: string | undefined): number {
  const ms = Number(value);
  return Number.isInteger(ms) && ms >= 500 && ms <= 600_000 ? ms : 5000;
}
