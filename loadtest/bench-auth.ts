// Credentials for a stack a bench builds for itself: a random signing key, scrape token and
// ingest key per run (nothing to leak, nothing that outlives the run), and tokens minted with
// that key the way the origin's POST /api/tokens mints them.
import { randomBytes } from 'node:crypto';
import { issueToken, type TokenKey, type TokenRole } from '../lib/security/tokens.js';

/** Long enough for any bench run, s. */
const BENCH_TOKEN_TTL_S = 6 * 3600;

export class BenchAuth {
  readonly key: TokenKey = { id: 'bench', secret: randomBytes(32).toString('base64url') };
  readonly scrapeToken = randomBytes(24).toString('base64url');
  /** The edge's credential at the origin (origin ingest.keys, edge origin.ingestKey). */
  readonly ingestKey = randomBytes(24).toString('base64url');

  /** The `auth` section of both tiers: the edge verifies publisher tokens with the same key. */
  get config(): { keys: TokenKey[]; scrapeTokens: string[] } {
    return { keys: [{ ...this.key }], scrapeTokens: [this.scrapeToken] };
  }

  /** A token for one role on one stream ('*' = every stream). */
  token(role: TokenRole, stream: string): string {
    return issueToken(this.key, { sub: `bench-${role}`, role, stream, ttlSeconds: BENCH_TOKEN_TTL_S });
  }

  /** `url` with ?token= (pages and RTMP publish URLs carry their token this way). */
  withToken(url: string, role: TokenRole, stream: string): string {
    const u = new URL(url);
    u.searchParams.set('token', this.token(role, stream));
    return u.toString();
  }
}
