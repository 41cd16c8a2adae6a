// Tokens and the audit chain as units: every bad token denied with its reason, good ones
// allowed; an edited, removed, reordered or truncated audit record is found, by the library and
// by the verify command.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { AuditLog, verifyAuditLog } from '../lib/security/audit-log.js';
import { issueToken, verifyToken, type TokenKey } from '../lib/security/tokens.js';

const run = promisify(execFile);
const KEY: TokenKey = { id: 'k1', secret: 'a-test-secret-of-enough-length-0123456789' };
const OTHER: TokenKey = { id: 'k1', secret: 'another-secret-with-the-same-kid-012345678' };
const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

t.test('token matrix: bad tokens denied with the failing check, good ones allowed', async (t) => {
  const now = Date.now();
  const verify = (token: string | undefined, roles = ['expert'] as const, stream: string | null = 'endo-1', revoked: string[] = []) =>
    verifyToken(token, { keys: [KEY], roles: [...roles], stream, isRevoked: (jti) => revoked.includes(jti), now });
  const good = issueToken(KEY, { sub: 'dr-li', role: 'expert', stream: 'endo-1', ttlSeconds: 300, now, jti: 'j1' });
  t.match(verify(good), { ok: true, claims: { sub: 'dr-li', role: 'expert', stream: 'endo-1' } });
  const [h, p] = good.split('.') as [string, string];
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  const cases: Array<[string, string | undefined, string, Parameters<typeof verify>?]> = [
    ['missing', undefined, 'missing'],
    ['empty', '', 'missing'],
    ['garbage', 'not.a.token!', 'malformed'],
    ['two parts', `${h}.${p}`, 'malformed'],
    ['alg none', `${b64({ alg: 'none', typ: 'JWT', kid: 'k1' })}.${p}.`, 'alg'],
    ['alg HS512', `${b64({ alg: 'HS512', typ: 'JWT', kid: 'k1' })}.${p}.${good.split('.')[2]}`, 'alg'],
    ['unknown kid', issueToken({ id: 'k9', secret: KEY.secret }, { sub: 'x', role: 'expert', stream: 'endo-1', ttlSeconds: 60, now }), 'key'],
    ['tampered payload (role upgraded)', `${h}.${b64({ ...claims, role: 'admin' })}.${good.split('.')[2]}`, 'signature'],
    ['signed with another secret', issueToken(OTHER, { sub: 'x', role: 'expert', stream: 'endo-1', ttlSeconds: 60, now }), 'signature'],
    ['expired', issueToken(KEY, { sub: 'x', role: 'expert', stream: 'endo-1', ttlSeconds: 60, now: now - 3_600_000 }), 'expired'],
    ['issued in the future', issueToken(KEY, { sub: 'x', role: 'expert', stream: 'endo-1', ttlSeconds: 60, now: now + 3_600_000 }), 'not-yet-valid'],
    ['wrong role', issueToken(KEY, { sub: 'x', role: 'trainee', stream: 'endo-1', ttlSeconds: 60, now }), 'role'],
    ['wrong stream', issueToken(KEY, { sub: 'x', role: 'expert', stream: 'endo-2', ttlSeconds: 60, now }), 'stream'],
    ['revoked', good, 'revoked', [good, ['expert'], 'endo-1', ['j1']]],
    ['oversized', 'a'.repeat(5000), 'malformed'],
  ];
  for (const [name, token, reason, args] of cases) {
    const result = args ? verify(...args) : verify(token);
    t.same(result, { ok: false, reason }, `${name}: denied (${reason})`);
  }
  const admin = issueToken(KEY, { sub: 'it', role: 'admin', stream: '*', ttlSeconds: 60, now });
  t.ok(verify(admin, ['admin'] as unknown as readonly ['expert'], 'any-stream').ok, "an admin token for '*' opens any stream");
  t.ok(verify(good, ['expert'], null).ok, 'stream-less endpoints ignore the stream claim');
});

t.test('audit chain: intact, then each kind of tampering found at its line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scopecast-audit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'audit.jsonl');
  const log = new AuditLog(path);
  for (let i = 0; i < 20; i++) void log.write({ user: `u${i % 3}`, role: 'expert', ip: '10.0.0.7', action: i % 2 ? 'watch' : 'annotate', object: 'endo-1', outcome: 'allowed' });
  void log.write({ user: 'evil\n{"seq":99}', role: 'x', ip: '::1', action: 'denied', object: 'a\u0000b', outcome: 'denied', detail: 'signature' });
  await log.flush();
  t.same(await verifyAuditLog(path), { ok: true, records: 21 });
  t.equal(readFileSync(path, 'utf8').trimEnd().split('\n').length, 21, 'a hostile user name cannot add a line');
  const head = log.head;
  // A second writer on the same file continues the chain.
  const again = new AuditLog(path);
  await again.write({ user: 'u9', role: 'admin', ip: '10.0.0.1', action: 'delete', object: 'rec-1', outcome: 'ok' });
  t.same(await verifyAuditLog(path), { ok: true, records: 22 }, 'reopened log continues the chain');

  const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
  const tamper = async (name: string, edited: string[], line: number, opts: { head?: string } = {}): Promise<void> => {
    const p = join(dir, `${name}.jsonl`);
    writeFileSync(p, `${edited.join('\n')}\n`);
    const verdict = await verifyAuditLog(p, opts);
    t.match(verdict, { ok: false, line }, `${name}: found at line ${line} (${verdict.ok ? '' : verdict.reason})`);
  };
  const edited = [...lines];
  edited[4] = edited[4]!.replace('"outcome":"allowed"', '"outcome":"denied"');
  await tamper('edited', edited, 5);
  await tamper('removed', lines.filter((_, i) => i !== 7), 8);
  const swapped = [...lines];
  [swapped[2], swapped[3]] = [swapped[3]!, swapped[2]!];
  await tamper('reordered', swapped, 3);
  await tamper('truncated', lines.slice(0, 15), 16, { head: again.head });
  t.same(await verifyAuditLog(path, { head: again.head }), { ok: true, records: 22 }, 'the full log matches its anchored head');
  t.not(head, again.head);

  const cli = fileURLToPath(new URL('../bin/audit-verify.ts', import.meta.url));
  const ok = await run(process.execPath, ['--import', 'tsx', cli, path]);
  t.match(ok.stdout, /intact: 22 records/);
  const bad = await run(process.execPath, ['--import', 'tsx', cli, join(dir, 'edited.jsonl')]).then(() => null, (e: { code: number; stderr: string }) => e);
  t.equal(bad?.code, 1, 'verify command exits 1 on a broken chain');
  t.match(bad?.stderr, /BROKEN at line 5/);
});
