// Draws the page's chrome from the bus: the status line (state + message, whichever path decided
// it) and the path label ("WebRTC" / "LL-HLS fallback").
import type { Bus } from '../watch/bus.js';
import type { ExpertEvents, ExpertPath } from './types.js';

export const PATH_LABELS: Record<ExpertPath, string> = { webrtc: 'WebRTC', llhls: 'LL-HLS fallback' };

export interface PageViewOptions {
  bus: Bus<ExpertEvents>;
  status: HTMLElement;
  pathLabel: HTMLElement;
}

export class PageView {
  readonly #unsubscribe: Array<() => void>;

  constructor(options: PageViewOptions) {
    const { bus, status, pathLabel } = options;
    this.#unsubscribe = [
      bus.on('state', (state, message) => {
        status.textContent = message;
        status.dataset.state = state;
      }),
      bus.on('path', (path, reason) => {
        pathLabel.textContent = path ? PATH_LABELS[path] : '';
        pathLabel.dataset.path = path ?? '';
        pathLabel.title = reason;
      }),
    ];
  }

  destroy(): void {
    for (const off of this.#unsubscribe) off();
    this.#unsubscribe.length = 0;
  }
}
