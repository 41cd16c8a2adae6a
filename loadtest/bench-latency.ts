// npm run bench:latency [-- --path llhls|webrtc --duration 30 --warmup 5 --client node|chromium|both
//                          --source-size 1920x1080 --viewers N (webrtc: N background WHEP viewers)]
// Percentiles are steady state (after --warmup s); start-up is reported as TTFF, the first
// frame's age and the second from which the per-second median stays under 1 s.
//
// Glass-to-glass latency from pixels. The synthetic console (1080p30) stamps its send time into
// every frame and publishes RTMP to a real edge; the edge re-encodes (endoscopy-1080p -> 720p30)
// and pushes CMAF to a real origin. Two viewers, one after the other on the same live stream:
//  - node: an LL-HLS client that follows the origin like hls.js (starts PART-HOLD-BACK behind the
//    edge on an independent part, then blocking reloads), ffmpeg decodes each part as soon as it
//    arrives, the stamp is read from each decoded frame: the delivery latency of the LL-HLS path
//    without a player's hold-back buffer.
//  - chromium: the real trainee page (hls.js + video.js) in headless Chromium; the stamp is read
//    from every presented frame (requestVideoFrameCallback); latency = display time - stamp.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { build as buildEdge } from '../edge/index.js';
import { build as buildOrigin } from '../origin/index.js';
import { freePort } from '../lib/net.js';
import { BenchAuth } from './bench-auth.js';
import { WEBRTC_CHROMIUM_ARGS } from './chromium.js';
import { measureChromium, measureNodeLlHls, measureNodeWebRtc, type ViewerResult } from './measure.js';
import { ms, type Summary } from './stats.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '5' },
    path: { type: 'string', default: 'llhls' },
    client: { type: 'string', default: 'both' },
    'source-size': { type: 'string', default: '1920x1080' },
    viewers: { type: 'string', default: '0' },
  },
});
const durationS = Number(args.duration);
const warmupS = Number(args.warmup);
const path = String(args.path);
if (path !== 'llhls' && path !== 'webrtc') {
  console.error(`--path ${path}: use llhls or webrtc`);
  process.exit(2);
}
const backgroundViewers = Number(args.viewers);
const clients = args.client === 'both' ? ['node', 'chromium'] : [String(args.client)];
if (!clients.every((c) => c === 'node' || c === 'chromium')) {
  console.error(`--client ${args.client}: use node, chromium or both`);
  process.exit(2);
}
const [sourceWidth, sourceHeight] = String(args['source-size']).split('x').map(Number) as [number, number];
const sleep = (msec: number): Promise<void> => new Promise((r) => setTimeout(r, msec));
const measureWindow = { warmupS, durationS };
const workDir = mkdtempSync(join(tmpdir(), 'scopecast-bench-'));
// Credentials for this run only: a random signing key; every viewer and the console get a token.
const auth = new BenchAuth();
const key = auth.ingestKey;
const origin = await buildOrigin({
  http: { host: '127.0.0.1', port: 0 },
  ingest: { keys: [key] },
  webrtc: { interfaceAddress: '127.0.0.1', additionalHostAddresses: ['127.0.0.1'] },
  auth: auth.config,
  audit: { file: join(workDir, 'origin-audit.jsonl') },
  logLevel: 'warn',
});
const originUrl = await origin.app.listen({ host: '127.0.0.1', port: 0 });
const rtmpPort = await freePort();
const edge = await buildEdge({
  http: { host: '127.0.0.1', port: 0 },
  rtmp: { host: '127.0.0.1', port: rtmpPort },
  origin: { url: originUrl, ingestKey: key },
  // The bench console is listed (an unlisted one is refused: PHI masking fails closed).
  consoles: { streams: { bench: 'endoscopy-1080p' } },
  workDir,
  auth: auth.config,
  audit: { file: join(workDir, 'edge-audit.jsonl') },
  logLevel: 'warn',
});
await edge.listen();
// The console runs as its own process (as a real one is its own device): painting 1080p frames
// in this event loop would delay the edge and origin we are measuring.
const source = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../bin/synthetic-console.ts', import.meta.url)), `rtmp://127.0.0.1:${rtmpPort}/live/bench?token=${auth.token('publisher', 'bench')}`, '--size', `${sourceWidth}x${sourceHeight}`], { stdio: ['ignore', 'ignore', 'inherit'] });
const sourceExited = new Promise((resolve) => source.once('exit', resolve));
const masterUrl = `${originUrl}/hls/bench/index.m3u8`;
// The least role each viewer needs: trainee for LL-HLS, expert for WebRTC.
const traineeToken = auth.token('trainee', 'bench');
const expertToken = auth.token('expert', 'bench');
const deadline = Date.now() + 20_000;
while (!(await fetch(masterUrl, { headers: { authorization: `Bearer ${traineeToken}` } }).then((r) => r.ok, () => false))) {
  if (Date.now() > deadline) throw new Error('stream never appeared at the origin');
  await sleep(100);
}
await sleep(2000); // let the live window fill like a viewer joining a running case

// Background WHEP viewers (load) in their own process, as real viewers are other machines:
// they receive everything but are not measured.
let background: ReturnType<typeof spawn> | null = null;
if (path === 'webrtc') {
  while (!origin.registry.get('bench')?.realtime.track) await sleep(100);
  if (backgroundViewers > 0) {
    // The token through the environment, not argv (a command line is readable by every user).
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./whep-viewers.ts', import.meta.url)), `${originUrl}/whep/bench`, String(backgroundViewers)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, SCOPECAST_TOKEN: expertToken },
    });
    background = child;
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`background viewers exited (${code})`)));
    });
  }
}
const results: ViewerResult[] = [];
for (const c of clients) {
  if (path === 'llhls') {
    results.push((c === 'node' ? await measureNodeLlHls(masterUrl, measureWindow, traineeToken) : await measureChromium(`${originUrl}/watch/bench?token=${traineeToken}`, '.sc-stage video', 'Chromium trainee page (hls.js)', measureWindow)).result);
  } else {
    results.push(
      (c === 'node'
        ? await measureNodeWebRtc(`${originUrl}/whep/bench`, measureWindow, expertToken)
        : await measureChromium(`${originUrl}/expert/bench?token=${expertToken}`, '#scopecast-rtc', 'Chromium expert page (WHEP)', measureWindow, WEBRTC_CHROMIUM_ARGS)
      ).result,
    );
  }
}
const adminHeaders = { authorization: `Bearer ${auth.token('admin', '*')}` };
const webrtcSessions = path === 'webrtc' ? ((await (await fetch(`${originUrl}/api/webrtc/sessions`, { headers: adminHeaders })).json()) as { sessions: Array<{ skippedFrames: number }> }).sessions : [];
if (background) {
  const exited = new Promise((resolve) => background?.once('exit', resolve));
  background.kill('SIGTERM');
  await exited;
}
source.kill('SIGTERM');
await sourceExited;
await edge.close();
await origin.close();
rmSync(workDir, { recursive: true, force: true });

const report = {
  benchmark: 'latency',
  path,
  backgroundViewers,
  webrtcSkippedFrames: webrtcSessions.map((x) => x.skippedFrames),
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model ?? '?', node: process.version },
  setup:
    path === 'llhls'
      ? `synthetic console ${sourceWidth}x${sourceHeight}p30 x264 -> RTMP -> edge (endoscopy-1080p: 720p30 x264 ultrafast, 200 ms parts, 1 s GOP) -> origin LL-HLS (PART-HOLD-BACK 0.6 s) -> viewer; latency from the pixel stamp`
      : `synthetic console ${sourceWidth}x${sourceHeight}p30 x264 -> RTMP -> edge (endoscopy-1080p: 720p30 x264 ultrafast, per-frame CMAF realtime feed) -> origin WHEP (werift, shared packetizer) -> viewer${backgroundViewers ? ` (+${backgroundViewers} background WHEP viewers)` : ''}; latency from the pixel stamp`,
  durationS,
  warmupS,
  results,
};
const row = (name: string, s: Summary, ttff: number | null): string =>
  `${name.padEnd(54)} ${ms(s.median).padStart(8)} ${ms(s.p95).padStart(8)} ${ms(s.max).padStart(8)} ${ms(ttff ?? Number.NaN).padStart(8)} ${String(s.n).padStart(6)}`;
console.log(`\nscopecast ${path === 'llhls' ? 'LL-HLS' : 'WebRTC (WHEP)'} latency — ${report.machine.cpus} cores, ${report.machine.model}, node ${report.machine.node}, ${durationS} s per viewer`);
console.log(report.setup);
console.log(`\n${'viewer'.padEnd(54)} ${'median'.padStart(8)} ${'p95'.padStart(8)} ${'max'.padStart(8)} ${'TTFF'.padStart(8)} ${'frames'.padStart(6)}`);
for (const r of results) {
  console.log(row(r.viewer, r.latency, r.ttffMs));
}
for (const r of results) {
  console.log(`${r.viewer}: per-second median ms ${r.perSecondMedianMs.join(' ')}`);
  const settled = r.perSecondMedianMs.findIndex((m, i) => m >= 0 && r.perSecondMedianMs.slice(i).every((x) => x < 0 || x <= 1000));
  console.log(`${r.viewer}: per-second median under 1 s from second ${settled < 0 ? 'never' : settled} on`);
  console.log(`${r.viewer}: first frame ${ms(r.firstFrameAgeMs ?? Number.NaN)} old, ${r.framesPerSecond.toFixed(1)} frames/s read, ${r.unreadableFrames} unreadable`);
}
console.log(
  path === 'llhls'
    ? 'targets (DESIGN.md): LL-HLS median <= 1000 ms, p95 <= 1500 ms; TTFF <= 500 ms, first frame <= 300 ms old'
    : 'targets (issue 3): WHEP median <= 150 ms, p95 <= 250 ms, TTFF <= 500 ms; with 20 viewers p95 <= 300 ms',
);
mkdirSync('bench-results', { recursive: true });
const out = join('bench-results', `latency-${path}-${report.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(out, JSON.stringify(report, null, 2));
console.log(`raw results: ${out}`);
process.exit(0);
