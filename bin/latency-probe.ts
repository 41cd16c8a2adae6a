// Ground-truth latency probe: npx tsx bin/latency-probe.ts <origin-url> <stream> [--seconds N] [--token JWT]
// The token (a viewer token for the stream; trainee is enough) may also come from SCOPECAST_TOKEN,
// which, unlike a command line, other users of the machine cannot read.
// Follows the stream's LL-HLS like a low-latency player, decodes every frame and prints, per
// second, the medians of the latency from the pixel stamp, the latency from the metadata (prft /
// PROGRAM-DATE-TIME clock) and their disagreement (metadata error = ingest wall clock - stamp).
// Needs a source that draws the stamp (the synthetic console). Ctrl-C stops early and still reports.
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { LatencyProbe, llhlsUrl, type ProbeFrame } from '../loadtest/index.js';
import { summarize } from '../loadtest/stats.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { seconds: { type: 'string', default: '10' }, token: { type: 'string' } } });
const [originUrl, stream] = positionals;
const seconds = Number(values.seconds);
const token = values.token || process.env.SCOPECAST_TOKEN || '';
if (!originUrl || !stream || !(seconds > 0)) {
  console.error('usage: latency-probe <origin-url> <stream> [--seconds N] [--token JWT]   (or SCOPECAST_TOKEN=JWT)');
  process.exit(2);
}
if (!token) console.error('no --token or SCOPECAST_TOKEN: a secured origin will refuse the playlist (401)');

const fmt = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : '—');
const row = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padStart(4) : c.padStart(14))).join(' ');

const url = llhlsUrl(originUrl, stream);
const probe = new LatencyProbe({ url, ...(token ? { token } : {}) });
const stop = new AbortController();
const frames: ProbeFrame[] = [];
let bucket: ProbeFrame[] = [];
let bucketSecond = 0;
let failure: Error | null = null;
const startedAt = Date.now();

function printBucket(): void {
  if (bucket.length === 0) return;
  const median = (pick: (f: ProbeFrame) => number): string => fmt(summarize(bucket.map(pick)).median);
  console.log(row([String(bucketSecond), String(bucket.length), median((f) => f.stampLatencyMs), median((f) => f.metadataLatencyMs), median((f) => f.metadataErrorMs)]));
  bucket = [];
}

probe.on('frame', (f) => {
  frames.push(f);
  const second = Math.floor((f.decodedAtMs - startedAt) / 1000);
  if (second !== bucketSecond) {
    printBucket();
    bucketSecond = second;
  }
  bucket.push(f);
});
probe.on('error', (err) => {
  failure = err;
  stop.abort();
});
process.once('SIGINT', () => stop.abort());
process.once('SIGTERM', () => stop.abort());

console.log(`probing ${url} for ${seconds} s`);
console.log(row(['s', 'frames', 'stamp latency', 'meta latency', 'meta error']));
probe.start();
// Ctrl-C or a probe error ends the wait early (an AbortError, expected).
await sleep(seconds * 1000, undefined, { signal: stop.signal }).catch(() => {});
await probe.close();
printBucket();

const stats = probe.stats;
console.log(`\n${stats.matched} frames matched (${stats.framesDecoded} decoded of ${stats.samplesFed} fed, ${stats.unreadable} without a readable stamp, ${stats.withoutPrft} without prft); decode-order matching ${stats.aligned === true ? 'verified' : stats.aligned === false ? 'BROKEN (counts differ)' : 'unverified'}`);
if (frames.length > 0) {
  const line = (name: string, xs: number[]): void => {
    const s = summarize(xs);
    console.log(`${name.padEnd(40)} median ${fmt(s.median).padStart(10)}  p95 ${fmt(s.p95).padStart(10)}  min ${fmt(s.min).padStart(10)}  max ${fmt(s.max).padStart(10)}`);
  };
  line('latency from the pixel stamp', frames.map((f) => f.stampLatencyMs));
  line('latency from the metadata', frames.map((f) => f.metadataLatencyMs));
  line('metadata error (ingest - stamp)', frames.map((f) => f.metadataErrorMs));
  const absError = summarize(frames.map((f) => Math.abs(f.metadataErrorMs))).median;
  // One frame interval from the stream itself: the median pts step between consecutive frames.
  const steps = frames.slice(1).map((f, i) => (f.ptsSec - frames[i]!.ptsSec) * 1000).filter((d) => d > 0);
  const interval = steps.length > 0 ? summarize(steps).median : Number.NaN;
  console.log(`median |metadata error| ${fmt(absError)} vs one frame interval ${fmt(interval)}: ${absError <= interval ? 'agree' : 'DISAGREE'} (DESIGN.md: within one frame)`);
}
if (failure) {
  console.error(`probe stopped: ${(failure as Error).message}`);
  process.exit(1);
}
process.exit(0);
