// One tier's security objects from its config: the access control (keys, scrape tokens,
// revocations in-process or through Redis) and the audit trail. Owned by the tier; close() ends
// the Redis connections and writes what is queued.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { AuthConfig } from '../../configs/security.js';
import { AccessControl, type AccessControlOptions } from './access.js';
import { AuditLog } from './audit-log.js';
import { LocalRevocations, RedisRevocations, type Revocations } from './revocations.js';

export interface TierSecurity {
  readonly access: AccessControl;
  readonly audit: AuditLog;
  close(): Promise<void>;
}

export interface TierSecurityOptions {
  auth: AuthConfig;
  /** Audit file path (created with its directory, mode 0600). */
  auditFile: string;
  /** Share revocations through Redis; empty = this process only. */
  redisUrl?: string;
  onRedisError?: (err: Error) => void;
  onDecision?: AccessControlOptions['onDecision'];
}

export function buildTierSecurity(options: TierSecurityOptions): TierSecurity {
  const auditFile = resolve(options.auditFile);
  mkdirSync(dirname(auditFile), { recursive: true, mode: 0o700 });
  const audit = new AuditLog(auditFile);
  const revocations: Revocations = options.redisUrl
    ? new RedisRevocations({ url: options.redisUrl, ...(options.onRedisError ? { onError: options.onRedisError } : {}) })
    : new LocalRevocations();
  const access = new AccessControl({
    keys: options.auth.keys,
    scrapeTokens: options.auth.scrapeTokens,
    tokenTtlSeconds: options.auth.tokenTtlSeconds,
    maxTokenTtlSeconds: options.auth.maxTokenTtlSeconds,
    revocations,
    audit,
    ...(options.onDecision ? { onDecision: options.onDecision } : {}),
  });
  let closed: Promise<void> | null = null;
  return {
    access,
    audit,
    close: () => (closed ??= (async () => {
      await revocations.close();
      await audit.flush();
    })()),
  };
}
