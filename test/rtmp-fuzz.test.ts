// Hostile RTMP input against a real edge: every recorded crasher replayed, then 5,000 seeded
// mutations of valid sessions (ffmpeg's recorded publish, synthetic publishes and plays) thrown at
// the RTMP listener, 16 at a time. Afterwards the process is alive, memory is bounded, no ffmpeg is
// left behind, no connection is left open, and a real console still publishes. An input that
// throws out of the edge is written to test/fixtures/rtmp-crashers/<seed>-<n>.bin and fails the run.
//   RTMP_FUZZ_SEED=<n> RTMP_FUZZ_SESSIONS=<n> npx tap test/rtmp-fuzz.test.ts
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Fastify from 'fastify';
import t from 'tap';
import { RtmpIngest } from '../edge/ingest/rtmp-ingest.js';
import { freePort } from '../lib/net.js';
import { ffmpegChildren, processGone } from './helpers/process.js';
import { playScript, rtmpMetrics, startRtmpEdge, tcpConnections, type RtmpEdge, type SessionEnd } from './helpers/rtmp-client.js';
import { fuzzSession, playSession, publishSession, segmentSession, type FuzzSession, type FuzzTemplates } from './helpers/rtmp-mutator.js';
import { eventually, publishTestSource } from './helpers/stack.js';

const SEED = Number(process.env.RTMP_FUZZ_SEED ?? 20_250_611);
const SESSIONS = Number(process.env.RTMP_FUZZ_SESSIONS ?? 5000);
const CONCURRENCY = 16;
/** A session the edge has not closed after this long counts as hung (the edge's own deadlines are far shorter). */
const SESSION_DEADLINE_MS = 8000;
const LIMITS = { maxConnections: 64, handshakeTimeoutMs: 1000, idleTimeoutMs: 2000 };
const MiB = 2 ** 20;

const crashersDir = new URL('./fixtures/rtmp-crashers/', import.meta.url);
const ffmpegPublish = readFileSync(new URL('./fixtures/rtmp/ffmpeg-publish.bin', import.meta.url));

// A real gc for the memory numbers; tap does not pass --expose-gc.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Uncaught exceptions while sessions are in flight, with the sessions that were. */
const escaped: Array<{ error: unknown; inFlight: FuzzSession[] }> = [];
const inFlight = new Set<FuzzSession>();
const onEscape = (error: unknown): void => {
  escaped.push({ error, inFlight: [...inFlight] });
};

function templates(rtmp: RtmpEdge): FuzzTemplates {
  const name = rtmp.publishName('fuzz');
  return {
    sessions: [
      () => segmentSession(ffmpegPublish),
      (random) => publishSession(random, { app: 'live', name, tcUrl: rtmp.tcUrl }),
      (random) => publishSession(random, { app: 'live', name, tcUrl: rtmp.tcUrl, chunkSize: 128, frames: 8 }),
      (random) => playSession(random, { app: 'live', name, tcUrl: rtmp.tcUrl }),
    ],
  };
}

async function settle(rtmp: RtmpEdge): Promise<void> {
  await eventually(() => (rtmp.edge.pipelines.size === 0 ? true : undefined), 30_000, 'every pipeline ended');
  await eventually(async () => ((await ffmpegChildren()).length === 0 ? true : undefined), 15_000, 'no ffmpeg left running');
  await eventually(
    async () => ((await rtmpMetrics(rtmp.edge)).connections === 0 && (await tcpConnections(rtmp.rtmpPort)) === 0 ? true : undefined),
    10_000,
    'no RTMP connection left open',
  );
}

const crashers = (): string[] => readdirSync(crashersDir).filter((f) => f.endsWith('.bin')).sort();

t.test('hostile RTMP input', async (t) => {
  process.prependListener('uncaughtException', onEscape);
  t.teardown(() => {
    process.off('uncaughtException', onEscape);
  });

  // The crashers were found on a bare NMS that takes any publish (no token, any name), and most
  // crash NMS after publish: replay them where the publish goes through, so each reaches the NMS
  // code it crashed in, and must be stopped there by the guard.
  await t.test('every recorded crasher is stopped by the guard, with every publish accepted', async (t) => {
    const workDir = mkdtempSync(join(tmpdir(), 'scopecast-crashers-'));
    const port = await freePort();
    const ingest = new RtmpIngest({
      host: '127.0.0.1',
      port,
      publishGraceMs: 0,
      workDir,
      log: Fastify({ logger: false }).log,
      limits: LIMITS,
      accept: () => null,
      authorize: () => ({ ok: true, release: () => {} }),
    });
    const stopped: Record<string, number> = {};
    ingest.on('dropped', ({ reason }) => {
      stopped[reason] = (stopped[reason] ?? 0) + 1;
    });
    await ingest.start();
    t.teardown(async () => {
      await ingest.close();
      rmSync(workDir, { recursive: true, force: true });
    });
    for (const file of crashers()) {
      const bytes = readFileSync(new URL(file, crashersDir));
      const before = { escaped: escaped.length, stopped: (stopped.protocol ?? 0) + (stopped.parser_error ?? 0) };
      const result = await playScript({ port, writes: [bytes], close: 'linger', deadlineMs: SESSION_DEADLINE_MS });
      t.equal(escaped.length, before.escaped, `${file}: nothing escaped`);
      t.equal(result.end, 'server', `${file}: the connection was closed by the ingest (${result.ms} ms)`);
      t.equal((stopped.protocol ?? 0) + (stopped.parser_error ?? 0) - before.stopped, 1, `${file}: refused by the gate or caught around the parser`);
    }
    t.comment(`replayed ${crashers().length} crashers: ${JSON.stringify(stopped)}`);
    await eventually(() => (ingest.connections === 0 ? true : undefined), 5000, 'no connection left');
  });

  const rtmp = await startRtmpEdge({ rtmp: LIMITS, streams: ['fuzz', 'fuzz-valid'] });
  t.teardown(() => rtmp.close());

  await t.test('every recorded crasher, against the edge', async (t) => {
    for (const file of crashers()) {
      const before = escaped.length;
      const result = await playScript({ port: rtmp.rtmpPort, writes: [readFileSync(new URL(file, crashersDir))], close: 'linger', deadlineMs: SESSION_DEADLINE_MS });
      t.equal(escaped.length, before, `${file}: nothing escaped the edge`);
      t.equal(result.end, 'server', `${file}: the edge closed the connection (${result.ms} ms)`);
    }
    await settle(rtmp);
  });

  await t.test(`${SESSIONS} mutated sessions (seed ${SEED})`, async (t) => {
    const sessions = templates(rtmp);
    gc();
    const before = process.memoryUsage();
    const cpuBefore = process.cpuUsage();
    let peakRss = before.rss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 50);
    const ends: Record<SessionEnd, number> = { server: 0, reset: 0, deadline: 0 };
    const hung: FuzzSession[] = [];
    const started = Date.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < SESSIONS) {
        const session = fuzzSession(SEED, next++, sessions);
        inFlight.add(session);
        const result = await playScript({ port: rtmp.rtmpPort, writes: session.writes, close: session.close, deadlineMs: SESSION_DEADLINE_MS });
        inFlight.delete(session);
        ends[result.end] += 1;
        if (result.end === 'deadline') hung.push(session);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const elapsed = Date.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    clearInterval(sampler);

    // An escape: find the input(s) that reproduce it alone, keep them as fixtures, fail.
    if (escaped.length > 0) {
      const candidates = new Map<string, FuzzSession>();
      for (const e of escaped) for (const s of e.inFlight) candidates.set(`${s.seed}-${s.index}`, s);
      const kept: string[] = [];
      for (const [name, s] of candidates) {
        const before = escaped.length;
        await playScript({ port: rtmp.rtmpPort, writes: s.writes, close: s.close, deadlineMs: SESSION_DEADLINE_MS });
        await new Promise((r) => setTimeout(r, 50));
        if (escaped.length > before) kept.push(name);
      }
      for (const name of kept.length > 0 ? kept : [...candidates.keys()]) {
        writeFileSync(new URL(`${name}.bin`, crashersDir), Buffer.concat(candidates.get(name)!.writes));
      }
      t.fail(`${escaped.length} exception(s) escaped the edge: ${String(escaped[0]!.error)}; inputs kept: ${(kept.length > 0 ? kept : [...candidates.keys()]).join(', ')}`);
    }

    t.equal(process.exitCode ?? 0, 0, 'the process is alive and well');
    t.equal(ends.deadline, 0, `every session was ended by the edge or by us (hung: ${hung.slice(0, 5).map((s) => `${s.seed}-${s.index} [${s.mutations.join(',')}]`).join('; ')})`);
    const { dropped } = await rtmpMetrics(rtmp.edge);
    await settle(rtmp);
    gc();
    const after = process.memoryUsage();
    const growth = {
      rss: (after.rss - before.rss) / MiB,
      heap: (after.heapUsed - before.heapUsed) / MiB,
      buffers: (after.arrayBuffers - before.arrayBuffers) / MiB,
      peakRss: (peakRss - before.rss) / MiB,
    };
    // Wall time depends on the box (client and edge share this process); CPU time is the cost.
    t.comment(
      `${SESSIONS} sessions in ${(elapsed / 1000).toFixed(1)} s, ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU (${CONCURRENCY} at a time); ` +
        `ended by edge ${ends.server}, reset by client ${ends.reset}; dropped by the guard: ${JSON.stringify(dropped)}`,
    );
    t.comment(
      `memory: rss ${(before.rss / MiB).toFixed(0)} -> ${(after.rss / MiB).toFixed(0)} MiB (peak +${growth.peakRss.toFixed(0)}), ` +
        `heap ${(before.heapUsed / MiB).toFixed(0)} -> ${(after.heapUsed / MiB).toFixed(0)} MiB, ` +
        `buffers ${(before.arrayBuffers / MiB).toFixed(0)} -> ${(after.arrayBuffers / MiB).toFixed(0)} MiB after gc`,
    );
    t.ok(growth.heap < 32, `heap grew ${growth.heap.toFixed(1)} MiB (< 32)`);
    t.ok(growth.buffers < 32, `buffers grew ${growth.buffers.toFixed(1)} MiB (< 32)`);
    t.ok(growth.rss < 150, `rss grew ${growth.rss.toFixed(1)} MiB (< 150)`);
    t.ok(growth.peakRss < 300, `rss peaked ${growth.peakRss.toFixed(1)} MiB above the start (< 300; unguarded NMS: ~0.7-0.9 GiB)`);
    // The fuzzer reaches both defences (with the default seed: ~3,300 refusals, ~70 NMS exceptions).
    if (SESSIONS >= 1000) t.ok((dropped.protocol ?? 0) > 0 && (dropped.parser_error ?? 0) > 0, 'the gate refused inputs and NMS exceptions were contained');
  });

  await t.test('a real console still publishes afterwards', async (t) => {
    const publisher = publishTestSource(`rtmp://127.0.0.1:${rtmp.rtmpPort}/live/${rtmp.publishName('fuzz-valid')}`, { size: '320x240' });
    t.teardown(() => publisher.close());
    const pipeline = await eventually(() => rtmp.edge.pipelines.get('fuzz-valid'), 15_000, 'the console publishing');
    const encoder = await eventually(() => pipeline.encoderPid ?? undefined, 10_000, 'its encoder running');
    t.same((await ffmpegChildren()).sort(), [publisher.pid!, encoder].sort(), 'two ffmpeg: the console and its encoder, nothing else');
    await publisher.close();
    t.ok(await processGone(encoder, 10_000), 'the encoder ended with the publish');
    await settle(rtmp);
    t.equal(escaped.length, 0, 'nothing escaped the edge at any point');
  });
});
