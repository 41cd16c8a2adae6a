// The annotation hub: one ordered log per stream. publish() gives an annotation the next seq of
// its stream; every subscriber on every origin sees every event once, in seq order. In-process
// here; RedisAnnotationHub (redis-hub.ts) shares the logs between origin processes.
import type { Annotation, AnnotationEvent, AnnotatorRole } from '../../lib/annotations.js';

export type AnnotationListener = (event: AnnotationEvent) => void;

export interface AnnotationHub {
  /** Append to the stream's log; resolves with the event as everyone will see it. */
  publish(stream: string, author: string, role: AnnotatorRole, annotation: Annotation): Promise<AnnotationEvent>;
  /** Every event from now on, in seq order. Returns the unsubscribe function. */
  subscribe(stream: string, listener: AnnotationListener): () => void;
  /**
   * Resolves once the stream's subscription is live (a Redis reader has its position): an event
   * published after this is delivered, one published before is in since(). Await it between
   * subscribe() and since() so a joiner neither misses nor repeats anything.
   */
  ready(stream: string): Promise<void>;
  /** Events with seq > after that are still held (the log keeps the last `retain`), in order. */
  since(stream: string, after: number): Promise<AnnotationEvent[]>;
  /** Whether the shared log is reachable (always true in-process). */
  readonly connected: boolean;
  /** Drop a stream's log (it ended and was recorded). */
  forget(stream: string): Promise<void>;
  close(): Promise<void>;
}

/** Events kept per stream for reconnects and late joiners. */
export const DEFAULT_RETAIN = 10_000;

export class LocalAnnotationHub implements AnnotationHub {
  readonly #logs = new Map<string, { next: number; events: AnnotationEvent[] }>();
  readonly #listeners = new Map<string, Set<AnnotationListener>>();
  readonly #retain: number;
  readonly #now: () => number;

  readonly connected = true;

  constructor(options: { retain?: number; now?: () => number } = {}) {
    this.#retain = options.retain ?? DEFAULT_RETAIN;
    this.#now = options.now ?? (() => Date.now());
  }

  async publish(stream: string, author: string, role: AnnotatorRole, annotation: Annotation): Promise<AnnotationEvent> {
    let log = this.#logs.get(stream);
    if (!log) {
      log = { next: 1, events: [] };
      this.#logs.set(stream, log);
    }
    const event: AnnotationEvent = { seq: log.next++, stream, author, role, receivedAt: this.#now(), annotation };
    log.events.push(event);
    if (log.events.length > this.#retain) log.events.splice(0, log.events.length - this.#retain);
    for (const listener of this.#listeners.get(stream) ?? []) deliver(listener, event);
    return event;
  }

  subscribe(stream: string, listener: AnnotationListener): () => void {
    let set = this.#listeners.get(stream);
    if (!set) {
      set = new Set();
      this.#listeners.set(stream, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#listeners.get(stream) === set) this.#listeners.delete(stream);
    };
  }

  async ready(): Promise<void> {}

  async since(stream: string, after: number): Promise<AnnotationEvent[]> {
    return (this.#logs.get(stream)?.events ?? []).filter((e) => e.seq > after);
  }

  async forget(stream: string): Promise<void> {
    this.#logs.delete(stream);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    this.#logs.clear();
  }
}

/** A throwing listener (a closed socket's) must not stop delivery to the others. */
export function deliver(listener: AnnotationListener, event: AnnotationEvent): void {
  try {
    listener(event);
  } catch {
    // the listener's owner handles its own failures
  }
}
