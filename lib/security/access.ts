// Who may do what: every listener asks AccessControl with the request's token, the roles the
// endpoint allows and the stream it touches. No address is trusted (no localhost exemption);
// denials say which check failed, never the token; live sessions register their token id so a
// revocation ends them within seconds.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ScopecastError } from '../errors.js';
import type { AuditEvent, AuditLog } from './audit-log.js';
import type { Revocations } from './revocations.js';
import { checkClaims, issueToken, verifyToken, type TokenCheck, type TokenClaims, type TokenFailure, type TokenKey, type TokenRole } from './tokens.js';

/** Roles that may watch a stream live (LL-HLS, the annotation socket) or in the library. */
export const VIEWER_ROLES: readonly TokenRole[] = ['trainee', 'expert', 'surgeon', 'admin'];
/** Roles that may watch over WebRTC (sub-second, for guiding): not trainees. */
export const WEBRTC_VIEWER_ROLES: readonly TokenRole[] = ['expert', 'surgeon', 'admin'];
/** Roles that may change a recording's bookmarks and chapters. */
export const EDITOR_ROLES: readonly TokenRole[] = ['expert', 'surgeon', 'admin'];
export const ADMIN_ONLY: readonly TokenRole[] = ['admin'];
export const PUBLISHER_ROLES: readonly TokenRole[] = ['publisher', 'admin'];
/** For endpoints that span every stream (status, sessions, tokens): only tokens scoped to '*'. */
export const EVERY_STREAM = (): string => '*';
/** The `:stream` route parameter, for guard(): the stream a request is about (null when the route has none). */
export const streamParam = (request: { params: unknown }): string | null => (request.params as { stream?: string }).stream ?? null;

export type Principal = Pick<TokenClaims, 'sub' | 'role' | 'stream' | 'jti' | 'exp'>;

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified token's holder, set by AccessControl.guard(). */
    principal?: Principal;
  }
}

export interface AccessControlOptions {
  /** Signing keys; the first signs new tokens, all verify (rotation). */
  keys: readonly TokenKey[];
  /** Static bearer tokens that may read /metrics and nothing else. */
  scrapeTokens: readonly string[];
  revocations: Revocations;
  audit: AuditLog | null;
  /** Lifetime of tokens this node issues or refreshes, s. */
  tokenTtlSeconds: number;
  /** Longest lifetime an admin may ask for, s. */
  maxTokenTtlSeconds: number;
  /** Every decision, for metrics. */
  onDecision?: (outcome: 'allowed' | 'denied', reason: TokenFailure | 'ok' | 'scrape') => void;
  now?: () => number;
}

const UNAUTHENTICATED: ReadonlySet<TokenFailure> = new Set(['missing', 'malformed', 'alg', 'key', 'signature', 'expired', 'not-yet-valid', 'revoked']);
/** Denials written to the audit log per second; a flood beyond it is counted, not written. */
const DENIED_AUDIT_PER_SECOND = 20;
const CACHE_MAX = 5000;

/** The request's token: `Authorization: Bearer …`, else `?token=` (browsers cannot set WebSocket headers). */
export function tokenFromRequest(request: { headers: Record<string, string | string[] | undefined>; url: string }): string | null {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match ? match[1]! : null;
  }
  const q = request.url.indexOf('?');
  if (q < 0) return null;
  return new URLSearchParams(request.url.slice(q + 1)).get('token');
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export class AccessControl {
  readonly revocations: Revocations;
  readonly #options: AccessControlOptions;
  readonly #scrapeDigests: Buffer[];
  /** Verified signatures by token: a player asks several times a second with the same token. */
  readonly #verified = new Map<string, TokenClaims>();
  readonly #watchers = new Map<string, Set<() => void>>();
  #deniedWindow = { second: 0, count: 0 };
  #deniedUnwritten = 0;

  constructor(options: AccessControlOptions) {
    this.#options = options;
    this.revocations = options.revocations;
    this.#scrapeDigests = options.scrapeTokens.map(digest);
    this.revocations.on('revoked', (jti) => {
      const watchers = this.#watchers.get(jti);
      this.#watchers.delete(jti);
      for (const end of watchers ?? []) end();
    });
  }

  get tokenTtlSeconds(): number {
    return this.#options.tokenTtlSeconds;
  }

  /** Denials beyond the audit rate that were counted but not written. */
  get deniedUnwritten(): number {
    return this.#deniedUnwritten;
  }

  check(token: string | null | undefined, roles: readonly TokenRole[], stream: string | null): TokenCheck {
    const now = this.#options.now?.() ?? Date.now();
    const isRevoked = (jti: string): boolean => this.revocations.has(jti);
    const cached = token ? this.#verified.get(token) : undefined;
    // A cached token skips only the signature; expiry, scope and revocation are checked every time.
    const result = cached
      ? checkClaims(cached, { roles, stream, isRevoked, now })
      : verifyToken(token, { keys: this.#options.keys, roles, stream, isRevoked, now });
    if (!cached && token && (result.ok || result.reason === 'role' || result.reason === 'stream')) {
      if (this.#verified.size >= CACHE_MAX) this.#verified.clear();
      const claims = result.ok ? result.claims : decodeClaims(token);
      if (claims) this.#verified.set(token, claims);
    }
    this.#options.onDecision?.(result.ok ? 'allowed' : 'denied', result.ok ? 'ok' : result.reason);
    return result;
  }

  /**
   * The principal for this request, or a thrown 401 (no valid token) / 403 (valid token, wrong
   * role or stream). Denials are audited (rate-limited).
   */
  authorize(request: FastifyRequest, roles: readonly TokenRole[], stream: string | null, action: AuditEvent['action'] = 'denied'): Principal {
    const result = this.check(tokenFromRequest(request), roles, stream);
    if (result.ok) {
      const { sub, role, stream: scope, jti, exp } = result.claims;
      return { sub, role, stream: scope, jti, exp };
    }
    this.auditDenied({ ip: request.ip, object: stream ?? request.routeOptions.url ?? '-', reason: result.reason, action });
    throw denial(result.reason);
  }

  /** A fastify preHandler that sets request.principal or replies 401/403. */
  guard(roles: readonly TokenRole[], streamOf: (request: FastifyRequest) => string | null = () => null): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
    return async (request) => {
      request.principal = this.authorize(request, roles, streamOf(request));
    };
  }

  /** /metrics: only the configured scrape tokens (not user tokens); none configured = nobody. */
  scrapeGuard(): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
    return async (request) => {
      const token = tokenFromRequest(request);
      const given = token ? digest(token) : null;
      if (given && this.#scrapeDigests.some((d) => timingSafeEqual(d, given))) {
        this.#options.onDecision?.('allowed', 'scrape');
        return;
      }
      this.#options.onDecision?.('denied', 'scrape');
      this.auditDenied({ ip: request.ip, object: '/metrics', reason: token ? 'signature' : 'missing', action: 'denied' });
      throw new ScopecastError('SC_ERR_UNAUTHORIZED', token ? 'scrape token not accepted' : 'scrape token required (Authorization: Bearer)');
    };
  }

  issue(claims: { sub: string; role: TokenRole; stream: string; ttlSeconds?: number; jti?: string }): { token: string; exp: number; jti: string } {
    const ttl = Math.min(claims.ttlSeconds ?? this.#options.tokenTtlSeconds, this.#options.maxTokenTtlSeconds);
    const key = this.#options.keys[0];
    if (!key) throw new ScopecastError('SC_ERR_CONFIG_INVALID', 'no signing key');
    const now = this.#options.now?.() ?? Date.now();
    const token = issueToken(key, { sub: claims.sub, role: claims.role, stream: claims.stream, ttlSeconds: ttl, now, ...(claims.jti ? { jti: claims.jti } : {}) });
    const payload = decodeClaims(token)!;
    return { token, exp: payload.exp, jti: payload.jti };
  }

  /** End every session holding this token id within seconds (on every node sharing revocations). */
  async revoke(jti: string, expUnix: number): Promise<void> {
    await this.revocations.revoke(jti, expUnix);
  }

  /** Call `end` when this token id is revoked. Returns the unsubscribe. */
  watch(jti: string, end: () => void): () => void {
    if (this.revocations.has(jti)) {
      queueMicrotask(end);
      return () => {};
    }
    let set = this.#watchers.get(jti);
    if (!set) this.#watchers.set(jti, (set = new Set()));
    set.add(end);
    return () => {
      set.delete(end);
      if (set.size === 0 && this.#watchers.get(jti) === set) this.#watchers.delete(jti);
    };
  }

  audit(event: AuditEvent): void {
    void this.#options.audit?.write(event);
  }

  auditDenied(what: { ip: string; object: string; reason: string; action: AuditEvent['action']; user?: string; role?: string }): void {
    const second = Math.floor((this.#options.now?.() ?? Date.now()) / 1000);
    if (this.#deniedWindow.second !== second) this.#deniedWindow = { second, count: 0 };
    if (++this.#deniedWindow.count > DENIED_AUDIT_PER_SECOND) {
      this.#deniedUnwritten += 1;
      return;
    }
    this.audit({ user: what.user ?? '-', role: what.role ?? '-', ip: what.ip, action: what.action, object: what.object, outcome: 'denied', detail: what.reason });
  }
}

export function denial(reason: TokenFailure): ScopecastError {
  return UNAUTHENTICATED.has(reason)
    ? new ScopecastError('SC_ERR_UNAUTHORIZED', `token ${reason}`)
    : new ScopecastError('SC_ERR_FORBIDDEN', `token not valid for this ${reason}`);
}

function decodeClaims(token: string): TokenClaims | null {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as TokenClaims;
  } catch {
    return null;
  }
}
