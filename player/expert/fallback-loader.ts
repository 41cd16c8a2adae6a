// Loads the fallback bundle (fallback-entry.ts) with a <script> element (same origin, allowed by
// the page CSP) and hands back its class. One load per page; a failed load can be retried.
import type { LlHlsFallback } from './llhls-fallback.js';

export const FALLBACK_GLOBAL = '__scopecastLlHlsFallback';

export type LlHlsFallbackClass = typeof LlHlsFallback;

export class FallbackLoader {
  readonly #url: string;
  #loading: Promise<LlHlsFallbackClass> | null = null;

  constructor(url: string) {
    this.#url = url;
  }

  load(): Promise<LlHlsFallbackClass> {
    this.#loading ??= new Promise<LlHlsFallbackClass>((resolve, reject) => {
      const loaded = (globalThis as unknown as Record<string, LlHlsFallbackClass | undefined>)[FALLBACK_GLOBAL];
      if (loaded) return resolve(loaded);
      const script = document.createElement('script');
      script.src = this.#url;
      script.async = true;
      script.addEventListener('load', () => {
        const cls = (globalThis as unknown as Record<string, LlHlsFallbackClass | undefined>)[FALLBACK_GLOBAL];
        if (cls) resolve(cls);
        else reject(new Error('fallback bundle loaded without the player'));
      });
      script.addEventListener('error', () => {
        script.remove();
        reject(new Error(`fallback bundle ${this.#url} failed to load`));
      });
      document.head.append(script);
    }).catch((error: unknown) => {
      this.#loading = null;
      throw error;
    });
    return this.#loading;
  }
}
