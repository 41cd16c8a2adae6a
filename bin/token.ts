// Issue an access token from a tier's config (its first auth key), for IT staff and scripts:
//   tsx bin/token.ts --config configs/origin.json --role expert --stream or-3 --sub dr-wang [--ttl 3600]
// Prints the token on stdout (nothing else), so it can be piped; errors go to stderr.
// The running origin issues tokens too (POST /api/tokens with an admin token) and audits each one.
import { parseArgs } from 'node:util';
import { loadOriginConfig, readConfigFile } from '../configs/index.js';
import { issueToken, TOKEN_ROLES, type TokenRole } from '../lib/security/tokens.js';
import { isStreamName } from '../lib/stream-name.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    role: { type: 'string' },
    stream: { type: 'string', default: '*' },
    sub: { type: 'string' },
    ttl: { type: 'string' },
  },
});

function fail(message: string): never {
  console.error(message);
  console.error('usage: tsx bin/token.ts --config <origin.json> --role <role> --sub <user id> [--stream <name>|*] [--ttl <seconds>]');
  process.exit(2);
}

if (!values.config) fail('--config is required (the key comes from its auth.keys)');
if (!values.role || !TOKEN_ROLES.includes(values.role as TokenRole)) fail(`--role must be one of ${TOKEN_ROLES.join(', ')}`);
if (!values.sub || !/^[A-Za-z0-9_.@-]{1,64}$/.test(values.sub)) fail('--sub: a user or device id (never a patient identifier)');
if (values.stream !== '*' && !isStreamName(values.stream)) fail('--stream: a stream name or *');
let config;
try {
  config = loadOriginConfig(readConfigFile(values.config));
} catch (err) {
  fail((err as Error).message);
}
const ttl = values.ttl === undefined ? config.auth.tokenTtlSeconds : Number(values.ttl);
if (!Number.isInteger(ttl) || ttl < 60 || ttl > config.auth.maxTokenTtlSeconds) fail(`--ttl: 60..${config.auth.maxTokenTtlSeconds} seconds`);
console.log(issueToken(config.auth.keys[0]!, { sub: values.sub, role: values.role as TokenRole, stream: values.stream!, ttlSeconds: ttl }));
