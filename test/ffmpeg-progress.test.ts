// ProgressParser against real `-progress` output (test/fixtures/ffmpeg-progress.txt: ffmpeg 5.1,
// testsrc 2.5 s, -stats_period 1 -progress pipe:1), whole and cut at every byte.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { ProgressParser } from '../codecs/ffmpeg/index.js';

const fixture = readFileSync(new URL('./fixtures/ffmpeg-progress.txt', import.meta.url), 'utf8');

t.test('parses each block of a real -progress report', async (t) => {
  const reports = new ProgressParser().push(fixture);
  t.ok(reports.length >= 2, `${reports.length} blocks`);
  const last = reports.at(-1)!;
  t.equal(last.ended, true);
  t.equal(last.frame, 75);
  t.equal(last.outTimeMs, 2500);
  t.equal(last.dropFrames, 0);
  t.equal(last.dupFrames, 0);
  t.ok(last.speed !== null && last.speed > 1, `speed ${last.speed}`);
  t.equal(reports[0]!.speed, null, "'N/A' speed is null, not 0");
  t.equal(reports[0]!.ended, false);
});

t.test('the same reports whatever the chunking', async (t) => {
  const whole = new ProgressParser().push(fixture);
  for (let cut = 1; cut < fixture.length; cut += 7) {
    const parser = new ProgressParser();
    const got = [...parser.push(fixture.slice(0, cut)), ...parser.push(fixture.slice(cut))];
    if (JSON.stringify(got) !== JSON.stringify(whole)) return t.fail(`differs when cut at ${cut}`);
  }
  t.pass('every cut gives the same blocks');
});

t.test('garbage does not grow the parser or throw', async (t) => {
  const parser = new ProgressParser();
  t.same(parser.push('x'.repeat(100_000)), []);
  t.same(parser.push('\nnot a line\n=nokey\n'), []);
  t.equal(parser.push(fixture).at(-1)?.frame, 75, 'still parses real output afterwards');
});
