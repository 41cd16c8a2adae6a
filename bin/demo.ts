// npm start: the whole chain on one machine, on the embedded in-process registry.
//   synthetic console (1080p30 test picture with a latency barcode) --RTMP--> edge --CMAF--> origin
// then open the printed trainee URL. Options: --host 0.0.0.0 to reach it from another machine,
// --no-console to wait for a real console / OBS instead of the synthetic one.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { build as buildEdge } from '../edge/index.js';
import { build as buildOrigin } from '../origin/index.js';
import { SyntheticConsole } from '../loadtest/index.js';
import { closeOnSignal, exitOnStartupError } from './cli.js';
import { issueToken, type TokenRole } from '../lib/security/tokens.js';

const { values: args } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    'origin-port': { type: 'string', default: '8090' },
    'edge-port': { type: 'string', default: '8080' },
    'rtmp-port': { type: 'string', default: '1935' },
    stream: { type: 'string', default: 'demo' },
    console: { type: 'boolean', default: true },
    'no-console': { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'warn' },
  },
});

try {
  const host = args.host;
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host;
  const ingestKey = randomBytes(24).toString('base64url');
  // A fresh signing key and scrape token per run: the links printed below stop working when the
  // demo stops. Real deployments keep keys in their config (see README, Security).
  const signingKey = { id: 'demo', secret: randomBytes(32).toString('base64url') };
  const scrapeToken = randomBytes(24).toString('base64url');
  const auth = { keys: [signingKey], scrapeTokens: [scrapeToken], tokenTtlSeconds: 3600 };
  const token = (role: TokenRole, stream: string, sub: string): string => issueToken(signingKey, { sub, role, stream, ttlSeconds: 12 * 3600 });
  const workDir = mkdtempSync(join(tmpdir(), 'scopecast-demo-'));
  const origin = await buildOrigin({
    http: { host, port: Number(args['origin-port']) },
    ingest: { keys: [ingestKey] },
    recordings: { dir: join(workDir, 'origin-recordings') },
    auth,
    audit: { file: join(workDir, 'origin-audit.jsonl') },
    logLevel: args['log-level'],
  });
  await origin.app.listen({ host, port: origin.config.http.port });
  const originUrl = `http://${shown}:${origin.config.http.port}`;
  const edge = await buildEdge({
    http: { host, port: Number(args['edge-port']) },
    rtmp: { host, port: Number(args['rtmp-port']) },
    origin: { url: `http://127.0.0.1:${origin.config.http.port}`, ingestKey },
    // The demo's console is listed (others are refused: PHI masking fails closed), with a PHI mask
    // where a tower prints the patient label: bottom-left corner, clear of the latency stamp at the top.
    consoles: { streams: { [args.stream]: { profile: 'endoscopy-1080p', masks: [{ x: 0, y: 0.88, w: 0.3, h: 0.12 }] } } },
    workDir,
    auth,
    audit: { file: join(workDir, 'edge-audit.jsonl') },
    logLevel: args['log-level'],
  });
  const { rtmp } = await edge.listen();
  const stream = args.stream;
  const q = (role: TokenRole, scope: string, sub: string): string => `?token=${token(role, scope, sub)}`;
  const publishUrl = `rtmp://${shown}:${edge.config.rtmp.port}/live`;
  let source: SyntheticConsole | null = null;
  if (args.console && !args['no-console']) {
    source = new SyntheticConsole({ url: `rtmp://127.0.0.1:${edge.config.rtmp.port}/live/${args.stream}${q('publisher', stream, 'synthetic-console')}` });
    source.on('died', (exit) => console.error(`synthetic console stopped: ${exit.stderrTail || exit.code}`));
    source.start();
  }
  console.log(`
scopecast demo is running (edge + origin on this machine, embedded registry)

Every link carries its own access token (role + stream, 12 h); the pages take it from the URL.

  trainee page     ${originUrl}/watch/${stream}${q('trainee', stream, 'demo-trainee')}
  expert page      ${originUrl}/expert/${stream}${q('expert', stream, 'demo-expert')}
                   (WebRTC, falls back to LL-HLS)
  surgeon monitor  http://${shown}:${edge.config.http.port}/monitor/${stream}${q('surgeon', stream, 'demo-surgeon')}
  library          ${originUrl}/library${q('trainee', '*', 'demo-trainee')}
  latency status   ${originUrl}/status${q('admin', '*', 'demo-admin')}
  origin metrics   curl -H 'Authorization: Bearer ${scrapeToken}' ${originUrl}/metrics
  publish (OBS)    server ${publishUrl}   stream key: ${stream}${q('publisher', stream, 'demo-console')}
  publish (WHIP)   http://${shown}:${edge.config.http.port}/whip/${stream}   bearer token: ${token('publisher', stream, 'demo-whip')}
${source ? `\n  a synthetic 1080p30 console is publishing "${args.stream}" (${rtmp}/live/${stream})` : '\n  waiting for a console to publish'}

Ctrl-C stops everything.`);
  closeOnSignal(async () => {
    await source?.close();
    await edge.close();
    await origin.close();
    rmSync(workDir, { recursive: true, force: true });
  });
} catch (err) {
  exitOnStartupError(err);
}
