// The auth and audit sections, the same on every tier. There is no "auth off" setting and no
// address that is trusted without a token: a tier without a signing key does not start.
import type { TokenKey } from '../lib/security/tokens.js';

export interface AuthConfig {
  /**
   * HS256 signing keys ({id, secret}); the first signs the tokens this node issues, all verify
   * (rotate by adding a new key first, removing the old one after the longest token lifetime).
   */
  keys: TokenKey[];
  /** Bearer tokens that may read /metrics (Prometheus' `authorization.credentials_file`). */
  scrapeTokens: string[];
  /** Lifetime of tokens issued or refreshed by this node, s (pages refresh at half-life). */
  tokenTtlSeconds: number;
  /** Longest lifetime an admin may ask for when issuing, s. */
  maxTokenTtlSeconds: number;
}

export interface AuditConfig {
  /** Append-only, hash-chained JSONL; empty = the tier's default under its data directory. */
  file: string;
}

export const AUTH_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    keys: {
      type: 'array',
      minItems: 1,
      maxItems: 8,
      items: {
        type: 'object',
        additionalProperties: false,
        properties: {
          id: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,32}$' },
          // 32 characters: 256-bit HMAC keys need that much entropy to be worth their name.
          secret: { type: 'string', minLength: 32, maxLength: 512 },
        },
        required: ['id', 'secret'],
      },
    },
    scrapeTokens: { type: 'array', items: { type: 'string', minLength: 16, maxLength: 512 }, default: [] },
    tokenTtlSeconds: { type: 'integer', default: 900, minimum: 60, maximum: 86_400 },
    maxTokenTtlSeconds: { type: 'integer', default: 43_200, minimum: 60, maximum: 604_800 },
  },
  required: ['keys', 'scrapeTokens', 'tokenTtlSeconds', 'maxTokenTtlSeconds'],
} as const;

export const AUDIT_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: { file: { type: 'string', default: '' } },
  required: ['file'],
} as const;

export function authProblems(auth: AuthConfig): string[] {
  const problems: string[] = [];
  const ids = auth.keys.map((k) => k.id);
  if (new Set(ids).size !== ids.length) problems.push('/auth/keys: key ids must be unique');
  if (auth.tokenTtlSeconds > auth.maxTokenTtlSeconds) problems.push('/auth/tokenTtlSeconds: must be <= maxTokenTtlSeconds');
  return problems;
}
