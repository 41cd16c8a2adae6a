// Draws telestration on a 2D canvas laid over a <video>. One module for every page (library
// replay, live expert/trainee/monitor): give it the drawings to show (usually visibleAt(...)) and
// where the picture is on the canvas; it draws, nothing else. It never clears the canvas, keeps no
// state, adds no listeners, and leaves the context as it found it (save/restore).
//
// Units: whatever the context's current transform makes them. The pages size the canvas backing
// store at devicePixelRatio and call ctx.setTransform(dpr, 0, 0, dpr, 0, 0), so the rect and
// every size here are CSS pixels and lines look the same on every screen.
//
// Coordinates: annotations are normalised to the video frame (0..1, origin top left). The
// picture is rarely the whole canvas: a <video> shows its frame "contained" in its box, with bars
// left/right (pillarbox) or top/bottom (letterbox). fitVideoRect() computes that rectangle the
// same way the browser does (object-fit: contain); drawing is clipped to it, so nothing lands on
// the bars. Sizes of lines, dots and text follow the picture's size (a drawing covers the same
// part of the anatomy at any size) with a floor in CSS pixels so they stay visible when small.
import type { Annotation, AnnotatorRole, Point } from '../../lib/annotations.js';

/** A rectangle in the context's units (CSS px, see above). */
export interface VideoRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Size {
  width: number;
  height: number;
}

export interface DrawOptions {
  /**
   * Who drew it (the caller has the AnnotationEvents; a drawing alone does not say). A drawing
   * without its own `color` takes its role's colour from `colors`, else DEFAULT_ANNOTATION_COLOR.
   */
  roleOf?: (annotation: Annotation) => AnnotatorRole | undefined;
  /** 0..1, e.g. to fade a drawing out near the end of its time. Default 1. */
  opacityOf?: (annotation: Annotation) => number;
  /** Colour per role. Default ROLE_COLORS. */
  colors?: Readonly<Record<AnnotatorRole, string>>;
}

export const DEFAULT_ANNOTATION_COLOR = '#ffd400';
/** A default palette per role, for colorFor. */
export const ROLE_COLORS: Readonly<Record<AnnotatorRole, string>> = {
  expert: '#ffd400',
  surgeon: '#3ddc84',
  trainee: '#4fc3f7',
  probe: '#ff5c5c',
};

const OUTLINE = 'rgba(0, 0, 0, 0.6)';

/**
 * Where a video frame of `video` size appears inside `box` with object-fit: contain, in the box's
 * units (centred, aspect kept). An unknown frame size (0) fills the box.
 */
export function fitVideoRect(box: Size, video: Size): VideoRect {
  if (!(video.width > 0 && video.height > 0) || !(box.width > 0 && box.height > 0)) {
    return { x: 0, y: 0, width: Math.max(0, box.width), height: Math.max(0, box.height) };
  }
  // The side that fits is the box's own (exact, no rounding); the other keeps the aspect.
  const wide = box.width / video.width <= box.height / video.height;
  const width = wide ? box.width : (video.width * box.height) / video.height;
  const height = wide ? (video.height * box.width) / video.width : box.height;
  return { x: (box.width - width) / 2, y: (box.height - height) / 2, width, height };
}

/** A normalised point on the picture, in the rect's units. */
export function toCanvasPoint(point: Point, rect: VideoRect): [x: number, y: number] {
  return [rect.x + point[0] * rect.width, rect.y + point[1] * rect.height];
}

interface Metrics {
  line: number;
  outline: number;
  dot: number;
  head: number;
  font: number;
}

function metricsFor(rect: VideoRect): Metrics {
  const line = Math.max(2, rect.width * 0.004);
  return {
    line,
    outline: line + 2,
    dot: Math.max(5, rect.width * 0.01),
    head: Math.max(9, rect.width * 0.02),
    font: Math.max(12, rect.height * 0.04),
  };
}

/**
 * Draws `list` in order (later on top) onto ctx, clipped to `rect` (the picture, see
 * fitVideoRect). 'clear' entries are ignored: resolve them first (visibleAt does).
 */
export function drawAnnotations(ctx: CanvasRenderingContext2D, list: readonly Annotation[], rect: VideoRect, options: DrawOptions = {}): void {
  if (rect.width <= 0 || rect.height <= 0 || list.length === 0) return;
  const colors = options.colors ?? ROLE_COLORS;
  const m = metricsFor(rect);
  ctx.save();
  ctx.beginPath();
  ctx.rect(rect.x, rect.y, rect.width, rect.height);
  ctx.clip();
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  for (const annotation of list) {
    if (annotation.kind === 'clear') continue;
    const opacity = Math.min(1, Math.max(0, options.opacityOf?.(annotation) ?? 1));
    if (opacity === 0) continue;
    const role = options.roleOf?.(annotation);
    const color = annotation.color ?? (role ? colors[role] : undefined) ?? DEFAULT_ANNOTATION_COLOR;
    ctx.globalAlpha = opacity;
    // Dark outline first, then the colour: readable on bright tissue and on dark cavities.
    drawOne(ctx, annotation, rect, m, OUTLINE, 'outline');
    drawOne(ctx, annotation, rect, m, color, 'colour');
  }
  ctx.restore();
}

type Pass = 'outline' | 'colour';

function drawOne(ctx: CanvasRenderingContext2D, a: Exclude<Annotation, { kind: 'clear' }>, rect: VideoRect, m: Metrics, color: string, pass: Pass): void {
  const width = pass === 'outline' ? m.outline : m.line;
  const grow = (width - m.line) / 2; // the outline pass is slightly larger
  ctx.strokeStyle = color;
  ctx.fillStyle = color;
  ctx.lineWidth = width;
  switch (a.kind) {
    case 'pointer': {
      const [x, y] = toCanvasPoint(a.at, rect);
      ctx.beginPath();
      ctx.arc(x, y, m.dot + grow, 0, Math.PI * 2);
      ctx.fill();
      return;
    }
    case 'stroke': {
      const points = a.points.map((p) => toCanvasPoint(p, rect));
      const [first, ...rest] = points;
      if (!first) return;
      ctx.beginPath();
      ctx.moveTo(first[0], first[1]);
      if (rest.length === 0) ctx.lineTo(first[0] + 0.01, first[1]); // a dot, via the round cap
      for (const [x, y] of rest) ctx.lineTo(x, y);
      ctx.stroke();
      return;
    }
    case 'arrow': {
      const [x1, y1] = toCanvasPoint(a.from, rect);
      const [x2, y2] = toCanvasPoint(a.to, rect);
      const angle = Math.atan2(y2 - y1, x2 - x1);
      const head = m.head + grow;
      ctx.beginPath();
      ctx.moveTo(x1, y1);
      ctx.lineTo(x2, y2);
      ctx.moveTo(x2 - head * Math.cos(angle - Math.PI / 6), y2 - head * Math.sin(angle - Math.PI / 6));
      ctx.lineTo(x2, y2);
      ctx.lineTo(x2 - head * Math.cos(angle + Math.PI / 6), y2 - head * Math.sin(angle + Math.PI / 6));
      ctx.stroke();
      return;
    }
    case 'circle': {
      const [x, y] = toCanvasPoint(a.center, rect);
      ctx.beginPath();
      // radius is a fraction of the frame width (lib/annotations.ts).
      ctx.arc(x, y, a.radius * rect.width, 0, Math.PI * 2);
      ctx.stroke();
      return;
    }
    case 'text': {
      const [x, y] = toCanvasPoint(a.at, rect);
      ctx.font = `600 ${Math.round(m.font)}px system-ui, sans-serif`;
      ctx.textBaseline = 'top';
      // `at` is the text's top-left corner.
      if (pass === 'outline') ctx.strokeText(a.text, x, y);
      else ctx.fillText(a.text, x, y);
      return;
    }
  }
}
