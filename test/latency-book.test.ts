// LatencyBook on an injected clock: per-second history, hops, viewer counts and the expert alert
// (WebRTC above 300 ms for 5 s), with no timers and no sleeps.
import t from 'tap';
import { LatencyBook } from '../origin/latency/latency-book.js';
import type { LatencyAlert } from '../origin/latency/status-types.js';

function book(): { b: LatencyBook; clock: { now: number }; alerts: Array<[LatencyAlert, boolean]>; samples: string[] } {
  const clock = { now: 1_800_000_000_000 };
  const alerts: Array<[LatencyAlert, boolean]> = [];
  const samples: string[] = [];
  const b = new LatencyBook({ now: () => clock.now, onAlert: (a, on) => alerts.push([a, on]), onSample: (s, p, h) => samples.push(`${s}/${p}/${h}`) });
  return { b, clock, alerts, samples };
}

t.test('an expert on WebRTC above 300 ms for 5 s raises one alert; it clears when latency drops', async (t) => {
  const { b, clock, alerts } = book();
  b.setLive('endo', true);
  b.viewerJoined('endo', 'exp-1', 'expert');
  b.viewerJoined('endo', 'tr-1', 'trainee');
  for (let s = 0; s < 8; s++) {
    b.report('endo', 'exp-1', 'webrtc', 420);
    b.report('endo', 'tr-1', 'llhls', 900); // trainees on LL-HLS are always above 300 ms: no alert
    clock.now += 1000;
    if (s === 3) t.same(b.alerts(), [], 'not yet after 4 s');
  }
  const active = b.alerts();
  t.equal(active.length, 1);
  t.equal(active[0]!.viewerId, 'exp-1');
  t.match(active[0]!.message, /WebRTC latency 420 ms for 8 s \(> 300 ms\)/);
  t.equal(alerts.filter(([, on]) => on).length, 1, 'raised once');
  b.report('endo', 'exp-1', 'webrtc', 120);
  t.same(b.alerts(), []);
  t.same(alerts.map(([, on]) => on), [true, false], 'and cleared once');
  const snap = b.snapshot();
  t.same(snap.streams[0]!.viewers, { webrtc: 1, llhls: 1 });
  t.equal(snap.alerts.length, 0);
});

t.test('a dip below the threshold restarts the 5 s', async (t) => {
  const { b, clock } = book();
  b.setLive('us', true);
  b.viewerJoined('us', 'e', 'expert');
  for (const ms of [400, 400, 400, 400, 250, 400, 400, 400, 400]) {
    b.report('us', 'e', 'webrtc', ms);
    clock.now += 1000;
  }
  t.same(b.alerts(), [], '4 s above, a dip, 4 s above: no alert');
});

t.test('a viewer that leaves or goes quiet ends its alert and stops counting', async (t) => {
  const { b, clock, alerts } = book();
  b.setLive('us', true);
  b.viewerJoined('us', 'e', 'expert');
  for (let s = 0; s < 7; s++) {
    b.report('us', 'e', 'webrtc', 500);
    clock.now += 1000;
  }
  t.equal(b.alerts().length, 1);
  clock.now += 20_000;
  t.equal(b.alerts().length, 0, 'no reports for 20 s: not watching any more');
  t.same(b.viewerCounts('us'), { webrtc: 0, llhls: 0 });
  b.viewerLeft('us', 'e');
  t.equal(alerts.at(-1)?.[1], false);
});

t.test('history: one point per second with p50/p95 per path, bounded to historySeconds', async (t) => {
  const clock = { now: 1_800_000_000_000 };
  const b = new LatencyBook({ now: () => clock.now, historySeconds: 10 });
  b.setLive('s', true);
  b.viewerJoined('s', 'a', 'trainee');
  for (let s = 0; s < 30; s++) {
    for (let i = 1; i <= 20; i++) b.report('s', 'a', 'llhls', i * 10);
    clock.now += 1000;
  }
  const history = b.snapshot().streams[0]!.history;
  t.ok(history.length <= 11, `${history.length} points kept`);
  const last = history.at(-1)!;
  t.equal(last.webrtc, null);
  t.same(last.llhls, { p50Ms: 110, p95Ms: 200, maxMs: 200, n: 20 });
});

t.test('hops: ingest from the edge, encoder report, origin_to_player from reports', async (t) => {
  const { b, clock, samples } = book();
  b.setLive('s', true);
  b.encoder('s', { speed: 1.01, fps: 30, droppedFrames: 2, duplicatedFrames: 1, encodeMs: { llhls: 240, webrtc: 40 } });
  b.ingest('s', 'webrtc', 5000, 1, clock.now - 70, clock.now); // 70 ms since ingest, 40 of it encoding
  b.ingest('s', 'llhls', 100_000, 6, clock.now - 300, clock.now);
  b.viewerJoined('s', 'x', 'expert');
  b.report('s', 'x', 'webrtc', 150);
  const s = b.snapshot().streams[0]!;
  t.equal(s.hops.edge_to_origin !== null, true);
  t.equal(s.hops.origin_to_player, 80, 'report 150 - 70 since ingest');
  t.equal(s.hops.end_to_end, 150);
  t.equal(s.ingest.encoderSpeed, 1.01);
  t.equal(s.ingest.droppedFrames, 3);
  t.equal(s.ingest.fps, 1.2, '6 frames in the 5 s window');
  t.ok(samples.includes('s/webrtc/edge_to_origin') && samples.includes('s/webrtc/ingest_to_encoded') && samples.includes('s/webrtc/origin_to_player'));
});

t.test('unknown streams and viewers are ignored; ended streams leave once nobody watches', async (t) => {
  const { b } = book();
  b.report('nope', 'x', 'webrtc', 100);
  b.ingest('nope', 'llhls', 1, 1, 0, 0);
  t.same(b.snapshot().streams, []);
  b.setLive('s', true);
  b.viewerJoined('s', 'v', 'trainee');
  b.setLive('s', false);
  b.forget('s');
  t.equal(b.snapshot().streams.length, 1, 'kept while a viewer is connected');
  t.equal(b.snapshot().streams[0]!.live, false);
  b.viewerLeft('s', 'v');
  t.same(b.snapshot().streams, []);
});
