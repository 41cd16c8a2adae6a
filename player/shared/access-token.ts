// A page's access token. The coordinator hands out a link with ?token=<jwt>; the page reads it
// once, takes it out of the address bar at once (history.replaceState: not in screenshots,
// bookmarks or Referer), keeps it in memory only, sends it as `Authorization: Bearer` (fetch,
// hls.js) or as ?token= where a header cannot be set (WebSocket, links to the next page), and
// refreshes it at half its remaining life (POST /api/tokens/refresh). The token is never verified
// here (the server does that): its payload is read only to time the refresh and to word the
// message when access is refused. A refusal is data: one AccessDenial, emitted once, carrying the
// sentence the page shows instead of a blank player.
import { Bus, type EventMap } from '../watch/bus.js';
import { isValidStreamName } from './stream-name.js';

/** Why the page cannot go on. */
export type AccessDetails =
  /** The link has no ?token=. */
  | 'tokenMissing'
  /** The server refused it (401) and its expiry has passed. */
  | 'tokenExpired'
  /** The server refused it (401): revoked, malformed, unknown key. */
  | 'tokenRejected'
  /** The server knows it and says no (403): wrong role or stream. */
  | 'tokenForbidden';

/** An access refusal as data; `message` is what the page shows. */
export interface AccessDenial {
  type: 'accessError';
  details: AccessDetails;
  fatal: true;
  httpStatus?: number;
  code?: string;
  message: string;
}

/** What a failed request says about access; pages pass their errors (PlayerError and the like). */
export interface AccessFailure {
  httpStatus?: number;
  code?: string;
}

/** The unverified claims (lib/security/tokens.ts TokenClaims), as far as they look right. */
export interface TokenPayload {
  role: string | null;
  stream: string | null;
  /** Unix seconds. */
  iat: number | null;
  exp: number | null;
}

/** The parameter that carries the token in a page, WebSocket or link URL. */
export const TOKEN_PARAM = 'token';
const KNOWN_ROLES = ['publisher', 'expert', 'trainee', 'surgeon', 'admin', 'edge', 'scraper'];
const ASK = 'ask the coordinator for a new link.';

/** True for the statuses that mean "this token does not open this": 401 and 403. */
export function isAccessStatus(status: number | undefined): boolean {
  return status === 401 || status === 403;
}

function base64UrlJson(part: string): unknown {
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
}

/**
 * The claims of a JWT, NOT verified. Only values that look like what the server issues are kept:
 * they may be shown on the page, and a crafted link must not put arbitrary text there.
 */
export function decodeTokenPayload(token: string): TokenPayload | null {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return null;
  let claims: unknown;
  try {
    claims = base64UrlJson(parts[1]);
  } catch {
    return null;
  }
  if (typeof claims !== 'object' || claims === null) return null;
  const c = claims as Record<string, unknown>;
  const seconds = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : null);
  return {
    role: typeof c.role === 'string' && KNOWN_ROLES.includes(c.role) ? c.role : null,
    stream: c.stream === '*' || isValidStreamName(c.stream) ? (c.stream as string) : null,
    iat: seconds(c.iat),
    exp: seconds(c.exp),
  };
}

/** The token of a page URL and the same URL without it (other parameters and the hash kept). */
export function splitTokenFromUrl(href: string): { token: string | null; stripped: string } {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return { token: null, stripped: href };
  }
  const token = url.searchParams.get(TOKEN_PARAM);
  if (token === null) return { token: null, stripped: href };
  url.searchParams.delete(TOKEN_PARAM);
  return { token: token.trim() === '' ? null : token, stripped: url.toString() };
}

/** `url` with ?token= set (replaced if present). A path stays a path; an absolute URL stays absolute. */
export function withTokenParam(url: string, token: string | null): string {
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:/.test(url);
  const parsed = new URL(url, 'http://page.invalid');
  if (token === null) parsed.searchParams.delete(TOKEN_PARAM);
  else parsed.searchParams.set(TOKEN_PARAM, token);
  return absolute ? parsed.toString() : `${parsed.pathname}${parsed.search}${parsed.hash}`;
}

/**
 * hls.js `xhrSetup` that sets `headers()` on every request. hls.js 1.x loads playlists, parts and
 * segments through its XHR loader (the pages set no fetch loader), and calls xhrSetup before
 * open(): open it here so headers can be set, as hls.js's docs show.
 */
export function xhrHeadersSetup(headers: () => Record<string, string>): (xhr: XMLHttpRequest, url: string) => void {
  return (xhr, url) => {
    if (xhr.readyState === 0 /* UNSENT */) xhr.open('GET', url, true);
    for (const [name, value] of Object.entries(headers())) xhr.setRequestHeader(name, value);
  };
}

/** The sentence a page shows for a denial. Role and stream come from the (unverified) payload. */
export function accessMessage(details: AccessDetails, context: { payload?: TokenPayload | null; stream?: string; purpose?: string } = {}): string {
  switch (details) {
    case 'tokenMissing':
      return `This link has no access token — ${ASK}`;
    case 'tokenExpired':
      return `This link has expired — ${ASK}`;
    case 'tokenRejected':
      return `This link is no longer valid (withdrawn or not recognised) — ${ASK}`;
    case 'tokenForbidden': {
      const payload = context.payload;
      if (context.stream && payload?.stream && payload.stream !== '*' && payload.stream !== context.stream) {
        return `This link is not valid for this stream (${context.stream}): it is for ${payload.stream} — ${ASK}`;
      }
      if (payload?.role) return `This link (${payload.role}) does not open ${context.purpose ?? 'this page'} — ${ASK}`;
      return `This link is not valid for ${context.purpose ?? 'this page'} — ${ASK}`;
    }
  }
}

export interface AccessTokenOptions {
  /** The page's URL (location.href): its ?token= is read, and removed from the address bar. */
  href: string;
  /** window.history, to put the URL without the token in the address bar; null leaves it alone. */
  history: Pick<History, 'replaceState' | 'state'> | null;
  /** POST here to refresh: '/api/tokens/refresh' on the page's origin, or the origin's absolute URL (edge monitor). */
  refreshUrl: string;
  /** The page's stream, if it has one (words a 403). */
  stream?: string;
  /** What the page opens, for a 403: e.g. 'the expert view'. Default 'this page'. */
  purpose?: string;
  fetch?: typeof fetch;
  /** Wall clock, ms. */
  now?: () => number;
  /** Never refresh sooner than this after the last attempt, ms. Default 10 s. */
  minRefreshMs?: number;
  /** A refresh slower than this is aborted and retried, ms. Default 10 s. */
  timeoutMs?: number;
}

export interface AccessEvents extends EventMap {
  /** A refreshed token replaced the old one. */
  token: [];
  /** Access refused; emitted once. The page shows `denial.message` and stops its requests. */
  denied: [denial: AccessDenial];
}

/** window.__scopecastAccess: no token in it; read-only by contract (tests, devtools). */
export interface AccessDebugSnapshot {
  hasToken: boolean;
  role: string | null;
  stream: string | null;
  /** The token's exp, Unix s (unverified). */
  exp: number | null;
  refreshes: number;
  refreshFailures: number;
  denied: AccessDetails | null;
}

declare global {
  interface Window {
    __scopecastAccess?: AccessDebugSnapshot;
  }
}

/** Refresh failures that are not a refusal (network, 5xx) are retried at most this far apart, ms. */
const MAX_RETRY_MS = 60_000;

export class AccessToken {
  readonly #options: AccessTokenOptions;
  readonly #bus = new Bus<AccessEvents>();
  readonly #offs = new Set<() => void>();
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #minRefreshMs: number;
  #token: string | null;
  #payload: TokenPayload | null;
  /** When the token expires on this page's clock, ms (its lifetime counted from receipt, at most exp). */
  #expiresAt: number | null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #inflight: AbortController | null = null;
  #denial: AccessDenial | null = null;
  #started = false;
  #destroyed = false;
  readonly debug: AccessDebugSnapshot;

  constructor(options: AccessTokenOptions) {
    this.#options = options;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#now = options.now ?? (() => Date.now());
    this.#minRefreshMs = options.minRefreshMs ?? 10_000;
    const { token, stripped } = splitTokenFromUrl(options.href);
    // First thing, before any request or await: the token leaves the address bar.
    if (stripped !== options.href) options.history?.replaceState(options.history.state, '', stripped);
    this.#token = token;
    this.#payload = token ? decodeTokenPayload(token) : null;
    this.#expiresAt = this.#expiry(this.#payload, false);
    this.debug = { hasToken: token !== null, role: null, stream: null, exp: null, refreshes: 0, refreshFailures: 0, denied: null };
    this.#mirror();
  }

  /** The token now (refreshed ones replace it); null without one or after destroy(). */
  current(): string | null {
    return this.#token;
  }

  /** Role from the token (unverified: for the UI only, the server decides). */
  get role(): string | null {
    return this.#payload?.role ?? null;
  }

  get denial(): AccessDenial | null {
    return this.#denial;
  }

  /** Request headers carrying the token (none without one). Read per request: refreshes take effect. */
  headers(): Record<string, string> {
    return this.#token ? { Authorization: `Bearer ${this.#token}` } : {};
  }

  /** A WebSocket URL with ?token= (browsers cannot set headers on a WebSocket). */
  wsUrl(url: string): string {
    return withTokenParam(url, this.#token);
  }

  /** A link to another page with the token, so that page works too. */
  link(url: string): string {
    return withTokenParam(url, this.#token);
  }

  on<K extends keyof AccessEvents & string>(event: K, listener: (...args: AccessEvents[K]) => void): () => void {
    const off = this.#bus.on(event, listener);
    this.#offs.add(off);
    return () => {
      this.#offs.delete(off);
      off();
    };
  }

  /** Without a token: denied now (subscribe first). Otherwise the refresh is scheduled. */
  start(): void {
    if (this.#started || this.#destroyed) return;
    this.#started = true;
    if (!this.#token) {
      this.deny();
      return;
    }
    this.#schedule(this.#halfLife());
  }

  /**
   * The page's verdict on a refused request (401/403) or a missing token: one AccessDenial, emitted
   * once (later calls return the first). Refreshing stops. The server decides; the page's clock
   * only words it (a 401 after the expiry says "expired").
   */
  deny(failure: AccessFailure = {}): AccessDenial {
    if (this.#denial) return this.#denial;
    let details: AccessDetails;
    if (!this.#token) details = 'tokenMissing';
    else if (failure.httpStatus === 403) details = 'tokenForbidden';
    else if (this.#expiresAt !== null && this.#now() >= this.#expiresAt) details = 'tokenExpired';
    else details = 'tokenRejected';
    const denial: AccessDenial = {
      type: 'accessError',
      details,
      fatal: true,
      ...(failure.httpStatus !== undefined ? { httpStatus: failure.httpStatus } : {}),
      ...(failure.code !== undefined ? { code: failure.code } : {}),
      message: accessMessage(details, {
        payload: this.#payload,
        ...(this.#options.stream !== undefined ? { stream: this.#options.stream } : {}),
        ...(this.#options.purpose !== undefined ? { purpose: this.#options.purpose } : {}),
      }),
    };
    this.#denial = denial;
    this.#stopRefresh();
    this.debug.denied = details;
    this.#bus.emit('denied', denial);
    return denial;
  }

  /** Stops refreshing and forgets the token. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#stopRefresh();
    this.#token = null;
    this.debug.hasToken = false;
    // Listeners go with the controller: nothing registered on it outlives it.
    for (const off of this.#offs) off();
    this.#offs.clear();
  }

  #expiry(payload: TokenPayload | null, fresh: boolean): number | null {
    if (!payload || payload.exp === null) return null;
    const now = this.#now();
    const untilExp = payload.exp * 1000 - now;
    const lifetime = payload.iat !== null ? (payload.exp - payload.iat) * 1000 : null;
    // A token just minted by the server lives its whole lifetime from now, whatever this clock
    // says; the link's token at most that (a clock running behind would otherwise wait too long).
    if (fresh && lifetime !== null) return now + lifetime;
    return now + (lifetime !== null ? Math.min(untilExp, lifetime) : untilExp);
  }

  #halfLife(): number {
    if (this.#expiresAt === null) return this.#minRefreshMs;
    return Math.max(this.#minRefreshMs, (this.#expiresAt - this.#now()) / 2);
  }

  #schedule(delayMs: number): void {
    if (this.#destroyed || this.#denial) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#refresh();
    }, delayMs);
  }

  async #refresh(): Promise<void> {
    const token = this.#token;
    if (!token || this.#destroyed || this.#denial) return;
    const controller = new AbortController();
    this.#inflight = controller;
    const timeout = setTimeout(() => controller.abort(), this.#options.timeoutMs ?? 10_000);
    let status = 0;
    let body: unknown = null;
    try {
      // No body, no content type: the grant is the token itself.
      const response = await this.#fetch(this.#options.refreshUrl, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
        cache: 'no-store',
        credentials: 'omit',
        signal: controller.signal,
      });
      status = response.status;
      body = await response.json().catch(() => null);
    } catch {
      status = 0; // network failure, timeout, or a CORS refusal: transient as far as the page can tell
    } finally {
      clearTimeout(timeout);
      if (this.#inflight === controller) this.#inflight = null;
    }
    if (this.#destroyed || this.#denial) return;
    const next = typeof body === 'object' && body !== null ? (body as { token?: unknown }).token : undefined;
    if (status === 200 && typeof next === 'string' && next.length > 0) {
      this.#token = next;
      this.#payload = decodeTokenPayload(next) ?? this.#payload;
      this.#expiresAt = this.#expiry(this.#payload, true);
      this.debug.refreshes += 1;
      this.#mirror();
      this.#bus.emit('token');
      this.#schedule(this.#halfLife());
      return;
    }
    if (isAccessStatus(status)) {
      const code = typeof body === 'object' && body !== null && typeof (body as { code?: unknown }).code === 'string' ? (body as { code: string }).code : undefined;
      this.deny({ httpStatus: status, ...(code ? { code } : {}) });
      return;
    }
    // Not a refusal: keep the token (it still opens everything until it expires) and try again
    // sooner. Past its expiry the next request the page makes gets the server's verdict.
    this.debug.refreshFailures += 1;
    const left = this.#expiresAt === null ? 0 : this.#expiresAt - this.#now();
    this.#schedule(Math.min(MAX_RETRY_MS, Math.max(this.#minRefreshMs / 2, left / 4)));
  }

  #stopRefresh(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#inflight?.abort();
    this.#inflight = null;
  }

  #mirror(): void {
    this.debug.hasToken = this.#token !== null;
    this.debug.role = this.#payload?.role ?? null;
    this.debug.stream = this.#payload?.stream ?? null;
    this.debug.exp = this.#payload?.exp ?? null;
  }
}

/** Where the server's WebSocket refusals come from: the page's LatencyLink. */
export interface RefusalSource {
  onMessage(listener: (message: { type: string; code?: string }) => void): () => void;
}

/**
 * A socket the server ends for access (a revoked token: `{type:'error', code:'SC_ERR_UNAUTHORIZED'}`
 * before the close) denies the page. Returns the unsubscribe function.
 */
export function denyOnSocketRefusal(source: RefusalSource, access: AccessToken): () => void {
  return source.onMessage((message) => {
    if (message.type !== 'error') return;
    if (message.code === 'SC_ERR_UNAUTHORIZED') access.deny({ httpStatus: 401, code: message.code });
    else if (message.code === 'SC_ERR_FORBIDDEN') access.deny({ httpStatus: 403, code: message.code });
  });
}
