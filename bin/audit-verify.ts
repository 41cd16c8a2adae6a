// Check an audit log's hash chain: tsx bin/audit-verify.ts <audit.jsonl> [--head <sha256>]
// Exit 0 = intact, 1 = broken (the first bad line is printed), 2 = usage.
import { verifyAuditLog } from '../lib/security/audit-log.js';

const [path, flag, head] = process.argv.slice(2);
if (!path || (flag !== undefined && (flag !== '--head' || !head))) {
  console.error('usage: tsx bin/audit-verify.ts <audit.jsonl> [--head <sha256 of the last record>]');
  process.exit(2);
}
try {
  const verdict = await verifyAuditLog(path, head ? { head } : {});
  if (verdict.ok) {
    console.log(`audit log intact: ${verdict.records} records`);
    process.exit(0);
  }
  console.error(`audit log BROKEN at line ${verdict.line}: ${verdict.reason}`);
  process.exit(1);
} catch (err) {
  console.error(`cannot read ${path}: ${(err as Error).message}`);
  process.exit(2);
}
