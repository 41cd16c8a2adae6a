import { EventEmitter } from 'node:events';

// One event map per emitter: names and payloads are checked at compile time.
// A listener that throws is reported on `onListenerError` and never breaks the emitter.
export type EventMap = Record<string, unknown[]>;

export class TypedEmitter<E extends EventMap> {
  readonly #emitter = new EventEmitter();
  #onListenerError: (error: unknown, event: string) => void = (error, event) => {
    console.error(`[scopecast] listener for "${event}" threw`, error);
  };

  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  listenerCount<K extends keyof E & string>(event: K): number {
    return this.#emitter.listenerCount(event);
  }

  setListenerErrorHandler(handler: (error: unknown, event: string) => void): void {
    this.#onListenerError = handler;
  }

  protected emit<K extends keyof E & string>(event: K, ...args: E[K]): void {
    for (const listener of this.#emitter.rawListeners(event)) {
      try {
        (listener as (...a: E[K]) => void)(...args);
      } catch (error) {
        this.#onListenerError(error, event);
      }
    }
  }

  protected removeAllListeners(): void {
    this.#emitter.removeAllListeners();
  }
}
