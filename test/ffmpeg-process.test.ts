import t from 'tap';
import { FfmpegProcess, FfmpegSupervisor } from '../codecs/ffmpeg/index.js';
import { processGone } from './helpers/process.js';

t.test('died is reported with exit code and stderr tail', async (t) => {
  const p = new FfmpegProcess({ args: ['-hide_banner', '-i', '/nonexistent/input.flv'] });
  const exit = await new Promise<{ code: number | null; stderrTail: string }>((resolve) => p.once('died', resolve));
  t.not(exit.code, 0);
  t.match(exit.stderrTail, /No such file/);
  await p.close();
});

t.test('close() ends a running child, emits closed not died, and is idempotent', async (t) => {
  const p = new FfmpegProcess({ args: ['-hide_banner', '-re', '-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=10', '-f', 'null', '-'] });
  await new Promise((resolve) => p.once('spawn', resolve));
  const pid = p.pid!;
  let died = false;
  let closed = 0;
  p.on('died', () => { died = true; });
  p.on('closed', () => { closed += 1; });
  await Promise.all([p.close(), p.close()]);
  await p.close();
  t.equal(died, false);
  t.equal(closed, 1);
  t.ok(await processGone(pid), 'pid has exited');
});

t.test('supervisor restarts a crashing child and close() leaves none', async (t) => {
  const sup = new FfmpegSupervisor({
    processOptions: () => ({ args: ['-hide_banner', '-i', '/nonexistent/input.flv'] }),
    initialBackoffMs: 20,
  });
  const pids: number[] = [];
  sup.on('started', (child) => child.once('spawn', (pid) => pids.push(pid)));
  const restarted = new Promise<void>((resolve) => {
    let deaths = 0;
    sup.on('died', () => { if (++deaths === 2) resolve(); });
  });
  sup.start();
  await restarted;
  t.ok(sup.restarts >= 2);
  await sup.close();
  await sup.close();
  for (const pid of pids) t.ok(await processGone(pid), `pid ${pid} gone`);
  t.throws(() => sup.start(), { code: 'SC_ERR_INVALID_STATE' });
});
