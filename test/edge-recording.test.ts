// The edge's own recording: complete even when the uplink is down (the origin's copy then has a
// gap, which meta.json names), playable as written, served by the edge API with checked names.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { build as buildEdge } from '../edge/index.js';
import type { LocalRecordingMeta } from '../edge/recording/local-recorder.js';
import { freePort } from '../lib/net.js';
import { TEST_INGEST_KEY, bearer, testAuthConfig, testToken } from './helpers/auth.js';
import { eventually, publishTestSource, startStack } from './helpers/stack.js';

const run = promisify(execFile);

t.test('a published case is recorded at the edge and decodes', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const publisher = publishTestSource(stack.rtmpUrl('rec1'), { seconds: 4 });
  t.teardown(() => publisher.close());
  await eventually(() => (stack.edge.pipelines.has('rec1') ? true : undefined), 20_000, 'the pipeline');
  const pipeline = stack.edge.pipelines.get('rec1')!;
  await eventually(() => (stack.edge.pipelines.has('rec1') ? undefined : true), 30_000, 'unpublish');
  t.ok(pipeline);
  // The hospital's own copies are for its IT staff: admin tokens only.
  t.equal((await fetch(`${stack.edgeUrl}/api/recordings`)).status, 401, 'no token');
  t.equal((await fetch(`${stack.edgeUrl}/api/recordings`, { headers: stack.auth('surgeon', 'rec1') })).status, 403, "not even the case's surgeon");
  const list = (await (await fetch(`${stack.edgeUrl}/api/recordings`, { headers: stack.auth('admin') })).json()) as { recordings: LocalRecordingMeta[] };
  const rec = list.recordings.find((r) => r.stream === 'rec1');
  t.ok(rec, 'listed by the edge API');
  t.ok(rec!.endedAt, 'finished when the console left');
  t.same(rec!.uplinkGaps, [], 'nothing was dropped on the way to the origin');
  t.ok(rec!.fragments > 10, `${rec!.fragments} fragments`);
  t.equal((await fetch(`${stack.edgeUrl}/recordings/${rec!.id}/part0.mp4`, { headers: stack.auth('expert', 'rec1') })).status, 403, 'an expert token does not download it');
  const res = await fetch(`${stack.edgeUrl}/recordings/${rec!.id}/part0.mp4`, { headers: stack.auth('admin') });
  t.equal(res.status, 200);
  const dir = mkdtempSync(join(tmpdir(), 'scopecast-edge-rec-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'case.mp4');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(file, Buffer.from(await res.arrayBuffer()));
  const probe = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames,width', '-of', 'json', file]);
  const s = (JSON.parse(probe.stdout) as { streams: Array<{ nb_read_frames: string; width: number }> }).streams[0]!;
  t.equal(s.width, 1280);
  // Parts are 6 frames each (the last one may be cut short when the encoder stops).
  t.ok(Number(s.nb_read_frames) > (rec!.fragments - 1) * 6, `${s.nb_read_frames} frames of ${rec!.fragments} fragments decode from the edge copy`);
  for (const bad of ['..%2F..%2Fetc/passwd', `${rec!.id}/..%2Fmeta.json`, `${rec!.id}/part0.mp4%00.txt`, `x/${'a'.repeat(4096)}`, `${rec!.id}/-x.mp4`]) {
    const r = await fetch(`${stack.edgeUrl}/recordings/${bad}`, { headers: stack.auth('admin') });
    t.ok([400, 404, 414].includes(r.status), `${bad.slice(0, 40)} -> ${r.status}`);
  }
});

t.test('uplink down: the origin never gets the media, the edge copy is complete and names the gap', async (t) => {
  const workDir = mkdtempSync(join(tmpdir(), 'scopecast-edge-down-'));
  t.teardown(() => rmSync(workDir, { recursive: true, force: true }));
  const deadOrigin = `http://127.0.0.1:${await freePort()}`; // nothing listens there
  const rtmpPort = await freePort();
  const edge = await buildEdge({
    http: { host: '127.0.0.1', port: 0 },
    rtmp: { host: '127.0.0.1', port: rtmpPort, publishGraceMs: 300 },
    origin: { url: deadOrigin, ingestKey: TEST_INGEST_KEY, queueBytes: 1024 * 1024, retryMinMs: 50, retryMaxMs: 200 },
    consoles: { streams: { rec2: 'endoscopy-1080p' } },
    workDir,
    auth: testAuthConfig(),
    audit: { file: join(workDir, 'audit.jsonl') },
    logLevel: 'silent',
  });
  t.teardown(() => edge.close());
  const { http } = await edge.listen();
  const publisher = publishTestSource(`rtmp://127.0.0.1:${rtmpPort}/live/rec2?token=${testToken('publisher', 'rec2')}`, { seconds: 6 });
  t.teardown(() => publisher.close());
  await eventually(() => (edge.pipelines.has('rec2') ? true : undefined), 20_000, 'the pipeline');
  await eventually(() => (edge.pipelines.has('rec2') ? undefined : true), 40_000, 'unpublish');
  const list = (await (await fetch(`${http}/api/recordings`, { headers: bearer('admin') })).json()) as { recordings: LocalRecordingMeta[] };
  const rec = list.recordings.find((r) => r.stream === 'rec2')!;
  t.ok(rec.uplinkGaps.length >= 1, `gaps: ${JSON.stringify(rec.uplinkGaps)}`);
  const dropped = rec.uplinkGaps.reduce((n, g) => n + g.fragments, 0);
  t.ok(dropped > 0 && rec.fragments > dropped, `${dropped} fragments never reached the origin; the edge kept all ${rec.fragments}`);
  t.ok(rec.uplinkGaps.every((g) => g.toMs >= g.fromMs && g.fromMs > 1.7e12), 'gaps are wall-clock spans');
});
