// The load test's clip console: a clip encoded once, published in a loop without re-encoding.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { FfmpegProcess } from '../codecs/ffmpeg/index.js';
import { freePort } from '../lib/net.js';
import { ClipConsole, clipLoopArgs, clipRecordArgs } from '../loadtest/clip-console.js';
import { resolveConsoleOptions } from '../loadtest/synthetic-console.js';

const run = promisify(execFile);

const clipDirs = async (): Promise<string[]> => (await readdir(tmpdir())).filter((d) => d.startsWith('scopecast-clip-'));

t.test('argument builders: the live console\'s encoder settings once, then -re -stream_loop -1 -c copy', async (t) => {
  const o = resolveConsoleOptions({ url: 'rtmp://127.0.0.1:1935/live/x', width: 1280, height: 720, fps: 30 });
  const rec = clipRecordArgs(o, 10, '/tmp/c.flv');
  t.ok(rec.includes('testsrc2=size=1280x720:rate=30'));
  for (const [flag, value] of [['-c:v', 'libx264'], ['-g', '30'], ['-bf', '0'], ['-b:v', '4000k'], ['-c:a', 'aac'], ['-t', '10']]) t.equal(rec[rec.indexOf(flag!) + 1], value, `${flag} ${value}`);
  t.same(rec.slice(-3), ['-f', 'flv', '/tmp/c.flv']);
  t.notOk(clipRecordArgs({ ...o, audio: false }, 10, '/tmp/c.flv').includes('-c:a'), 'no tone without audio');
  const loop = clipLoopArgs('/tmp/c.flv', 'rtmp://h/live/x');
  t.ok(loop.indexOf('-re') < loop.indexOf('-i') && loop.indexOf('-stream_loop') < loop.indexOf('-i'), '-re and -stream_loop are input options');
  t.equal(loop[loop.indexOf('-stream_loop') + 1], '-1');
  t.equal(loop[loop.indexOf('-c') + 1], 'copy', 'no re-encoding');
  t.same(loop.slice(-3), ['-f', 'flv', 'rtmp://h/live/x']);
  t.throws(() => new ClipConsole({ url: 'rtmp://h/live/x', clipSeconds: 0 }), RangeError);
  t.throws(() => new ClipConsole({ url: 'http://h/x' }), RangeError);
});

t.test('a 2 s clip published in a loop: 5 s of media arrive with timestamps that keep going up', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'clip-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const before = await clipDirs();
  const url = `rtmp://127.0.0.1:${await freePort()}/live/clip`;
  const received = join(dir, 'received.flv');
  // ffmpeg as the RTMP server: keeps 5 s of what arrives, as it arrives.
  const server = new FfmpegProcess({ args: ['-hide_banner', '-loglevel', 'error', '-listen', '1', '-i', url, '-t', '5', '-c', 'copy', '-f', 'flv', received] });
  t.teardown(() => server.close());
  await new Promise((r) => setTimeout(r, 500)); // the listener binds
  const source = new ClipConsole({ url, width: 320, height: 180, fps: 30, bitrateKbps: 500, clipSeconds: 2 });
  t.teardown(() => source.close());
  let started = false;
  source.on('started', () => (started = true));
  await source.start();
  const exit = await server.exited();
  t.equal(exit.code, 0, `the receiver got its 5 s (${exit.stderrTail})`);
  t.ok(started, 'started was emitted');
  const probe = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', received]);
  const pts = probe.stdout.trim().split('\n').map(Number);
  t.ok(pts.length >= 140, `${pts.length} video packets over 5 s (more than two loops of the 2 s clip)`);
  t.ok(pts.every((v, i) => i === 0 || v > pts[i - 1]!), 'video timestamps increase across the loop points');
  t.ok(pts.at(-1)! - pts[0]! >= 4.5, `${(pts.at(-1)! - pts[0]!).toFixed(2)} s of media`);
  await source.close();
  await source.close();
  t.equal(source.pid, undefined, 'no ffmpeg left');
  t.same(await clipDirs(), before, 'the clip is removed');
});
