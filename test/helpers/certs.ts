// Throwaway PKI for TLS tests: a CA and a server certificate for 127.0.0.1/localhost, made with the
// openssl CLI (argument arrays, no shell) from an explicit config, so the system openssl.cnf plays
// no part. EC P-256 keys: fast to generate, accepted by Node, OpenSSL and GnuTLS (ffmpeg).
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCa {
  /** PEM files. */
  caFile: string;
  certFile: string;
  keyFile: string;
}

const CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = scopecast test
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA named `name` and a server certificate it signed, written into dir as <name>-*.pem. */
export async function makeTestCa(dir: string, name: string): Promise<TestCa> {
  const config = join(dir, `${name}.cnf`);
  await writeFile(config, CONFIG);
  const file = (suffix: string): string => join(dir, `${name}-${suffix}`);
  const ca: TestCa = { caFile: file('ca.pem'), certFile: file('server.pem'), keyFile: file('server-key.pem') };
  await run('openssl', ['req', '-x509', '-config', config, '-extensions', 'v3_ca', ...EC_KEY, '-keyout', file('ca-key.pem'), '-out', ca.caFile, '-days', '2', '-subj', `/CN=${name} test CA`]);
  await run('openssl', ['req', '-new', '-config', config, ...EC_KEY, '-keyout', ca.keyFile, '-out', file('server.csr'), '-subj', '/CN=127.0.0.1']);
  await run('openssl', [
    'x509', '-req', '-in', file('server.csr'), '-CA', ca.caFile, '-CAkey', file('ca-key.pem'), '-CAcreateserial',
    '-out', ca.certFile, '-days', '2', '-extfile', config, '-extensions', 'v3_server',
  ]);
  return ca;
}
