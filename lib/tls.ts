// Outbound TLS for the edge's connections to the origin (CMAF uplink over fetch, control link over
// ws): trust exactly the configured CA (or the system roots), refuse anything below the floor, and
// never turn certificate verification off, whatever NODE_TLS_REJECT_UNAUTHORIZED says.
import type { SecureVersion } from 'node:tls';
import { Agent, type Dispatcher } from 'undici';

/** What an outbound TLS connection needs: the trusted CAs (absent = system roots) and the floor. */
export interface TlsClientOptions {
  ca?: Buffer;
  minVersion: SecureVersion;
}

/** Options for tls.connect / https.request / new WebSocket(url, options). */
export interface TlsConnectOptions {
  ca?: Buffer;
  minVersion: SecureVersion;
  /** Always true: said explicitly so the NODE_TLS_REJECT_UNAUTHORIZED=0 environment cannot flip it. */
  rejectUnauthorized: true;
}

export function tlsConnectOptions(client: TlsClientOptions): TlsConnectOptions {
  return { ...(client.ca ? { ca: client.ca } : {}), minVersion: client.minVersion, rejectUnauthorized: true };
}

/**
 * The edge's client for one origin URL. For https:// an own connection pool (an undici Agent, the
 * library behind Node's fetch) whose TLS uses tlsConnectOptions(); for http:// nothing: fetch
 * keeps Node's global pool, as before TLS existed.
 */
export interface OriginTlsClient {
  /** Pass as fetch(url, { dispatcher }); undefined for a plain-HTTP origin. */
  readonly dispatcher: Dispatcher | undefined;
  /** Spread into new WebSocket(url, { ... }); ignored by ws for a ws:// URL. */
  readonly ws: TlsConnectOptions;
  /** Drop the pool and anything still in flight (call after the pipelines finished). Idempotent. */
  close(): Promise<void>;
}

export function originTlsClient(originUrl: string, client: TlsClientOptions): OriginTlsClient {
  const ws = tlsConnectOptions(client);
  const agent = new URL(originUrl).protocol === 'https:' ? new Agent({ connect: ws }) : undefined;
  let closed: Promise<void> | null = null;
  return {
    dispatcher: agent,
    ws,
    close: () => (closed ??= agent ? agent.destroy().catch(() => undefined) : Promise.resolve()),
  };
}

/** The TLS and proxy part of Fastify({ ... }) for a tier's own server. */
export interface FastifyTlsOptions {
  trustProxy: boolean | string[];
}

/**
 * Spread into Fastify({ ... }): `https` when a certificate is configured (so HTTPS, and WSS for
 * @fastify/websocket, which upgrades on the same server), and trustProxy. Typed as the plain-HTTP
 * options on purpose: every plugin is written against Fastify's default server type, and an
 * https.Server hands them the same request and reply objects.
 */
export function fastifyTlsOptions(
  http: { readonly trustProxy: boolean | readonly string[] },
  server: { key: Buffer; cert: Buffer; minVersion: SecureVersion } | null,
): FastifyTlsOptions {
  const trustProxy = typeof http.trustProxy === 'boolean' ? http.trustProxy : [...http.trustProxy];
  return (server ? { trustProxy, https: { ...server } } : { trustProxy }) as FastifyTlsOptions;
}
