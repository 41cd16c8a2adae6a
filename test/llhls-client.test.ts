// Pure pieces of the latency tooling and the player's catch-up decision.
import t from 'tap';
import { decideCatchUp } from '../player/watch/catch-up-controller.js';
import { firstVariantUri, parseMediaPlaylist } from '../loadtest/llhls-playlist.js';
import { summarize } from '../loadtest/stats.js';
import { PartStore } from '../origin/hls/part-store.js';
import { writeMasterPlaylist, writeMediaPlaylist } from '../origin/hls/playlist.js';

function store(parts: number, perSegment = 5): PartStore {
  const s = new PartStore({ windowSegments: 6 });
  s.newGeneration();
  for (let i = 0; i < parts; i++) s.addPart({ data: Buffer.from([i]), duration: 0.2, independent: i % perSegment === 0, wallClockMs: 1_700_000_000_000 + i * 200 });
  return s;
}

t.test('our playlist writer and the client parser agree on parts, hint and next request', async (t) => {
  const s = store(12);
  const text = writeMediaPlaylist({ store: s, partTarget: 0.2, partHoldBackParts: 3, partsListedSegments: 3 });
  const parsed = parseMediaPlaylist(text);
  t.equal(parsed.mediaSequence, 0);
  t.equal(parsed.partHoldBack, 0.6);
  t.equal(parsed.partTarget, 0.2);
  t.ok(parsed.canBlockReload);
  t.equal(parsed.preloadHint, 'part_12.m4s');
  t.same(parsed.next, { msn: 2, part: 2 }, 'ask for segment 2 part 2 next');
  t.equal(parsed.parts.length, 12);
  t.same(parsed.parts.filter((p) => p.independent).map((p) => p.uri), ['part_0.m4s', 'part_5.m4s', 'part_10.m4s']);
  t.equal(firstVariantUri(writeMasterPlaylist([{ uri: 'main/stream.m3u8', bandwidth: 1, codecs: ['avc1.42c01f'] }])), 'main/stream.m3u8');
});

t.test('satisfies() follows RFC 8216bis blocking semantics', async (t) => {
  const s = store(7); // segment 0 complete (5 parts), segment 1 open with 2
  t.ok(s.satisfies(0, undefined), 'segment 0 complete');
  t.notOk(s.satisfies(1, undefined), 'segment 1 still open');
  t.ok(s.satisfies(1, 1));
  t.notOk(s.satisfies(1, 2));
  t.ok(s.satisfies(0, 7), 'a part beyond a completed segment is satisfied by the next segment');
  s.end();
  t.ok(s.satisfies(9, 9), 'an ended stream satisfies everything');
});

t.test('the window slides and counts discontinuities that leave it', async (t) => {
  const s = new PartStore({ windowSegments: 2 });
  s.newGeneration();
  for (let i = 0; i < 10; i++) s.addPart({ data: Buffer.alloc(1), duration: 0.2, independent: i % 5 === 0, wallClockMs: undefined });
  s.newGeneration();
  for (let i = 0; i < 20; i++) s.addPart({ data: Buffer.alloc(1), duration: 0.2, independent: i % 5 === 0, wallClockMs: undefined });
  const text = writeMediaPlaylist({ store: s, partTarget: 0.2, partHoldBackParts: 3, partsListedSegments: 3 });
  t.match(text, /#EXT-X-MEDIA-SEQUENCE:3\n/);
  t.match(text, /#EXT-X-DISCONTINUITY-SEQUENCE:1\n/);
  t.notMatch(text, /#EXT-X-DISCONTINUITY\n/, 'the discontinuity slid out of the window');
  t.match(text, /#EXT-X-MAP:URI="init_1\.mp4"/);
});

t.test('catch-up: speeds up a little when behind, jumps when far behind, never drains the buffer', async (t) => {
  t.same(decideCatchUp({ latency: 0.65, target: 0.6, ahead: 0.6 }), { rate: 1, jump: 0 }, 'at target');
  t.same(decideCatchUp({ latency: 0.9, target: 0.6, ahead: 0.8 }), { rate: 1.1, jump: 0 });
  t.same(decideCatchUp({ latency: 1.2, target: 0.6, ahead: 1.0 }), { rate: 1.25, jump: 0 });
  t.same(decideCatchUp({ latency: 1.2, target: 0.6, ahead: 0.2 }), { rate: 1, jump: 0 }, 'too little buffered to hurry');
  const far = decideCatchUp({ latency: 3.0, target: 0.6, ahead: 2.0 });
  t.equal(far.rate, 1);
  t.ok(far.jump > 1.5 && far.jump <= 1.75, `jump ${far.jump} keeps 0.25 s buffered`);
  t.ok(decideCatchUp({ latency: 1.6, target: 0.6, ahead: 1.4 }).jump >= 0.99, "1 s behind with 1.4 s buffered: jump");
});

t.test('summaries are exact on small samples', async (t) => {
  const s = summarize([3, 1, 2, 4, 100]);
  t.equal(s.median, 3);
  t.equal(s.max, 100);
  t.equal(s.min, 1);
});
