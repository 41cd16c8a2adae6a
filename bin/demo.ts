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
  const workDir = mkdtempSync(join(tmpdir(), 'scopecast-demo-'));
  const origin = await buildOrigin({
    http: { host, port: Number(args['origin-port']) },
    ingest: { keys: [ingestKey] },
    logLevel: args['log-level'],
  });
  await origin.app.listen({ host, port: origin.config.http.port });
  const originUrl = `http://${shown}:${origin.config.http.port}`;
  const edge = await buildEdge({
    http: { host, port: Number(args['edge-port']) },
    rtmp: { host, port: Number(args['rtmp-port']) },
    origin: { url: `http://127.0.0.1:${origin.config.http.port}`, ingestKey },
    workDir,
    logLevel: args['log-level'],
  });
  const { rtmp } = await edge.listen();
  const publishUrl = `rtmp://${shown}:${edge.config.rtmp.port}/live`;
  let source: SyntheticConsole | null = null;
  if (args.console && !args['no-console']) {
    source = new SyntheticConsole({ url: `rtmp://127.0.0.1:${edge.config.rtmp.port}/live/${args.stream}` });
    source.on('died', (exit) => console.error(`synthetic console stopped: ${exit.stderrTail || exit.code}`));
    source.start();
  }
  console.log(`
scopecast demo is running (edge + origin on this machine, embedded registry)

  trainee page     ${originUrl}/watch/${args.stream}
  expert page      ${originUrl}/expert/${args.stream}   (WebRTC, falls back to LL-HLS)
  latency status   ${originUrl}/status   (every viewer's latency, per hop; expert alerts)
  LL-HLS playlist  ${originUrl}/hls/${args.stream}/index.m3u8
  origin streams   ${originUrl}/api/streams     metrics ${originUrl}/metrics
  edge streams     http://${shown}:${edge.config.http.port}/api/streams
  publish (OBS)    server ${publishUrl}   stream key: any name of A-Z a-z 0-9 _ -
  publish (WHIP)   http://${shown}:${edge.config.http.port}/whip/<stream>
${source ? `\n  a synthetic 1080p30 console is publishing "${args.stream}" (${rtmp}/live/${args.stream})` : '\n  waiting for a console to publish'}

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
