// The `tls` section both tiers share: HTTPS/WSS for the tier's own HTTP server (and RTMPS on the
// edge) from a PEM certificate and key, with a protocol floor of TLS 1.2. The schema and the
// cross-field rules are pure; readTlsFiles() is the one place that touches the files, called by
// build() so a missing or unreadable file fails the start with SC_ERR_CONFIG_INVALID.
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureVersion } from 'node:tls';
import type { TlsClientOptions } from '../lib/tls.js';
import { invalid } from './validate.js';

export const TLS_MIN_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
export type TlsMinVersion = (typeof TLS_MIN_VERSIONS)[number];

export interface TlsConfig {
  /** PEM certificate chain (leaf first, then intermediates); empty = plain HTTP. */
  certFile: string;
  /** PEM private key of certFile; required when certFile is set. */
  keyFile: string;
  /**
   * PEM CA bundle trusted for this tier's outbound TLS (the edge's uplink and control link to an
   * https:// origin; an origin pulling a stream from another origin) instead of the system roots,
   * e.g. a private hospital CA. Empty = system roots.
   */
  caFile: string;
  /** Lowest TLS version accepted, by the server and by outbound connections. */
  minVersion: TlsMinVersion;
}

export const TLS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    certFile: { type: 'string', default: '' },
    keyFile: { type: 'string', default: '' },
    caFile: { type: 'string', default: '' },
    minVersion: { type: 'string', enum: TLS_MIN_VERSIONS, default: 'TLSv1.2' },
  },
  required: ['certFile', 'keyFile', 'caFile', 'minVersion'],
} as const;

/**
 * Cross-field rules (no file access): a certificate needs its key and the other way round; a tier
 * without outbound TLS (the origin) refuses a caFile rather than ignore it.
 */
export function tlsProblems(c: TlsConfig, options: { outbound: boolean } = { outbound: true }): string[] {
  const problems: string[] = [];
  if (c.caFile && !options.outbound) problems.push('/tls/caFile: this tier makes no outbound TLS connections; leave it empty');
  if (c.certFile && !c.keyFile) problems.push('/tls/keyFile: required when certFile is set');
  if (c.keyFile && !c.certFile) problems.push('/tls/certFile: required when keyFile is set (a key alone serves nothing)');
  return problems;
}

/** Server side: exactly what https.createServer / Fastify({ https }) / tls.createServer take. */
export interface TlsServerOptions {
  key: Buffer;
  cert: Buffer;
  minVersion: SecureVersion;
}

export interface TlsFiles {
  /** null = no certificate configured: the tier serves plain HTTP (and no RTMPS). */
  server: TlsServerOptions | null;
  /** Outbound https/wss (the edge's link to the origin). */
  client: TlsClientOptions;
}

/**
 * Read the configured PEM files and check that they load (key matches certificate, CA parses).
 * Throws SC_ERR_CONFIG_INVALID listing every problem; never logs or returns file contents in it.
 */
export function readTlsFiles(tier: string, c: TlsConfig): TlsFiles {
  const problems: string[] = [];
  const read = (key: 'certFile' | 'keyFile' | 'caFile'): Buffer | undefined => {
    const path = c[key];
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      problems.push(`/tls/${key}: cannot read ${JSON.stringify(path)} (${code})`);
      return undefined;
    }
  };
  const cert = read('certFile');
  const key = read('keyFile');
  const ca = read('caFile');
  // Loading the context now turns a wrong key, a non-PEM file or a cert/key mismatch into a
  // start-up error instead of a failed handshake on the first console or viewer.
  if (cert && key) {
    try {
      createSecureContext({ key, cert, minVersion: c.minVersion });
    } catch (err) {
      problems.push(`/tls: certFile/keyFile do not load as a PEM certificate and its key: ${(err as Error).message}`);
    }
  }
  // OpenSSL skips what is not a certificate in a CA bundle without a word: insist on one.
  if (ca && !ca.includes('-----BEGIN CERTIFICATE-----')) problems.push('/tls/caFile: holds no PEM certificate');
  else if (ca) {
    try {
      createSecureContext({ ca });
    } catch (err) {
      problems.push(`/tls/caFile: does not load as PEM CA certificates: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw invalid(tier, problems);
  return {
    server: cert && key ? { key, cert, minVersion: c.minVersion } : null,
    client: { ...(ca ? { ca } : {}), minVersion: c.minVersion },
  };
}
