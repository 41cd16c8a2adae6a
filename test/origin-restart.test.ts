// The origin restarts (process gone, a new one on the same address, empty): the edge keeps its
// encoder, re-pushes (init first) and LL-HLS viewers get the stream again. Time from the new
// origin listening to the first new part is printed; the deadline is the requirement (5 s).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { freePort } from '../lib/net.js';
import { build as buildOrigin, type OriginApp } from '../origin/index.js';
import { TEST_INGEST_KEY, bearer, testAuthConfig, testToken } from './helpers/auth.js';
import { ffmpegChildren } from './helpers/process.js';
import { eventually, publishTestSource } from './helpers/stack.js';
import { newestPart, startTestEdge } from './helpers/tiers.js';

const RESUME_DEADLINE_MS = 5000;

t.test('origin restart: the edge re-pushes and viewers resume', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'scopecast-origin-restart-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const startOrigin = async (): Promise<OriginApp> => {
    const origin = await buildOrigin({
      http: { host: '127.0.0.1', port },
      ingest: { keys: [TEST_INGEST_KEY] },
      recordings: { dir: join(dir, 'recordings') },
      webrtc: { enabled: false },
      auth: testAuthConfig(),
      audit: { file: join(dir, 'origin-audit.jsonl') },
      logLevel: 'silent',
    });
    await origin.app.listen({ host: '127.0.0.1', port });
    return origin;
  };
  let origin = await startOrigin();
  t.teardown(() => origin.close());
  const originUrl = `http://127.0.0.1:${port}`;
  const rtmpPort = await freePort();
  const edge = await startTestEdge(dir, originUrl, rtmpPort, { retryMinMs: 100, retryMaxMs: 1000 });
  t.teardown(() => edge.close());
  const stream = 'restart1';
  const publisher = publishTestSource(`rtmp://127.0.0.1:${rtmpPort}/live/${stream}?token=${testToken('publisher', stream)}`, { size: '320x180' });
  t.teardown(() => publisher.close());
  const viewer = bearer('trainee', stream);
  const livePart = (): Promise<number | undefined> => newestPart(originUrl, stream, viewer);
  await eventually(livePart, 30_000, 'stream live');
  const pipeline = edge.pipelines.get(stream)!;
  const encoderPid = pipeline.encoderPid;

  await origin.close();
  await new Promise((r) => setTimeout(r, 2000)); // the edge queues while the origin is gone
  origin = await startOrigin();
  const listening = Date.now();
  const part = await eventually(livePart, RESUME_DEADLINE_MS, 'LL-HLS back on the restarted origin');
  const resumedAfter = Date.now() - listening;
  t.ok(part >= 0, `a viewer gets parts again ${resumedAfter} ms after the new origin listens`);
  t.comment(`origin restart: first part after ${resumedAfter} ms (deadline ${RESUME_DEADLINE_MS} ms)`);
  const next = await eventually(async () => {
    const n = await livePart();
    return n !== undefined && n >= part + 5 ? n : undefined;
  }, 10_000, 'parts keep coming');
  t.ok(next > part, 'and keep coming');
  t.equal(edge.pipelines.get(stream), pipeline, 'same pipeline at the edge');
  t.equal(pipeline.encoderPid, encoderPid, 'same encoder process (no restart needed)');
  // This process runs the edge and the console: one ffmpeg each, nothing left over from the outage.
  t.equal((await ffmpegChildren()).length, 2, 'exactly one encoder for the stream (plus the console)');
});
