// The edge's own credential at the origin: a long random key per edge (origin ingest.keys),
// sent as x-scopecast-ingest-key on ingest requests and on the control WebSocket.
import { createHash, timingSafeEqual } from 'node:crypto';
import { INGEST_HEADERS } from '../ingest-protocol.js';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export function ingestKeyChecker(keys: readonly string[]): (headers: Record<string, string | string[] | undefined>) => boolean {
  const digests = keys.map(digest);
  return (headers) => {
    const given = headers[INGEST_HEADERS.key];
    if (typeof given !== 'string' || given.length === 0) return false;
    const d = digest(given);
    // Compare with every key, always: the time taken says nothing about which one matched.
    return digests.reduce((ok, k) => timingSafeEqual(k, d) || ok, false);
  };
}
