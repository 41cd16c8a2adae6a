// The annotation track replayed over the video: each animation frame, the media time at the
// playhead picks the drawings on screen (visibleAt, the same rule as the live pages) and
// drawAnnotations paints them on the canvas laid over the picture (letterboxing included).
import { visibleAt, type Annotation, type AnnotationEvent, type AnnotatorRole } from '../../lib/annotations.js';
import { drawAnnotations, fitVideoRect, type VideoRect } from '../shared/annotation-renderer.js';
import type { Bus } from '../watch/bus.js';
import type { LibraryEvents } from './types.js';

export interface AnnotationOverlayOptions {
  canvas: HTMLCanvasElement;
  video: HTMLVideoElement;
  bus: Bus<LibraryEvents>;
  /** Media time at the playhead, Unix ms; null while unknown (nothing is drawn). */
  mediaTime: () => number | null;
  fadeMs: number;
  /** Told after each repaint: what was drawn, for the page's debug mirror. */
  onPaint?: (paint: { playheadMs: number | null; drawn: string[]; picture: VideoRect }) => void;
}

/** The last part of a drawing's time on screen in which it fades out, ms. */
const FADE_OUT_MS = 400;

export class AnnotationOverlay {
  readonly #canvas: HTMLCanvasElement;
  readonly #video: HTMLVideoElement;
  readonly #mediaTime: () => number | null;
  readonly #fadeMs: number;
  readonly #onPaint: AnnotationOverlayOptions['onPaint'];
  readonly #unsubscribe: () => void;
  #events: AnnotationEvent[] = [];
  #roles = new Map<string, AnnotatorRole>();
  #frame = 0;
  #lastKey = '';
  #destroyed = false;

  constructor(options: AnnotationOverlayOptions) {
    this.#canvas = options.canvas;
    this.#video = options.video;
    this.#mediaTime = options.mediaTime;
    this.#fadeMs = options.fadeMs;
    this.#onPaint = options.onPaint;
    this.#unsubscribe = options.bus.on('annotations', (events) => {
      this.#events = events;
      // The newest event of an id names its author's role (colour).
      this.#roles = new Map(events.map((e) => [e.annotation.id, e.role]));
      this.#lastKey = '';
    });
    this.#frame = requestAnimationFrame(this.#tick);
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    cancelAnimationFrame(this.#frame);
    this.#unsubscribe();
    this.#canvas.getContext('2d')?.clearRect(0, 0, this.#canvas.width, this.#canvas.height);
  }

  readonly #tick = (): void => {
    if (this.#destroyed) return;
    this.#frame = requestAnimationFrame(this.#tick);
    this.#paint();
  };

  #paint(): void {
    const canvas = this.#canvas;
    const dpr = window.devicePixelRatio || 1;
    const box = { width: canvas.clientWidth, height: canvas.clientHeight };
    const width = Math.round(box.width * dpr);
    const height = Math.round(box.height * dpr);
    const playhead = this.#mediaTime();
    const picture = fitVideoRect(box, { width: this.#video.videoWidth, height: this.#video.videoHeight });
    // Paused (or nothing changed): skip the repaint.
    const key = `${width}x${height}:${picture.width}x${picture.height}:${playhead}`;
    if (key === this.#lastKey) return;
    this.#lastKey = key;
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const list: Annotation[] = playhead === null ? [] : visibleAt(this.#events, playhead, this.#fadeMs);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    drawAnnotations(ctx, list, picture, {
      roleOf: (a) => this.#roles.get(a.id),
      opacityOf: (a) => (a.pinned || playhead === null ? 1 : Math.min(1, (this.#fadeMs - (playhead - a.mediaTime)) / FADE_OUT_MS)),
    });
    this.#onPaint?.({ playheadMs: playhead, drawn: list.map((a) => a.id), picture });
  }
}
