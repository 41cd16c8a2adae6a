// Limits every tier's HTTP server holds against slow or greedy clients. Request bodies are
// already capped per route (bodyLimit); these cap connections and how long headers may take.
import type { Server } from 'node:http';

export interface HttpLimits {
  /** Open connections at once; more are refused by the kernel accept path (closed at once). */
  maxConnections: number;
  /** A client must finish sending its request headers within this long, ms (slowloris). */
  headersTimeoutMs: number;
}

export function applyHttpLimits(server: Server, limits: HttpLimits): void {
  server.maxConnections = limits.maxConnections;
  server.headersTimeout = limits.headersTimeoutMs;
  // No whole-request deadline: the edge's per-frame feed is one long-lived upload by design.
  server.requestTimeout = 0;
}

/** An origin serves hundreds of LL-HLS viewers, each with a blocking request or two open. */
export const ORIGIN_HTTP_LIMITS: HttpLimits = { maxConnections: 4096, headersTimeoutMs: 10_000 };
/** An edge serves a few consoles, IT staff and the surgeon's monitor. */
export const EDGE_HTTP_LIMITS: HttpLimits = { maxConnections: 256, headersTimeoutMs: 10_000 };
