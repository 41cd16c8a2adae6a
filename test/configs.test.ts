import { readFileSync } from 'node:fs';
import t from 'tap';
import { loadEdgeConfig, loadOriginConfig } from '../configs/index.js';
import { ScopecastError } from '../lib/errors.js';
import { TEST_INGEST_KEY, TEST_KEY, testAuthConfig } from './helpers/auth.js';

const json = (path: string): unknown => JSON.parse(readFileSync(new URL(`../configs/${path}`, import.meta.url), 'utf8'));

// What each tier cannot start without: a signing key (there is no "auth off") and the edge's
// credential at the origin.
const edgeRequired = () => ({ origin: { ingestKey: TEST_INGEST_KEY }, auth: { keys: [{ ...TEST_KEY }] } });
const originRequired = () => ({ ingest: { keys: [TEST_INGEST_KEY] }, auth: { keys: [{ ...TEST_KEY }] } });
const problems = (err: unknown): string[] => ((err as ScopecastError).details?.['problems'] as string[] | undefined) ?? [];

t.test('defaults fill a config with only the required keys; the result is frozen and the input untouched', async (t) => {
  const input = edgeRequired();
  const edge = loadEdgeConfig(input);
  t.equal(edge.rtmp.port, 1935);
  t.equal(edge.consoles.defaultProfile, 'endoscopy-1080p');
  t.equal(edge.auth.tokenTtlSeconds, 900, 'token lifetime default');
  t.same(edge.auth.scrapeTokens, []);
  t.equal(edge.audit.file, '', 'audit file: empty = <workDir>/audit.jsonl');
  t.same(input, edgeRequired(), 'input not mutated');
  t.ok(Object.isFrozen(edge) && Object.isFrozen(edge.origin) && Object.isFrozen(edge.auth.keys[0]), 'deep frozen');
  const origin = loadOriginConfig(originRequired());
  t.equal(origin.hls.partHoldBackParts, 3);
  t.equal(origin.redisUrl, '');
  t.equal(origin.auth.maxTokenTtlSeconds, 43_200);
});

t.test('no signing key, no start: a missing or empty auth section is a clear config error', async (t) => {
  for (const [tier, load, base] of [['edge', loadEdgeConfig, edgeRequired()], ['origin', loadOriginConfig, originRequired()]] as const) {
    const { auth: _auth, ...withoutAuth } = base;
    let err = t.throws(() => load(withoutAuth), `${tier} without auth`) as ScopecastError;
    t.equal(err.code, 'SC_ERR_CONFIG_INVALID');
    t.match(err.message, /\(root\): must have required property 'auth'/, `${tier}: names the missing section`);
    err = t.throws(() => load({ ...withoutAuth, auth: { scrapeTokens: [] } })) as ScopecastError;
    t.match(problems(err), [/\/auth: must have required property 'keys'/], `${tier}: auth without keys`);
    err = t.throws(() => load({ ...withoutAuth, auth: { keys: [] } })) as ScopecastError;
    t.match(problems(err), [/\/auth\/keys: must NOT have fewer than 1 items/], `${tier}: an empty key list`);
    t.throws(() => load(undefined), { code: 'SC_ERR_CONFIG_INVALID' }, `${tier}: an empty config does not start`);
  }
});

t.test('a short signing secret, duplicate key ids, a bad key id and a too-long token lifetime are refused', async (t) => {
  const key = (id: string, secret = 'x'.repeat(32)) => ({ id, secret });
  for (const [tier, load, base] of [['edge', loadEdgeConfig, edgeRequired()], ['origin', loadOriginConfig, originRequired()]] as const) {
    let err = t.throws(() => load({ ...base, auth: { keys: [key('k1', 'x'.repeat(31))] } })) as ScopecastError;
    t.match(problems(err), [/\/auth\/keys\/0\/secret: must NOT have fewer than 32 characters/], `${tier}: 31-character secret`);
    t.doesNotThrow(() => load({ ...base, auth: { keys: [key('k1')] } }), `${tier}: 32 characters is enough`);
    err = t.throws(() => load({ ...base, auth: { keys: [key('k1'), key('k2'), key('k1', 'y'.repeat(40))] } })) as ScopecastError;
    t.same(problems(err), ['/auth/keys: key ids must be unique'], `${tier}: duplicate key ids`);
    err = t.throws(() => load({ ...base, auth: { keys: [key('../k')] } })) as ScopecastError;
    t.match(problems(err), [/\/auth\/keys\/0\/id: must match pattern/], `${tier}: key id`);
    err = t.throws(() => load({ ...base, auth: { keys: [key('k1')], tokenTtlSeconds: 7200, maxTokenTtlSeconds: 3600 } })) as ScopecastError;
    t.same(problems(err), ['/auth/tokenTtlSeconds: must be <= maxTokenTtlSeconds'], `${tier}: lifetimes`);
    err = t.throws(() => load({ ...base, auth: { keys: [key('k1')], scrapeTokens: ['short'] } })) as ScopecastError;
    t.match(problems(err), [/\/auth\/scrapeTokens\/0: must NOT have fewer than 16 characters/], `${tier}: short scrape token`);
    err = t.throws(() => load({ ...base, auth: { keys: [key('k1')], enabled: false } })) as ScopecastError;
    t.match(problems(err), [/\/auth: unknown key "enabled"/], `${tier}: there is no switch to turn auth off`);
  }
});

t.test('the origin needs at least one edge credential; the edge its own; the admin key setting is gone', async (t) => {
  let err = t.throws(() => loadOriginConfig({ ...originRequired(), ingest: { keys: [] } })) as ScopecastError;
  t.match(problems(err), [/\/ingest\/keys: must NOT have fewer than 1 items/]);
  err = t.throws(() => loadEdgeConfig({ ...edgeRequired(), origin: { ingestKey: 'short' } })) as ScopecastError;
  t.match(problems(err), [/\/origin\/ingestKey: must NOT have fewer than 16 characters/]);
  err = t.throws(() => loadOriginConfig({ ...originRequired(), recordings: { adminKeys: ['recording-admin-key-0123456789'] } })) as ScopecastError;
  t.match(problems(err), [/\/recordings: unknown key "adminKeys"/], 'deleting needs an admin token now');
  err = t.throws(() => loadOriginConfig({ ...originRequired(), audit: { file: 1 } })) as ScopecastError;
  t.match(problems(err), [/\/audit\/file: must be string/]);
});

t.test('example configs are valid', async (t) => {
  t.equal(loadEdgeConfig(json('edge.example.json')).edgeId, 'county-hospital-1');
  t.equal(loadOriginConfig(json('origin.example.json')).http.port, 8090);
  // The edge verifies the tokens the origin issues: the examples share a signing key.
  t.same(loadEdgeConfig(json('edge.example.json')).auth.keys, loadOriginConfig(json('origin.example.json')).auth.keys);
});

t.test('every problem is listed in one coded error; unknown keys are rejected', async (t) => {
  const err = t.throws(() =>
    loadEdgeConfig({
      ...edgeRequired(),
      rtmp: { port: 0, colour: 'blue' },
      origin: { ingestKey: TEST_INGEST_KEY, url: 'ftp://x', retryMinMs: 500, retryMaxMs: 100 },
      consoles: { defaultProfile: 'cardiology', streams: { '../etc': 'ultrasound' } },
      surprise: true,
    }),
  ) as ScopecastError;
  t.equal(err.code, 'SC_ERR_CONFIG_INVALID');
  const text = err.message;
  t.match(text, /unknown key "surprise"/);
  t.match(text, /\/rtmp: unknown key "colour"/);
  t.match(text, /\/origin\/url/);
  t.match(text, /\/consoles\/defaultProfile: must be one of/);
  t.ok(problems(err).length >= 4, 'all schema problems at once');
  const cross = t.throws(() =>
    loadEdgeConfig({ ...edgeRequired(), rtmp: { port: 0 }, origin: { ingestKey: TEST_INGEST_KEY, retryMinMs: 500, retryMaxMs: 100 }, consoles: { streams: { '-x': 'ultrasound' } } }),
  ) as ScopecastError;
  t.match(cross.message, /rtmp\/port: must be a fixed port/);
  t.match(cross.message, /retryMaxMs: must be >= retryMinMs/);
  t.match(cross.message, /"-x" is not an allowed stream name/);
  const origin = t.throws(() => loadOriginConfig({ auth: testAuthConfig(), ingest: { keys: ['short'] }, hls: { partHoldBackParts: 1 }, redisUrl: 'http://x' })) as ScopecastError;
  t.match(origin.message, /3 problem/);
});

t.test('docker-compose configs are valid', async (t) => {
  t.equal(loadEdgeConfig(json('edge.docker.json')).origin.url, 'http://origin1:8090');
  for (const name of ['origin1.docker.json', 'origin2.docker.json']) {
    t.equal(loadOriginConfig(json(name)).http.host, '0.0.0.0', `${name} listens on every interface`);
    t.same(loadEdgeConfig(json('edge.docker.json')).auth.keys, loadOriginConfig(json(name)).auth.keys, `edge and ${name} share the signing key`);
  }
});
