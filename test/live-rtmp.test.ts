// End to end on loopback: a real RTMP publisher -> edge (node-media-server + ffmpeg) -> origin
// LL-HLS. Each assertion waits on real state; no timing thresholds.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { scrapeHeaders } from './helpers/auth.js';
import { ffmpegChildren, processGone } from './helpers/process.js';
import { eventually, publishTestSource, startStack } from './helpers/stack.js';

const run = promisify(execFile);

t.test('RTMP publish -> LL-HLS with parts -> decodable segments -> unpublish ends it', async (t) => {
  const stack = await startStack({ publishGraceMs: 200 });
  t.teardown(() => stack.close());
  const publisher = publishTestSource(stack.rtmpUrl('or1-endoscopy'), { size: '1920x1080' });
  t.teardown(() => publisher.close());
  // A trainee watching this case: the least role LL-HLS needs.
  const headers = stack.auth('trainee', 'or1-endoscopy');

  const media = await eventually(async () => {
    const res = await fetch(`${stack.originUrl}/hls/or1-endoscopy/main/stream.m3u8`, { headers });
    const text = res.ok ? await res.text() : '';
    return /#EXTINF/.test(text) && (text.match(/#EXT-X-PART:/g)?.length ?? 0) >= 5 ? text : undefined;
  }, 20_000, 'a playlist with a complete segment and parts');
  // 0.2 s, or a millisecond more if the very first part ran long (AAC priming).
  t.match(media, /#EXT-X-PART-INF:PART-TARGET=0\.20\d/);
  t.match(media, /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part_\d+\.m4s"/);
  t.match(media, /#EXT-X-PROGRAM-DATE-TIME:/);
  for (const m of media.matchAll(/#EXT-X-PART:DURATION=([\d.]+)/g)) t.ok(Math.abs(Number(m[1]) - 0.2) < 0.002, `part of ${m[1]} s`);

  const master = await (await fetch(`${stack.originUrl}/hls/or1-endoscopy/index.m3u8`, { headers })).text();
  t.match(master, /RESOLUTION=1280x720/, 'endoscopy-1080p is re-encoded to 720p');

  // ffprobe decodes init + first complete segment.
  const msn = /seg_(\d+)\.m4s/.exec(media)?.[1];
  const dir = mkdtempSync(join(tmpdir(), 'scopecast-seg-'));
  const initBuf = Buffer.from(await (await fetch(`${stack.originUrl}/hls/or1-endoscopy/main/init_0.mp4`, { headers })).arrayBuffer());
  const segBuf = Buffer.from(await (await fetch(`${stack.originUrl}/hls/or1-endoscopy/main/seg_${msn}.m4s`, { headers })).arrayBuffer());
  writeFileSync(join(dir, 'seg.mp4'), Buffer.concat([initBuf, segBuf]));
  const probe = await run('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,width,height,nb_read_frames', '-of', 'json', join(dir, 'seg.mp4')]);
  const streams = (JSON.parse(probe.stdout) as { streams: Array<{ codec_name: string; width?: number; height?: number; nb_read_frames: string }> }).streams;
  const video = streams.find((s) => s.codec_name === 'h264');
  t.equal(video?.width, 1280);
  t.equal(video?.height, 720);
  t.equal(Number(video?.nb_read_frames), 30, 'a 1 s segment decodes to 30 frames');
  t.ok(streams.some((s) => s.codec_name === 'aac'), 'AAC audio present');

  // Blocking reload against the live stream: ask for the part after the hinted one.
  const edgeMsn = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(media)?.[1]);
  t.ok(Number.isInteger(edgeMsn));
  const hint = Number(/PRELOAD-HINT:TYPE=PART,URI="part_(\d+)/.exec(media)?.[1]);
  const hinted = await fetch(`${stack.originUrl}/hls/or1-endoscopy/main/part_${hint}.m4s`, { headers });
  t.equal(hinted.status, 200, 'the hinted part is delivered when it exists');

  const pipeline = stack.edge.pipelines.get('or1-endoscopy');
  const encoderPid = pipeline?.encoderPid;
  t.ok(encoderPid, 'encoder running');
  const metrics = await (await fetch(`${stack.edgeUrl}/metrics`, { headers: scrapeHeaders() })).text();
  t.match(metrics, /scopecast_edge_hop_delay_seconds_count\{stream="or1-endoscopy",hop="ingest_to_encoded"\} \d+/);

  await publisher.close();
  t.ok(await processGone(encoderPid!, 10_000), 'unpublish killed the encoder');
  const ended = await eventually(async () => {
    const info = (await (await fetch(`${stack.originUrl}/api/streams/or1-endoscopy`, { headers })).json()) as { state: string };
    return info.state === 'ended' ? info : undefined;
  }, 10_000, 'origin marks the stream ended');
  t.equal(ended.state, 'ended');
  const final = await (await fetch(`${stack.originUrl}/hls/or1-endoscopy/main/stream.m3u8`, { headers })).text();
  t.match(final, /#EXT-X-ENDLIST\n$/);
  t.equal(stack.edge.pipelines.size, 0);
});

t.test('a crashed encoder is restarted and the stream continues with a discontinuity', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const publisher = publishTestSource(stack.rtmpUrl('us1'), { size: '1024x768' });
  t.teardown(() => publisher.close());
  const headers = stack.auth('trainee', 'us1');
  const pipeline = await eventually(() => stack.edge.pipelines.get('us1'), 10_000, 'pipeline');
  await eventually(async () => ((await fetch(`${stack.originUrl}/hls/us1/main/stream.m3u8`, { headers })).ok ? true : undefined), 15_000, 'playlist');
  const firstPid = pipeline.encoderPid!;
  process.kill(firstPid, 'SIGKILL');
  const secondPid = await eventually(() => {
    const pid = pipeline.encoderPid;
    return pid && pid !== firstPid ? pid : undefined;
  }, 10_000, 'a new encoder');
  t.not(secondPid, firstPid);
  const media = await eventually(async () => {
    const text = await (await fetch(`${stack.originUrl}/hls/us1/main/stream.m3u8`, { headers })).text();
    return /#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init_1\.mp4"/.test(text) && /init_1[\s\S]*#EXT-X-PART/.test(text) ? text : undefined;
  }, 15_000, 'parts after the restart');
  t.ok(media);
  const encoders = (await ffmpegChildren()).filter((pid) => pid !== publisher.pid);
  t.same(encoders, [secondPid], 'exactly one encoder for the stream');
});

t.test('bad publishes are refused without disturbing the edge', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const base = stack.rtmpUrl('x').split('?')[0]!;
  const attempts: Array<[string, string]> = [
    ['a wrong application', stack.rtmpUrl('x').replace('/live/', '/other/')],
    ['no token', base],
    ["another stream's publisher token", `${base}?token=${stack.token('publisher', 'y')}`],
    ['a viewer token', `${base}?token=${stack.token('expert', 'x')}`],
    ['a token that is not one', `${base}?token=not.a.token`],
  ];
  // Each would publish for 30 s: ending within 10 s means the edge disconnected it.
  const refused = await Promise.all(
    attempts.map(([what, url]) => {
      const publisher = publishTestSource(url, { size: '320x240', seconds: 30 });
      t.teardown(() => publisher.close());
      return new Promise<[string, boolean]>((resolve) => {
        publisher.once('died', () => resolve([what, true]));
        setTimeout(() => resolve([what, false]), 10_000);
      });
    }),
  );
  for (const [what, died] of refused) t.ok(died, `publisher with ${what} is disconnected`);
  t.equal(stack.edge.pipelines.size, 0);
  const health = await (await fetch(`${stack.edgeUrl}/healthz`)).json();
  t.equal((health as { status: string }).status, 'ok');
});

t.test('close() of edge and origin leaves no child process, socket or timer', async (t) => {
  const handlesBefore = new Set(process.getActiveResourcesInfo());
  const before = process.getActiveResourcesInfo().length;
  const stack = await startStack();
  const publisher = publishTestSource(stack.rtmpUrl('close1'), { size: '640x360' });
  const pipeline = await eventually(() => stack.edge.pipelines.get('close1'), 10_000, 'pipeline');
  const pid = await eventually(() => pipeline.encoderPid ?? undefined, 10_000, 'encoder pid');
  await eventually(async () => ((await fetch(`${stack.originUrl}/hls/close1/main/stream.m3u8`, { headers: stack.auth('trainee', 'close1') })).ok ? true : undefined), 15_000, 'playlist');
  await Promise.all([stack.close(), stack.close()]);
  t.ok(await processGone(pid, 5000), 'encoder gone');
  t.same((await ffmpegChildren()).filter((p) => p !== publisher.pid), [], 'no encoder left (only the test publisher may remain)');
  await publisher.close();
  t.same(await ffmpegChildren(), [], 'no ffmpeg left');
  // Let sockets finish closing, then compare resources with the start.
  const after = await eventually(async () => {
    const now = process.getActiveResourcesInfo();
    return now.length <= before ? now : undefined;
  }, 5000, `active resources back to ${before} (${[...handlesBefore].join(',')})`).catch(() => process.getActiveResourcesInfo());
  t.ok(after.length <= before, `resources after close: ${after.join(',')} (before: ${before})`);
});
