// A small typed event bus for the page's controllers. Browser-safe (no node:events).
// One event map per bus; a listener that throws is reported and never breaks the emitter.

export type EventMap = Record<string, unknown[]>;

type Listener<A extends unknown[]> = (...args: A) => void;

export class Bus<E extends EventMap> {
  readonly #listeners = new Map<keyof E, Set<Listener<never[]>>>();
  readonly #onListenerError: (error: unknown, event: string) => void;

  constructor(onListenerError?: (error: unknown, event: string) => void) {
    this.#onListenerError =
      onListenerError ?? ((error, event) => console.error(`[scopecast] listener for "${event}" threw`, error));
  }

  /** Subscribes; returns the matching unsubscribe, so a controller can undo exactly what it added. */
  on<K extends keyof E & string>(event: K, listener: Listener<E[K]>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    const stored = listener as unknown as Listener<never[]>;
    set.add(stored);
    return () => {
      const current = this.#listeners.get(event);
      if (!current) return;
      current.delete(stored);
      if (current.size === 0) this.#listeners.delete(event);
    };
  }

  emit<K extends keyof E & string>(event: K, ...args: E[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    // Snapshot: listeners added or removed during dispatch take effect next time.
    for (const listener of [...set]) {
      try {
        (listener as unknown as Listener<E[K]>)(...args);
      } catch (error) {
        this.#onListenerError(error, event);
      }
    }
  }

  /** Total listeners, or those of one event. Lets tests check that destroy() left nothing behind. */
  listenerCount(event?: keyof E & string): number {
    if (event !== undefined) return this.#listeners.get(event)?.size ?? 0;
    let total = 0;
    for (const set of this.#listeners.values()) total += set.size;
    return total;
  }
}
