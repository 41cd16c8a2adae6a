// Signed, short-lived access tokens scoped to a stream and a role: JWT (RFC 7519) with HS256
// only. Verification refuses every other alg (including "none"), checks the signature in constant
// time, the expiry, the scope and the revocation list, and says which check failed (never the
// token itself: tokens are not logged).
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

export type TokenRole = 'publisher' | 'expert' | 'trainee' | 'surgeon' | 'admin' | 'edge' | 'scraper';
export const TOKEN_ROLES: readonly TokenRole[] = ['publisher', 'expert', 'trainee', 'surgeon', 'admin', 'edge', 'scraper'];

export interface TokenClaims {
  /** Who: a user or device id (never a patient identifier). */
  sub: string;
  role: TokenRole;
  /** The stream it is for; '*' = every stream (admin, edge, scraper). */
  stream: string;
  /** Unix seconds. */
  iat: number;
  exp: number;
  /** Unique id, for revocation. */
  jti: string;
}

export interface TokenKey {
  /** Key id (kid header): lets keys be rotated without invalidating every token at once. */
  id: string;
  secret: string;
}

export type TokenFailure = 'missing' | 'malformed' | 'alg' | 'key' | 'signature' | 'expired' | 'not-yet-valid' | 'role' | 'stream' | 'revoked';

export type TokenCheck = { ok: true; claims: TokenClaims } | { ok: false; reason: TokenFailure };

const b64 = (data: Buffer | string): string => Buffer.from(data).toString('base64url');
const MAX_TOKEN_BYTES = 4096;
/** Clock skew allowed between signer and verifier, s. */
const LEEWAY_S = 30;

function sign(key: TokenKey, headerAndPayload: string): string {
  return createHmac('sha256', key.secret).update(headerAndPayload).digest('base64url');
}

export function issueToken(key: TokenKey, claims: { sub: string; role: TokenRole; stream: string; ttlSeconds: number; now?: number; jti?: string }): string {
  const iat = Math.floor((claims.now ?? Date.now()) / 1000);
  const payload: TokenClaims = { sub: claims.sub, role: claims.role, stream: claims.stream, iat, exp: iat + claims.ttlSeconds, jti: claims.jti ?? randomUUID() };
  const head = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: key.id }))}.${b64(JSON.stringify(payload))}`;
  return `${head}.${sign(key, head)}`;
}

export interface VerifyOptions {
  keys: readonly TokenKey[];
  /** Roles allowed here. */
  roles: readonly TokenRole[];
  /** The stream being accessed, or null for stream-less endpoints. */
  stream: string | null;
  isRevoked?: (jti: string) => boolean;
  now?: number;
}

export function verifyToken(token: string | undefined | null, options: VerifyOptions): TokenCheck {
  if (!token) return { ok: false, reason: 'missing' };
  if (token.length > MAX_TOKEN_BYTES) return { ok: false, reason: 'malformed' };
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) return { ok: false, reason: 'malformed' };
  const [h, p, sig] = parts as [string, string, string];
  let header: Record<string, unknown>;
  let claims: Partial<TokenClaims>;
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>;
    claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Partial<TokenClaims>;
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (header.alg !== 'HS256') return { ok: false, reason: 'alg' };
  const key = options.keys.find((k) => k.id === header.kid);
  if (!key) return { ok: false, reason: 'key' };
  const expected = Buffer.from(sign(key, `${h}.${p}`));
  const given = Buffer.from(sig);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'signature' };
  if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number' || typeof claims.sub !== 'string' || typeof claims.jti !== 'string' || typeof claims.stream !== 'string') {
    return { ok: false, reason: 'malformed' };
  }
  return checkClaims(claims as TokenClaims, options);
}

/** Expiry, role, scope and revocation of claims whose signature is already verified. */
export function checkClaims(claims: TokenClaims, options: Omit<VerifyOptions, 'keys'>): TokenCheck {
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  if (now > claims.exp + LEEWAY_S) return { ok: false, reason: 'expired' };
  if (claims.iat > now + LEEWAY_S) return { ok: false, reason: 'not-yet-valid' };
  if (!TOKEN_ROLES.includes(claims.role) || !options.roles.includes(claims.role)) return { ok: false, reason: 'role' };
  if (options.stream !== null && claims.stream !== '*' && claims.stream !== options.stream) return { ok: false, reason: 'stream' };
  if (options.isRevoked?.(claims.jti)) return { ok: false, reason: 'revoked' };
  return { ok: true, claims };
}
