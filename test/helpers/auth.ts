// Test credentials: one signing key and one scrape token shared by the tiers a test builds, and
// tokens minted with them (the same code path the origin's /api/tokens uses).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueToken, type TokenRole } from '../../lib/security/tokens.js';

export const TEST_KEY = { id: 'test-key', secret: 'test-signing-secret-0123456789-abcdefghij' };
export const TEST_SCRAPE_TOKEN = 'test-scrape-token-0123456789';
export const TEST_INGEST_KEY = 'test-ingest-key-0123456789';

/** The `auth` section of a test tier's config. */
export const testAuthConfig = (): { keys: Array<{ id: string; secret: string }>; scrapeTokens: string[] } => ({
  keys: [{ ...TEST_KEY }],
  scrapeTokens: [TEST_SCRAPE_TOKEN],
});

export function testToken(role: TokenRole = 'admin', stream = '*', options: { ttlSeconds?: number; sub?: string; now?: number; jti?: string } = {}): string {
  return issueToken(TEST_KEY, {
    sub: options.sub ?? `test-${role}`,
    role,
    stream,
    ttlSeconds: options.ttlSeconds ?? 3600,
    ...(options.now !== undefined ? { now: options.now } : {}),
    ...(options.jti ? { jti: options.jti } : {}),
  });
}

/** Request headers carrying a token. */
export const bearer = (role: TokenRole = 'admin', stream = '*'): { authorization: string } => ({ authorization: `Bearer ${testToken(role, stream)}` });

export const scrapeHeaders = (): { authorization: string } => ({ authorization: `Bearer ${TEST_SCRAPE_TOKEN}` });

/** A URL with ?token= (pages, WebSockets). */
export function withToken(url: string, role: TokenRole = 'admin', stream = '*'): string {
  const u = new URL(url);
  u.searchParams.set('token', testToken(role, stream));
  return u.toString();
}

/**
 * The `auth` and `audit` sections of a tier a test builds itself (not through startStack): the
 * audit trail goes to a fresh temp dir, removed when the test ends, never to data/.
 */
export function testSecurity(t: { teardown(fn: () => unknown): void }): { auth: ReturnType<typeof testAuthConfig>; audit: { file: string } } {
  const dir = mkdtempSync(join(tmpdir(), 'scopecast-audit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { auth: testAuthConfig(), audit: { file: join(dir, 'audit.jsonl') } };
}
