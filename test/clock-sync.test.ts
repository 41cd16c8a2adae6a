// The NTP-style estimator against a simulated skewed clock: the design asks for <= 5 ms error with
// 20 ms of network jitter. Seeded, so a failure is reproducible.
import t from 'tap';
import { ClockEstimator, ClockSync, clockSample, type ClockPing, type ClockPong } from '../lib/clock-sync.js';
import { rng } from './helpers/random.js';

t.test('one round trip: offset and rtt from the four timestamps', async (t) => {
  // Server 1000 ms ahead; 10 ms out, 30 ms back, 2 ms inside the server.
  const s = clockSample(0, 1010, 1012, 42)!;
  t.equal(s.rttMs, 40);
  t.equal(s.offsetMs, 990, 'asymmetry (10 vs 30 ms) shows as half its difference');
  t.equal(clockSample(0, 10, 5, 20), null, 'server sent before it received');
  t.equal(clockSample(100, 10, 10, 50), null, 'negative round trip');
  t.equal(clockSample(0, Number.NaN, 1, 2), null);
});

t.test('skewed clock, 20 ms jitter each way: error <= 5 ms in every trial', async (t) => {
  let worst = 0;
  for (let trial = 0; trial < 500; trial++) {
    const random = rng(trial + 1);
    const skew = (random() - 0.5) * 2 * 3_600_000; // up to an hour either way
    const est = new ClockEstimator();
    let local = 1_700_000_000_000 + random() * 1e6;
    for (let i = 0; i < 16; i++) {
      const out = 2 + random() * 20;
      const back = 2 + random() * 20;
      const t0 = local;
      const t1 = t0 + out + skew;
      const t2 = t1 + random() * 0.5;
      const t3 = t0 + out + (t2 - t1) + back;
      est.add(clockSample(t0, t1, t2, t3)!);
      local = t3 + 100;
    }
    worst = Math.max(worst, Math.abs(est.offsetMs! - skew));
  }
  t.ok(worst <= 5, `worst error over 500 trials: ${worst.toFixed(2)} ms`);
});

t.test('the window follows drift: old samples fall out', async (t) => {
  const est = new ClockEstimator({ window: 4, best: 1 });
  for (let i = 0; i < 4; i++) est.add({ offsetMs: 100, rttMs: 2, lowMs: 99, highMs: 101, at: i });
  for (let i = 0; i < 4; i++) est.add({ offsetMs: 250, rttMs: 4, lowMs: 248, highMs: 252, at: 10 + i });
  t.equal(est.offsetMs, 250, 'stale samples no longer count');
  t.equal(est.samples, 4);
});

t.test('a clock step: bounds that no longer overlap fall back to the fastest round trips', async (t) => {
  const est = new ClockEstimator({ best: 1 });
  est.add(clockSample(0, 110, 110, 20)!); // offset 100 +- 10
  est.add(clockSample(1000, 1505, 1505, 1010)!); // offset 500 +- 5, after a step
  t.equal(est.offsetMs, 500);
});

t.test('ClockSync: a burst of pings, answers matched by id, now() on the server clock', async (t) => {
  const sent: ClockPing[] = [];
  let local = 5_000;
  const sync = new ClockSync({ send: (p) => sent.push(p), now: () => local, burst: 3, burstGapMs: 1, intervalMs: 60_000 });
  t.teardown(() => sync.destroy());
  t.equal(sync.synced, false);
  t.equal(sync.now(), 5_000, 'local clock until the first answer');
  sync.start();
  await new Promise((r) => setTimeout(r, 30));
  t.equal(sent.length, 3, 'burst of 3, then the long interval');
  const answer = (p: ClockPing, rtt: number): ClockPong => ({ type: 'pong', id: p.id, t0: p.t0, t1: p.t0 + rtt / 2 + 777, t2: p.t0 + rtt / 2 + 777 });
  local = sent[0]!.t0 + 8;
  sync.onPong(answer(sent[0]!, 8));
  t.equal(sync.offsetMs, 777);
  sync.onPong(answer(sent[0]!, 8));
  t.equal(sync.rttMs, 8, 'a duplicate answer is ignored');
  sync.onPong({ type: 'pong', id: 999, t0: 1, t1: 2, t2: 2 });
  t.equal(sync.offsetMs, 777, 'an unknown id is ignored');
  t.equal(sync.now(), local + 777);
  let threw = 0;
  const broken = new ClockSync({ send: () => { threw += 1; throw new Error('down'); }, burst: 2, burstGapMs: 1 });
  broken.start();
  await new Promise((r) => setTimeout(r, 20));
  broken.destroy();
  t.ok(threw >= 2, 'a failing send is survived and retried');
});
