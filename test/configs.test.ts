import { readFileSync } from 'node:fs';
import t from 'tap';
import { loadEdgeConfig, loadOriginConfig } from '../configs/index.js';
import { ScopecastError } from '../lib/errors.js';

const json = (path: string): unknown => JSON.parse(readFileSync(new URL(`../configs/${path}`, import.meta.url), 'utf8'));

t.test('defaults fill an empty config; the result is frozen and the input untouched', async (t) => {
  const input = {};
  const edge = loadEdgeConfig(input);
  t.equal(edge.rtmp.port, 1935);
  t.equal(edge.consoles.defaultProfile, 'endoscopy-1080p');
  t.same(input, {}, 'input not mutated');
  t.ok(Object.isFrozen(edge) && Object.isFrozen(edge.origin), 'deep frozen');
  const origin = loadOriginConfig(undefined);
  t.equal(origin.hls.partHoldBackParts, 3);
  t.equal(origin.redisUrl, '');
});

t.test('example configs are valid', async (t) => {
  t.equal(loadEdgeConfig(json('edge.example.json')).edgeId, 'county-hospital-1');
  t.equal(loadOriginConfig(json('origin.example.json')).http.port, 8090);
});

t.test('every problem is listed in one coded error; unknown keys are rejected', async (t) => {
  const err = t.throws(() =>
    loadEdgeConfig({
      rtmp: { port: 0, colour: 'blue' },
      origin: { url: 'ftp://x', retryMinMs: 500, retryMaxMs: 100 },
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
  t.ok((err.details?.['problems'] as string[]).length >= 4, 'all schema problems at once');
  const cross = t.throws(() => loadEdgeConfig({ rtmp: { port: 0 }, origin: { retryMinMs: 500, retryMaxMs: 100 }, consoles: { streams: { '-x': 'ultrasound' } } })) as ScopecastError;
  t.match(cross.message, /rtmp\/port: must be a fixed port/);
  t.match(cross.message, /retryMaxMs: must be >= retryMinMs/);
  t.match(cross.message, /"-x" is not an allowed stream name/);
  const origin = t.throws(() => loadOriginConfig({ ingest: { keys: ['short'] }, hls: { partHoldBackParts: 1 }, redisUrl: 'http://x' })) as ScopecastError;
  t.match(origin.message, /3 problem/);
});

t.test('docker-compose configs are valid', async (t) => {
  t.equal(loadEdgeConfig(json('edge.docker.json')).origin.url, 'http://origin:8090');
  t.equal(loadOriginConfig(json('origin.docker.json')).http.host, '0.0.0.0');
});
