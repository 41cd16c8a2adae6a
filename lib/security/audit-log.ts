// Append-only, hash-chained audit trail: one JSON line per event (time, user, role, IP, action,
// object, outcome), each carrying the hash of the previous line and its own. Editing, removing
// or reordering any line breaks the chain at that line; verifyAuditLog() says where.
import { createHash } from 'node:crypto';
import { appendFile, readFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';

export type AuditAction = 'publish' | 'unpublish' | 'watch' | 'annotate' | 'record' | 'download' | 'delete' | 'login' | 'revoke' | 'denied';

export interface AuditEvent {
  user: string;
  role: string;
  ip: string;
  action: AuditAction;
  /** What it was done to: a stream or recording id (never a patient identifier). */
  object: string;
  outcome: 'allowed' | 'denied' | 'ok' | 'failed';
  /** Why, for denials (e.g. the token check that failed). */
  detail?: string;
}

export interface AuditRecord extends AuditEvent {
  seq: number;
  time: string;
  prev: string;
  hash: string;
}

const GENESIS = '0'.repeat(64);

function hashOf(record: Omit<AuditRecord, 'hash'>): string {
  // Fixed key order: the hash covers exactly these fields.
  const canonical = JSON.stringify([record.seq, record.time, record.user, record.role, record.ip, record.action, record.object, record.outcome, record.detail ?? null, record.prev]);
  return createHash('sha256').update(canonical).digest('hex');
}

/** One writer per file (the origin owns its log); appends are serialised in order. */
export class AuditLog {
  readonly path: string;
  readonly #now: () => Date;
  #seq: number;
  #prev: string;
  #tail: Promise<void> = Promise.resolve();
  #errors = 0;

  constructor(path: string, now: () => Date = () => new Date()) {
    this.path = path;
    this.#now = now;
    // Continue the chain of an existing log.
    const last = existsSync(path) ? readFileSync(path, 'utf8').trimEnd().split('\n').at(-1) : undefined;
    const record = last ? (JSON.parse(last) as AuditRecord) : null;
    this.#seq = record?.seq ?? 0;
    this.#prev = record?.hash ?? GENESIS;
  }

  get errors(): number {
    return this.#errors;
  }

  /** Queue one event; resolves when it is on disk. Never throws (a failure is counted). */
  write(event: AuditEvent): Promise<void> {
    const base = { seq: ++this.#seq, time: this.#now().toISOString(), ...clean(event), prev: this.#prev };
    const record: AuditRecord = { ...base, hash: hashOf(base) };
    this.#prev = record.hash;
    const line = `${JSON.stringify(record)}\n`;
    this.#tail = this.#tail.then(() => appendFile(this.path, line, { mode: 0o600 })).catch(() => {
      this.#errors += 1;
    });
    return this.#tail;
  }

  /** Hash of the newest record: keep a copy elsewhere to detect truncation (verify head). */
  get head(): string {
    return this.#prev;
  }

  /** Everything queued is on disk. */
  flush(): Promise<void> {
    return this.#tail;
  }
}

/** Control characters and overlong fields are cut, so a hostile value cannot forge a line. */
function clean(event: AuditEvent): AuditEvent {
  const f = (v: string): string => v.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 200);
  const out: AuditEvent = { user: f(event.user), role: f(event.role), ip: f(event.ip), action: event.action, object: f(event.object), outcome: event.outcome };
  if (event.detail !== undefined) out.detail = f(event.detail);
  return out;
}

export type AuditVerdict = { ok: true; records: number } | { ok: false; line: number; reason: string };

/**
 * Re-computes the chain; the first line that does not follow is reported (1-based). A chain
 * cannot show that its own tail was cut off: pass the last hash recorded elsewhere (a copy, the
 * SIEM, /metrics) as `head` to catch that too.
 */
export async function verifyAuditLog(path: string, options: { head?: string } = {}): Promise<AuditVerdict> {
  const lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l.length > 0);
  let prev = GENESIS;
  let seq = 0;
  for (let i = 0; i < lines.length; i++) {
    let record: AuditRecord;
    try {
      record = JSON.parse(lines[i]!) as AuditRecord;
    } catch {
      return { ok: false, line: i + 1, reason: 'not JSON' };
    }
    if (record.seq !== seq + 1) return { ok: false, line: i + 1, reason: `seq ${record.seq} after ${seq}: a record was removed or reordered` };
    if (record.prev !== prev) return { ok: false, line: i + 1, reason: 'does not follow the previous record' };
    const { hash, ...rest } = record;
    if (hashOf(rest) !== hash) return { ok: false, line: i + 1, reason: 'content does not match its hash: edited' };
    prev = hash;
    seq = record.seq;
  }
  if (options.head !== undefined && options.head !== prev) {
    const at = lines.findIndex((l) => (JSON.parse(l) as AuditRecord).hash === options.head);
    return at >= 0 ? { ok: false, line: at + 2, reason: 'records after the anchored head' } : { ok: false, line: lines.length + 1, reason: 'the log ends before the anchored head: truncated' };
  }
  return { ok: true, records: lines.length };
}
