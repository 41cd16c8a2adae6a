// The load test itself; started by loadtest/loadtest.ts (npm run loadtest), which explains why it
// runs in its own process.
//
// Viewers (default):
//   npm run loadtest -- --hls 500 --whep 20 --duration 60 [--baseline 15 --ramp 10 --settle 5
//     --hls-workers 2 --source-size 1280x720 --fps 30 --console clip|live]
//   Starts origin, edge and a console as child processes (clip: a 10 s clip encoded once and
//   published in a loop, so the console's encoder does not take the origin's CPU; live: the
//   painted, barcode-stamped SyntheticConsole), measures 1 LL-HLS + 1 WHEP
//   viewer, ramps to the requested counts and measures again: latency p50/p95/p99/max per viewer
//   class, the p95 rise with PASS/FAIL against 300 ms, errors by kind, CPU and RSS of every process
//   (the origin's from /proc/<pid>), the load test's own CPU.
// Against a running origin (no stack started; origin CPU/RSS only with --origin-pid):
//   npm run loadtest -- --origin https://origin:8090 --stream or-3 --token <jwt> [--whep-token <jwt>]
//     [--origin-pid <pid>]      (tokens may also come from SCOPECAST_TOKEN / SCOPECAST_WHEP_TOKEN)
// Publish/unpublish cycles:
//   npm run loadtest -- --cycles 200 [--min-publish-ms 1500 --publish-grace-ms <ms>
//     --unpublish alternate|clean|kill]
//
// Results: the report (Markdown tables) on stdout; <out-dir>/<name>-<time>.json and .html (charts),
// out-dir bench-results by default. Exit 1 if the run could not be done (a tier died, no viewer got
// media, no cycle completed); a missed target is reported as FAIL in the output, not as an exit
// code: targets are read by people from benchmark output (DESIGN.md), not enforced by scripts.
// SIGINT/SIGTERM end every process and thread this started and exit 130.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isStreamName } from '../lib/stream-name.js';
import { Cleanup } from './cleanup.js';
import type { RunContext, RunOutput } from './loadtest-context.js';
import { runCycles } from './loadtest-cycles.js';
import { runViewerLoad } from './loadtest-load.js';

const USAGE = `usage: npm run loadtest -- [--hls N --whep N --duration S --baseline S --ramp S --settle S --hls-workers N
                           --source-size WxH --fps N --console clip|live --log-level error|warn|info --out-dir DIR]
                           [--origin URL --stream NAME --token JWT --whep-token JWT --origin-pid PID]
       npm run loadtest -- --cycles N [--min-publish-ms MS --publish-grace-ms MS --unpublish alternate|clean|kill]`;

function usage(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

function parse(): ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'] {
  try {
    return parseArgs({ options: OPTIONS }).values;
  } catch (err) {
    return usage((err as Error).message);
  }
}

const OPTIONS = {
  hls: { type: 'string', default: '500' },
  whep: { type: 'string', default: '20' },
  duration: { type: 'string', default: '60' },
  baseline: { type: 'string', default: '15' },
  ramp: { type: 'string', default: '10' },
  settle: { type: 'string', default: '5' },
  'hls-workers': { type: 'string' },
  'source-size': { type: 'string', default: '1280x720' },
  fps: { type: 'string', default: '30' },
  console: { type: 'string', default: 'clip' },
  origin: { type: 'string' },
  stream: { type: 'string' },
  token: { type: 'string' },
  'whep-token': { type: 'string' },
  'origin-pid': { type: 'string' },
  cycles: { type: 'string' },
  'min-publish-ms': { type: 'string', default: '1500' },
  'publish-grace-ms': { type: 'string' },
  unpublish: { type: 'string', default: 'alternate' },
  'log-level': { type: 'string', default: 'error' },
  'out-dir': { type: 'string', default: 'bench-results' },
} as const;

const args = parse();
const int = (name: keyof typeof OPTIONS, min: number): number => {
  const raw = args[name];
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) usage(`--${name} ${String(raw)}: an integer >= ${min}`);
  return n;
};
const LOG_LEVELS = ['error', 'warn', 'info'] as const;
const logLevel = LOG_LEVELS.find((l) => l === args['log-level']) ?? usage(`--log-level ${args['log-level']}: error, warn or info`);
const command = `npm run loadtest -- ${process.argv.slice(2).map((a, i, all) => (all[i - 1] === '--token' || all[i - 1] === '--whep-token' ? '<jwt>' : a)).join(' ')}`.trim();

// One controller ends every wait: Ctrl-C, or anything this run depends on dying.
const stop = new AbortController();
let failure: string | null = null;
const fail = (reason: string): void => {
  if (failure) return;
  failure = reason;
  stop.abort();
};
const stopped = new Promise<never>((_, reject) => stop.signal.addEventListener('abort', () => reject(new Error(failure ?? 'stopped')), { once: true }));
stopped.catch(() => {});
const cleanup = new Cleanup();
const ctx: RunContext = { signal: stop.signal, fail, step: (p) => Promise.race([p, stopped]), cleanup, command };

let interruptedAt = 0;
const onSignal = (signal: NodeJS.Signals): void => {
  // Ctrl-C reaches npm, tsx and us at once: repeats within 2 s are the same request.
  if (interruptedAt) {
    if (Date.now() - interruptedAt < 2000) return;
    console.error(`${signal} again: killing every process now`);
    cleanup.killNow();
    process.exit(130);
  }
  interruptedAt = Date.now();
  console.error(`${signal}: stopping the load test and ending every process it started`);
  fail(`interrupted (${signal})`);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

async function run(): Promise<RunOutput> {
  if (args.cycles !== undefined) {
    const unpublish = args.unpublish;
    if (unpublish !== 'alternate' && unpublish !== 'clean' && unpublish !== 'kill') usage(`--unpublish ${unpublish}: alternate, clean or kill`);
    return runCycles(
      {
        cycles: int('cycles', 1),
        minPublishMs: int('min-publish-ms', 0),
        publishGraceMs: args['publish-grace-ms'] === undefined ? undefined : int('publish-grace-ms', 0),
        unpublish,
        logLevel,
      },
      ctx,
    );
  }
  const hls = int('hls', 0);
  const whep = int('whep', 0);
  if (hls + whep === 0) usage('--hls and --whep are both 0: nothing to load');
  const size = args['source-size'];
  if (!/^\d+x\d+$/.test(size)) usage(`--source-size ${size}: WxH, e.g. 1280x720`);
  const consoleKind = args.console === 'clip' || args.console === 'live' ? args.console : usage(`--console ${args.console}: clip or live`);
  let external = null;
  if (args.origin !== undefined) {
    const stream = args.stream;
    if (!stream || !isStreamName(stream)) usage('--origin needs --stream <name> (an allowed stream name)');
    const token = args.token ?? process.env.SCOPECAST_TOKEN;
    if (!token) usage('--origin needs --token <jwt> (or SCOPECAST_TOKEN): a viewer token for the stream (expert or above if --whep > 0)');
    try {
      new URL(args.origin);
    } catch {
      usage(`--origin ${args.origin}: not a URL`);
    }
    external = { originUrl: args.origin, stream, token, whepToken: args['whep-token'] ?? process.env.SCOPECAST_WHEP_TOKEN ?? token, originPid: args['origin-pid'] === undefined ? null : int('origin-pid', 1) };
  } else if (args.stream || args.token || args['origin-pid']) {
    usage('--stream, --token and --origin-pid go with --origin');
  }
  return runViewerLoad(
    {
      hls,
      whep,
      durationS: int('duration', 1),
      baselineS: int('baseline', 1),
      rampS: int('ramp', 0),
      settleS: int('settle', 0),
      hlsWorkers: args['hls-workers'] === undefined ? (hls >= 100 ? 2 : 1) : int('hls-workers', 1),
      source: { size, fps: int('fps', 1), kind: consoleKind },
      external,
      logLevel,
    },
    ctx,
  );
}

// Watchdog: closing must not hang the run forever.
const teardown = async (): Promise<void> => {
  const timer = setTimeout(() => {
    console.error('closing took over 40 s: killing every process');
    cleanup.killNow();
    process.exit(1);
  }, 40_000);
  timer.unref();
  await cleanup.run();
  clearTimeout(timer);
};

let output: RunOutput;
try {
  output = await run();
} catch (err) {
  await teardown();
  console.error(`load test failed: ${failure ?? (err as Error).message}`);
  process.exit(interruptedAt ? 130 : 1);
}
await teardown();
if (failure) {
  console.error(`load test failed: ${failure}`);
  process.exit(interruptedAt ? 130 : 1);
}
console.log(output.text);
const outDir = args['out-dir'];
mkdirSync(outDir, { recursive: true });
const base = join(outDir, `${output.name}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
writeFileSync(`${base}.json`, JSON.stringify(output.json, null, 2));
writeFileSync(`${base}.html`, output.html);
console.log(`results: ${base}.json, chart: ${base}.html`);
const json = output.json as { classes?: Array<{ withMedia: number; kind: string }>; cyclesDone?: number };
const blind = json.classes?.filter((c) => c.withMedia === 0).map((c) => c.kind) ?? [];
if (blind.length > 0) {
  console.error(`load test failed: no ${blind.join(', ')} viewer got media`);
  process.exit(1);
}
if (json.cyclesDone === 0) {
  console.error('load test failed: no cycle completed');
  process.exit(1);
}
process.exit(0);
