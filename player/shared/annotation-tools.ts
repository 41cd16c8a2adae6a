// Drawing tools for the roles that may draw (expert page, edge monitor for the surgeon). Pointer
// events on the overlay canvas become normalised annotations stamped with the media time of the
// frame on the drawer's screen at pointer-down, and go to the origin over the page's link.
//
// Keyboard (outside text fields): P pointer, F freehand, A arrow, C circle, T text, K pin toggle,
// Esc = cancel the drawing in progress, otherwise clear your own drawings. "Clear" clears all.
import { MAX_CLEAR_IDS, MAX_TEXT_LENGTH, type Annotation, type Point } from '../../lib/annotations.js';
import type { ClientMessage, ServerMessage } from '../../lib/ws-protocol.js';
import { Gesture, cleanLabel, newAnnotationId, type DrawingTool } from './annotation-gesture.js';
import type { AnnotationLayer } from './annotation-layer.js';
import { ROLE_COLORS } from './annotation-renderer.js';
import { PIN_KEY, TOOL_BUTTONS } from './annotation-toolbar.js';

/** Freehand and pointer drags are sent at most this often while they go on, ms. */
export const UPDATE_INTERVAL_MS = 100;
const NOTE_MS = 6000;

export interface AnnotationLink {
  /** False when the link is down (nothing was sent). */
  send(message: ClientMessage): boolean;
  onMessage(listener: (message: ServerMessage) => void): () => void;
}

export interface AnnotationToolsOptions {
  layer: AnnotationLayer;
  /** The toolbar rendered by renderToolbar(). */
  toolbar: HTMLElement;
  /** Where refusals and problems are shown. */
  note: HTMLElement;
  role: 'expert' | 'surgeon';
  /** Media time of the frame on the drawer's screen (origin-clock Unix ms); null while unknown. */
  mediaTime: () => number | null;
  link: AnnotationLink;
  /** Where shortcuts are listened for; default document. */
  keys?: Pick<Document, 'addEventListener' | 'removeEventListener'>;
}

interface Drag {
  gesture: Gesture;
  pointerId: number;
  lastSentAt: number;
  /** The shape changed since it was last sent. */
  changed: boolean;
  sent: number;
  timer: ReturnType<typeof setTimeout> | null;
}

export class AnnotationTools {
  readonly #o: AnnotationToolsOptions;
  readonly #off: Array<() => void> = [];
  #tool: DrawingTool = 'pointer';
  #pinned = false;
  #drag: Drag | null = null;
  #text: { input: HTMLInputElement; commit: (keep: boolean) => void } | null = null;
  /** Ids this page drew, newest last (what Esc clears). */
  #mine: string[] = [];
  #noteTimer: ReturnType<typeof setTimeout> | null = null;
  #destroyed = false;

  constructor(options: AnnotationToolsOptions) {
    this.#o = options;
    const canvas = options.layer.canvas;
    options.toolbar.style.setProperty('--sc-draw', ROLE_COLORS[options.role]);
    this.#listen(options.toolbar, 'click', (e) => this.#onToolbar(e as MouseEvent));
    this.#listen(canvas, 'pointerdown', (e) => this.#onDown(e as PointerEvent));
    this.#listen(canvas, 'pointermove', (e) => this.#onMove(e as PointerEvent));
    this.#listen(canvas, 'pointerup', (e) => this.#onUp(e as PointerEvent, true));
    this.#listen(canvas, 'pointercancel', (e) => this.#onUp(e as PointerEvent, false));
    this.#listen(options.keys ?? document, 'keydown', (e) => this.#onKey(e as KeyboardEvent));
    this.#off.push(options.link.onMessage((m) => {
      if (m.type !== 'refused') return;
      this.#note(m.code === 'SC_ERR_FORBIDDEN' ? 'Drawing is for experts and surgeons: this drawing was not shown to anyone.' : `Drawing not sent: ${m.message}`);
    }));
    this.#render();
  }

  get tool(): DrawingTool {
    return this.#tool;
  }

  get pinned(): boolean {
    return this.#pinned;
  }

  select(tool: DrawingTool): void {
    this.#tool = tool;
    this.#render();
  }

  setPinned(pinned: boolean): void {
    this.#pinned = pinned;
    this.#render();
  }

  /** Clears every drawing (anyone's) from the frame on screen on. */
  clearAll(): void {
    this.#sendClear(undefined);
  }

  /** Clears this page's own drawings. */
  clearMine(): void {
    if (this.#mine.length === 0) return;
    this.#sendClear(this.#mine.slice(-MAX_CLEAR_IDS));
    this.#mine = [];
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#cancelDrag();
    this.#text?.commit(false);
    for (const off of this.#off) off();
    this.#off.length = 0;
    if (this.#noteTimer) clearTimeout(this.#noteTimer);
  }

  #listen(target: Pick<EventTarget, 'addEventListener' | 'removeEventListener'>, type: string, listener: (e: Event) => void): void {
    target.addEventListener(type, listener);
    this.#off.push(() => target.removeEventListener(type, listener));
  }

  #render(): void {
    for (const button of this.#o.toolbar.querySelectorAll<HTMLButtonElement>('button[data-tool]')) {
      button.setAttribute('aria-pressed', String(button.dataset.tool === this.#tool));
    }
    this.#o.toolbar.querySelector('button[data-action="pin"]')?.setAttribute('aria-pressed', String(this.#pinned));
  }

  #onToolbar(e: MouseEvent): void {
    const button = (e.target as Element | null)?.closest('button');
    if (!button) return;
    const tool = TOOL_BUTTONS.find((b) => b.tool === button.dataset.tool);
    if (tool) this.select(tool.tool);
    else if (button.dataset.action === 'pin') this.setPinned(!this.#pinned);
    else if (button.dataset.action === 'clear') this.clearAll();
  }

  #onKey(e: KeyboardEvent): void {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    const target = e.target as HTMLElement | null;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    if (e.key === 'Escape') {
      if (this.#drag) this.#cancelDrag();
      else this.clearMine();
      return;
    }
    const key = e.key.toLowerCase();
    const tool = TOOL_BUTTONS.find((b) => b.key === key);
    if (tool) this.select(tool.tool);
    else if (key === PIN_KEY) this.setPinned(!this.#pinned);
  }

  /** The frame time to stamp, or null (with a note) when the picture's clock is not known yet. */
  #stamp(): number | null {
    const t = this.#o.mediaTime();
    if (t === null || !Number.isFinite(t)) {
      this.#note('The picture’s clock is not known yet: try again in a moment.');
      return null;
    }
    return t;
  }

  #onDown(e: PointerEvent): void {
    if (e.button !== 0 || this.#drag) return;
    const layer = this.#o.layer;
    const at = layer.toFrame(e.clientX, e.clientY);
    if (!at) return; // on the bars beside the picture
    e.preventDefault();
    const mediaTime = this.#stamp();
    if (mediaTime === null) return;
    if (this.#tool === 'text') {
      // Opened on pointer-up: a text field focused now would lose focus to the mouse-down.
      this.#drag = null;
      const pointerId = e.pointerId;
      const open = (up: Event): void => {
        if (!this.#destroyed && (up as PointerEvent).pointerId === pointerId) this.#openText(at, mediaTime, up as PointerEvent);
      };
      // Captured, so the pointer-up comes back here wherever it happens.
      layer.canvas.setPointerCapture(e.pointerId);
      layer.canvas.addEventListener('pointerup', open, { once: true });
      return;
    }
    const picture = layer.picture;
    const gesture = new Gesture({ tool: this.#tool, id: newAnnotationId(), mediaTime, pinned: this.#pinned, at, aspect: picture.height / picture.width });
    layer.canvas.setPointerCapture(e.pointerId);
    this.#drag = { gesture, pointerId: e.pointerId, lastSentAt: 0, changed: true, sent: 0, timer: null };
    this.#show();
    // A pointer is news the moment it lands.
    if (this.#tool === 'pointer') this.#sendDrag();
  }

  #onMove(e: PointerEvent): void {
    const drag = this.#drag;
    if (!drag || e.pointerId !== drag.pointerId) return;
    const events = drag.gesture.start.tool === 'stroke' && typeof e.getCoalescedEvents === 'function' ? e.getCoalescedEvents() : [e];
    for (const m of events.length > 0 ? events : [e]) {
      const p = this.#o.layer.toFrame(m.clientX, m.clientY, true);
      if (p) drag.gesture.move(p);
    }
    drag.changed = true;
    this.#show();
    const tool = drag.gesture.start.tool;
    if (tool !== 'stroke' && tool !== 'pointer') return; // arrows and circles go out when done
    const wait = drag.lastSentAt + UPDATE_INTERVAL_MS - performance.now();
    if (wait <= 0) this.#sendDrag();
    else drag.timer ??= setTimeout(() => {
      drag.timer = null;
      if (this.#drag === drag) this.#sendDrag();
    }, wait);
  }

  #onUp(e: PointerEvent, done: boolean): void {
    const drag = this.#drag;
    if (!drag || e.pointerId !== drag.pointerId) return;
    if (!done && drag.sent === 0) return this.#cancelDrag();
    if (drag.timer) clearTimeout(drag.timer);
    this.#drag = null;
    const annotation = drag.gesture.annotation();
    const id = drag.gesture.start.id;
    if (annotation && drag.changed) this.#sendShape(annotation, drag);
    if (drag.sent > 0) this.#remember(id);
    this.#o.layer.settleLocal(id);
    if (drag.sent === 0) this.#o.layer.dropLocal(id);
  }

  /** Esc or a cancelled pointer: the drawing goes, here and (if parts were sent) everywhere. */
  #cancelDrag(): void {
    const drag = this.#drag;
    if (!drag) return;
    this.#drag = null;
    if (drag.timer) clearTimeout(drag.timer);
    const id = drag.gesture.start.id;
    this.#o.layer.dropLocal(id);
    if (drag.sent > 0) this.#sendClear([id]);
  }

  #show(): void {
    const drag = this.#drag;
    if (!drag) return;
    const annotation = drag.gesture.annotation();
    if (annotation) this.#o.layer.showLocal(annotation, this.#o.role, false);
    else if (drag.sent === 0) this.#o.layer.dropLocal(drag.gesture.start.id);
  }

  #sendDrag(): void {
    const drag = this.#drag;
    const annotation = drag?.gesture.annotation();
    if (drag && annotation) this.#sendShape(annotation, drag);
  }

  #sendShape(annotation: Annotation, drag: Drag): void {
    drag.lastSentAt = performance.now();
    drag.changed = false;
    const sent = this.#send(annotation);
    if (sent) drag.sent += 1;
    this.#o.layer.showLocal(annotation, this.#o.role, sent);
  }

  #openText(at: Point, mediaTime: number, e: PointerEvent): void {
    this.#text?.commit(true);
    const container = this.#o.layer.canvas.parentElement;
    if (!container) return;
    const box = container.getBoundingClientRect();
    const input = document.createElement('input');
    input.type = 'text';
    input.className = 'sc-annotation-input';
    input.maxLength = MAX_TEXT_LENGTH;
    input.placeholder = 'Label — Enter to place, Esc to cancel';
    input.setAttribute('aria-label', 'annotation text');
    input.style.left = `${e.clientX - box.left - container.clientLeft}px`;
    // The renderer puts a label's top-left corner at its point: so does the field.
    input.style.top = `${e.clientY - box.top - container.clientTop}px`;
    const id = newAnnotationId();
    const pinned = this.#pinned;
    const commit = (keep: boolean): void => {
      if (this.#text?.input !== input) return;
      this.#text = null;
      input.remove();
      const text = cleanLabel(input.value);
      if (!keep || text === '') return;
      const annotation: Annotation = { id, mediaTime, kind: 'text', at, text, ...(pinned ? { pinned: true } : {}) };
      const sent = this.#send(annotation);
      this.#o.layer.showLocal(annotation, this.#o.role, sent);
      this.#o.layer.settleLocal(id);
      if (sent) this.#remember(id);
      else this.#o.layer.dropLocal(id);
    };
    input.addEventListener('keydown', (k) => {
      if (k.key === 'Enter') commit(true);
      else if (k.key === 'Escape') commit(false);
      else return;
      k.preventDefault();
      k.stopPropagation();
    });
    input.addEventListener('blur', () => commit(true));
    this.#text = { input, commit };
    container.append(input);
    input.focus();
  }

  #sendClear(ids: string[] | undefined): void {
    const mediaTime = this.#stamp();
    if (mediaTime === null) return;
    this.#send({ id: newAnnotationId(), mediaTime, kind: 'clear', ...(ids ? { ids } : {}) });
  }

  #send(annotation: Annotation): boolean {
    const sent = this.#o.link.send({ type: 'annotate', annotation });
    if (!sent) this.#note('Not connected to the origin: the drawing was not sent.');
    return sent;
  }

  #remember(id: string): void {
    if (this.#mine.includes(id)) return;
    this.#mine.push(id);
    if (this.#mine.length > MAX_CLEAR_IDS) this.#mine.shift();
  }

  #note(text: string): void {
    if (this.#destroyed) return;
    const note = this.#o.note;
    note.textContent = text;
    note.hidden = false;
    if (this.#noteTimer) clearTimeout(this.#noteTimer);
    this.#noteTimer = setTimeout(() => {
      this.#noteTimer = null;
      note.hidden = true;
    }, NOTE_MS);
  }
}
