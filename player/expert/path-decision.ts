// Pure: what the expert page does after a WebRTC attempt's verdict. Frames -> WebRTC on screen.
// A start that failed -> LL-HLS, and WebRTC again every retryMs in the background. An established
// session that dropped -> LL-HLS while reconnecting with backoff (1, 2, 4, 8, 8 ... s). A refused
// token (WHEP 401/403) -> nothing more: the page says the link does not open the expert view.
import { backoffDelay } from '../watch/status-controller.js';
import type { WebRtcOutcome } from './webrtc-controller.js';

export interface PathPolicy {
  /** After WebRTC failed to start: retry it in the background this often, ms. */
  retryMs: number;
  /** After an established session dropped: first reconnect delay, doubling per failure, ms. */
  reconnectInitialMs: number;
  /** Cap of the reconnect delay, ms. */
  reconnectMaxMs: number;
}

export const DEFAULT_PATH_POLICY: PathPolicy = { retryMs: 10_000, reconnectInitialMs: 1000, reconnectMaxMs: 8000 };

/** What decidePath remembers between outcomes. */
export interface PathContext {
  /** True after an established session dropped, until WebRTC delivers frames again. */
  reconnecting: boolean;
  /** Reconnect attempts scheduled since the drop (drives the backoff). */
  attempt: number;
}

export const INITIAL_PATH_CONTEXT: PathContext = { reconnecting: false, attempt: 0 };

export type PathDecision =
  /** Show WebRTC; stop the fallback. */
  | { action: 'use-webrtc' }
  /** End this WebRTC session, show LL-HLS (start it if needed), try WebRTC again in retryInMs. */
  | { action: 'fallback'; retryInMs: number }
  /**
   * WHEP refused the token (401/403): this link does not open the expert view. No fallback (a
   * trainee link must not quietly become a trainee view on the expert page) and no retry.
   */
  | { action: 'denied' };

export function decidePath(
  context: PathContext,
  outcome: WebRtcOutcome,
  policy: PathPolicy = DEFAULT_PATH_POLICY,
): { decision: PathDecision; next: PathContext } {
  const reconnectDelay = (attempt: number): number => backoffDelay(attempt, policy.reconnectInitialMs, policy.reconnectMaxMs);
  if (outcome.kind !== 'frames' && (outcome.error.httpStatus === 401 || outcome.error.httpStatus === 403)) {
    return { decision: { action: 'denied' }, next: context };
  }
  switch (outcome.kind) {
    case 'frames':
      return { decision: { action: 'use-webrtc' }, next: INITIAL_PATH_CONTEXT };
    case 'dropped':
      return { decision: { action: 'fallback', retryInMs: reconnectDelay(0) }, next: { reconnecting: true, attempt: 1 } };
    case 'failed':
      if (context.reconnecting) {
        return {
          decision: { action: 'fallback', retryInMs: reconnectDelay(context.attempt) },
          next: { reconnecting: true, attempt: context.attempt + 1 },
        };
      }
      return { decision: { action: 'fallback', retryInMs: policy.retryMs }, next: context };
  }
}
