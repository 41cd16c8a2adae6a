import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ScopecastError } from '../lib/errors.js';
import { Fmp4Splitter, parseFragment, parseInit, type Fmp4Unit, type InitInfo } from '../codecs/fmp4/index.js';
import { rng } from './helpers/random.js';

// Fixtures come from test/fixtures/make-fmp4-fixtures.sh (ffmpeg 5.1, libx264 + aac, 1 s, ~200 ms
// fragments, prft before every moof).
const fixturePath = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const AV = readFileSync(fixturePath('av.cmaf'));
const VIDEO = readFileSync(fixturePath('video.cmaf'));
const PRFT_PTS = readFileSync(fixturePath('prft-pts.cmaf'));

function splitAll(data: Buffer, chunkSize: (remaining: number) => number): { units: Fmp4Unit[]; pending: number } {
  const splitter = new Fmp4Splitter();
  const units: Fmp4Unit[] = [];
  for (let offset = 0; offset < data.length; ) {
    const n = Math.max(1, Math.min(chunkSize(data.length - offset), data.length - offset));
    units.push(...splitter.push(data.subarray(offset, offset + n)));
    offset += n;
  }
  return { units, pending: splitter.pendingBytes };
}

function units(data: Buffer): { init: Buffer; fragments: Buffer[] } {
  const all = new Fmp4Splitter().push(data);
  const [first, ...rest] = all;
  if (first?.kind !== 'init') throw new Error('fixture does not start with an init unit');
  return { init: first.data, fragments: rest.map((u) => u.data) };
}

function boxTypes(data: Buffer): string[] {
  const types: string[] = [];
  for (let o = 0; o < data.length; o += data.readUInt32BE(o)) types.push(data.toString('latin1', o + 4, o + 8));
  return types;
}

/** What fn throws, as {code, message}; a code naming the problem when it does not throw a ScopecastError. */
function thrown(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (error instanceof ScopecastError) return { code: error.code, message: error.message };
    return { code: `not a ScopecastError: ${String(error)}`, message: '' };
  }
  return { code: 'did not throw', message: '' };
}

/** Pattern for t.match: SC_ERR_FMP4_PARSE, optionally with a detail. */
const parseFailure = (detail?: RegExp): { code: string; message?: RegExp } => (detail ? { code: 'SC_ERR_FMP4_PARSE', message: detail } : { code: 'SC_ERR_FMP4_PARSE' });

/** Builds a box from its type and payload pieces (test helper for hand-made structures). */
function box(type: string, ...payload: (Buffer | number[])[]): Buffer {
  const body = Buffer.concat(payload.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
  const header = Buffer.alloc(8);
  header.writeUInt32BE(8 + body.length, 0);
  header.write(type, 4, 'latin1');
  return Buffer.concat([header, body]);
}
const u32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const u16 = (n: number): number[] => [(n >>> 8) & 0xff, n & 0xff];

t.test('splitter', async (t) => {
  t.test('whole-buffer split: init, then one fragment per prft+moof+mdat, mfra left pending', async (t) => {
    const splitter = new Fmp4Splitter();
    const out = splitter.push(AV);
    t.same(out.map((u) => u.kind), ['init', 'fragment', 'fragment', 'fragment', 'fragment', 'fragment']);
    t.same(boxTypes(out[0]!.data), ['ftyp', 'moov']);
    for (const unit of out.slice(1)) t.same(boxTypes(unit.data), ['prft', 'moof', 'mdat']);
    const emitted = out.reduce((n, u) => n + u.data.length, 0);
    t.equal(splitter.pendingBytes, AV.length - emitted);
    t.equal(AV.toString('latin1', emitted + 4, emitted + 8), 'mfra', 'the pending tail is the mfra trailer');
    t.same(Buffer.concat(out.map((u) => u.data)), AV.subarray(0, emitted), 'units are the stream bytes, in order');
  });

  t.test('1-byte chunks and random chunkings give identical units', async (t) => {
    for (const [name, data] of [['av', AV], ['video', VIDEO]] as const) {
      const reference = new Fmp4Splitter().push(data);
      const oneByte = splitAll(data, () => 1);
      t.same(oneByte.units, reference, `${name}: 1-byte chunks`);
      for (const seed of [1, 2, 3, 42, 1337]) {
        const random = rng(seed);
        const maxChunk = [3, 17, 500, 4096, 70_000][seed % 5] ?? 100;
        const split = splitAll(data, () => 1 + Math.floor(random() * maxChunk));
        t.same(split.units, reference, `${name}: random chunks seed ${seed} up to ${maxChunk} bytes`);
        t.equal(split.pending, oneByte.pending, `${name}: same pending tail, seed ${seed}`);
      }
    }
  });

  t.test('pendingBytes counts bytes received but not emitted', async (t) => {
    const splitter = new Fmp4Splitter();
    t.equal(splitter.pendingBytes, 0);
    t.same(splitter.push(AV.subarray(0, 5)), []);
    t.equal(splitter.pendingBytes, 5);
    t.same(splitter.push(Buffer.alloc(0)), [], 'empty chunk is harmless');
    const out = splitter.push(AV.subarray(5, 2000));
    t.same(out.map((u) => u.kind), ['init']);
    t.equal(splitter.pendingBytes, 2000 - out[0]!.data.length);
  });

  t.test('emitted units do not alias later writes to the caller buffers', async (t) => {
    const copy = Buffer.from(VIDEO);
    const out = new Fmp4Splitter().push(copy);
    copy.fill(0);
    t.same(out[0]!.data, VIDEO.subarray(0, out[0]!.data.length));
  });

  t.test('box size < 8 fails, and the splitter stays failed', async (t) => {
    const splitter = new Fmp4Splitter();
    t.match(thrown(() => splitter.push(Buffer.from([0, 0, 0, 4, 0x66, 0x74, 0x79, 0x70]))), parseFailure(/size 4/), 'size 4');
    t.match(thrown(() => splitter.push(VIDEO)), parseFailure(/failed earlier/), 'push after failure');
  });

  t.test('size 0 (to end of file) is refused in a stream', async (t) => {
    t.match(thrown(() => new Fmp4Splitter().push(Buffer.from([0, 0, 0, 0, 0x6d, 0x64, 0x61, 0x74]))), parseFailure(/size 0/), 'size 0');
  });

  t.test('size above maxBoxBytes fails as soon as the header arrives', async (t) => {
    const splitter = new Fmp4Splitter({ maxBoxBytes: 1024 });
    t.match(thrown(() => splitter.push(Buffer.from([0, 0, 0x08, 0x00, 0x66, 0x74, 0x79, 0x70]))), parseFailure(/exceeds maxBoxBytes 1024/), 'size 2048');
    t.match(thrown(() => new Fmp4Splitter().push(Buffer.from([...u32(16 * 1024 * 1024 + 1), 0x6d, 0x64, 0x61, 0x74]))), parseFailure(), 'default limit is 16 MiB');
    const atLimit = new Fmp4Splitter({ maxBoxBytes: 1024 });
    t.same(atLimit.push(Buffer.from([0, 0, 0x04, 0x00, 0x66, 0x72, 0x65, 0x65])), [], 'size == maxBoxBytes is accepted');
  });

  t.test('largesize beyond maxBoxBytes fails, largesize within it works', async (t) => {
    const huge = Buffer.from([0, 0, 0, 1, 0x6d, 0x64, 0x61, 0x74, 0, 0, 0x01, 0, 0, 0, 0, 0]);
    t.match(thrown(() => new Fmp4Splitter().push(huge)), parseFailure(/largesize/), 'largesize 2^40');
    t.match(thrown(() => new Fmp4Splitter().push(Buffer.from([0, 0, 0, 1, 0x6d, 0x64, 0x61, 0x74, 0, 0, 0, 0, 0, 0, 0, 12]))), parseFailure(), 'largesize 12 < 16');
    // Rewrite the init's moov with a 64-bit size; the units must be unchanged apart from that header.
    const { init } = units(VIDEO);
    const ftypSize = init.readUInt32BE(0);
    const moov = init.subarray(ftypSize);
    const longMoov = Buffer.concat([Buffer.from([0, 0, 0, 1]), Buffer.from('moov'), Buffer.from([0, 0, 0, 0, ...u32(moov.length + 8)]), moov.subarray(8)]);
    const stream = Buffer.concat([init.subarray(0, ftypSize), longMoov, VIDEO.subarray(init.length)]);
    const out = splitAll(stream, () => 7).units;
    t.equal(out[0]?.kind, 'init');
    t.same(out[0]?.data, Buffer.concat([init.subarray(0, ftypSize), longMoov]));
    t.equal(out.length, 6);
    t.equal(parseInit(out[0]!.data).videoTrack?.codec, 'avc1.42c00b', 'parseInit reads largesize boxes too');
  });

  t.test('garbage and out-of-order boxes fail', async (t) => {
    const random = rng(7);
    const noise = Buffer.from(Array.from({ length: 4096 }, () => Math.floor(random() * 256)));
    t.match(thrown(() => new Fmp4Splitter().push(noise)), parseFailure(), 'random bytes');
    t.match(thrown(() => new Fmp4Splitter().push(Buffer.from('<html><body>not video</body></html>'))), parseFailure(), 'text');
    t.match(thrown(() => new Fmp4Splitter().push(Buffer.from([0, 0, 0, 8, 0, 1, 2, 3]))), parseFailure(/four-character code/), 'non-printable type');
    const { init, fragments } = units(VIDEO);
    const moofOnly = fragments[0]!.subarray(32);
    t.match(thrown(() => new Fmp4Splitter().push(moofOnly)), parseFailure(/before any moov/), 'moof with no init first');
    t.match(thrown(() => new Fmp4Splitter().push(Buffer.concat([init, box('mdat', [1, 2, 3])]))), parseFailure(/mdat before the first moof/), 'mdat before moof');
    const frag = fragments[1]!;
    const moofEnd = 32 + frag.readUInt32BE(32);
    t.match(thrown(() => new Fmp4Splitter().push(Buffer.concat([init, frag.subarray(0, moofEnd), frag.subarray(0, moofEnd)]))), parseFailure(/without an mdat/), 'moof moof');
    t.match(thrown(() => new Fmp4Splitter().push(Buffer.concat([init, frag, frag.subarray(moofEnd)]))), parseFailure(/mdat without a preceding moof/), 'orphan mdat');
  });
});

t.test('parseInit', async (t) => {
  t.test('audio + video', async (t) => {
    const info = parseInit(units(AV).init);
    t.equal(info.tracks.length, 2);
    t.match(info.videoTrack, {
      id: 1,
      kind: 'video',
      timescale: 15360,
      codec: 'avc1.42c00b', // libx264 ultrafast: Constrained Baseline, level 1.1
      width: 160,
      height: 120,
      nalLengthSize: 4,
    });
    t.equal(info.videoTrack?.sps?.length, 1);
    t.equal(info.videoTrack?.sps?.[0]?.[0]! & 0x1f, 7, 'sps is a NAL unit of type 7');
    t.equal(info.videoTrack?.sps?.[0]?.[1], 0x42, 'sps profile_idc matches the codec string');
    t.same(info.videoTrack?.pps, [Buffer.from([0x68, 0xce, 0x0f, 0xc8])]);
    t.match(info.audioTrack, { id: 2, kind: 'audio', timescale: 48000, codec: 'mp4a.40.2', sampleRate: 48000 });
    t.equal(info.audioTrack?.channels, 1, 'channels from AudioSpecificConfig, not the sample entry template (2)');
    t.equal(info.videoTrack?.defaultSampleFlags, 0, 'trex defaults are read');
  });

  t.test('video only', async (t) => {
    const info = parseInit(units(VIDEO).init);
    t.equal(info.tracks.length, 1);
    t.equal(info.audioTrack, undefined);
    t.equal(info.videoTrack?.codec, 'avc1.42c00b');
  });

  t.test('hand-built Opus init (no mvex), with a non-AV track skipped', async (t) => {
    const fullBox = (type: string, ...payload: (Buffer | number[])[]): Buffer => box(type, [0, 0, 0, 0], ...payload);
    const tkhd = (id: number): Buffer => fullBox('tkhd', u32(0), u32(0), u32(id), u32(0), u32(0), new Array(52).fill(0), u32(0), u32(0));
    const mdhd = fullBox('mdhd', u32(0), u32(0), u32(48000), u32(0), [0x55, 0xc4, 0, 0]);
    const hdlr = (type: string): Buffer => fullBox('hdlr', u32(0), Buffer.from(type), new Array(12).fill(0), [0]);
    const dOps = box('dOps', [0, 2], u16(312), u32(44100), u16(0), [0]);
    const opusEntry = box('Opus', new Array(6).fill(0), u16(1), new Array(8).fill(0), u16(2), u16(16), u16(0), u16(0), u32(48000 * 0x10000 >>> 0), dOps);
    const stbl = box('stbl', fullBox('stsd', u32(1), opusEntry));
    const audioTrak = box('trak', tkhd(3), box('mdia', mdhd, hdlr('soun'), box('minf', stbl)));
    const textTrak = box('trak', tkhd(4), box('mdia', mdhd, hdlr('text'), box('minf', box('stbl'))));
    const init = Buffer.concat([box('ftyp', Buffer.from('iso6'), u32(0)), box('moov', textTrak, audioTrak)]);
    const info = parseInit(init);
    t.same(info.tracks.map((tr) => tr.id), [3]);
    t.same(info.audioTrack, { id: 3, kind: 'audio', timescale: 48000, codec: 'opus', sampleRate: 48000, channels: 2 });
  });

  t.test('garbage, truncation and missing moov fail with SC_ERR_FMP4_PARSE', async (t) => {
    const { init } = units(AV);
    t.match(thrown(() => parseInit(Buffer.from('definitely not an mp4 file'))), parseFailure(), 'text');
    t.match(thrown(() => parseInit(Buffer.alloc(0))), parseFailure(/no moov/), 'empty');
    t.match(thrown(() => parseInit(init.subarray(0, init.readUInt32BE(0)))), parseFailure(/no moov/), 'ftyp only');
    for (let cut = 1; cut < init.length; cut++) t.match(thrown(() => parseInit(init.subarray(0, cut))), parseFailure(), `truncated at ${cut}`);
    const lying = Buffer.from(init);
    const mvhdAt = lying.indexOf('mvhd') - 4;
    lying.writeUInt32BE(0x7fff_ffff, mvhdAt);
    t.match(thrown(() => parseInit(lying)), parseFailure(/'mvhd' .* claims/), 'child box larger than moov');
    const noAvcC = Buffer.from(init);
    noAvcC.write('xxxx', noAvcC.indexOf('avcC'), 'latin1');
    t.match(thrown(() => parseInit(noAvcC)), parseFailure(/no avcC/), 'avc1 without avcC');
  });

  t.test('random byte corruption never escapes as a non-parse error', async (t) => {
    const { init } = units(AV);
    const random = rng(99);
    let failures = 0;
    for (let i = 0; i < 2000; i++) {
      const bad = Buffer.from(init);
      for (let k = 0; k < 3; k++) bad[Math.floor(random() * bad.length)] = Math.floor(random() * 256);
      try {
        parseInit(bad);
      } catch (error) {
        failures += 1;
        if (!(error instanceof ScopecastError) || error.code !== 'SC_ERR_FMP4_PARSE') t.fail(`iteration ${i}: ${String(error)}`);
      }
    }
    t.ok(failures > 0, `${failures} corrupted inits were rejected, all with SC_ERR_FMP4_PARSE`);
  });
});

t.test('parseFragment on ffmpeg output', async (t) => {
  for (const [name, data] of [['av', AV], ['video', VIDEO]] as const) {
    t.test(name, async (t) => {
      const { init: initData, fragments } = units(data);
      const init = parseInit(initData);
      const video = init.videoTrack!;
      const parsed = fragments.map((f) => parseFragment(f, init));
      t.same(parsed.map((f) => f.sequence), [1, 2, 3, 4, 5]);
      t.equal(parsed[0]?.startsWithKeyframe, true, 'first fragment starts with a keyframe');
      t.equal(parsed[0]?.startSec, 0);
      const keyframes = parsed.flatMap((f) => f.video?.samples ?? []).filter((s) => s.keyframe).length;
      t.equal(keyframes, 1, 'with -g 30 and 30 frames only the first frame is a keyframe');

      const videoSeconds = parsed.reduce((s, f) => s + f.durationSec, 0);
      t.ok(Math.abs(videoSeconds - 1) < 0.05, `video durations sum to ~1 s (${videoSeconds})`);
      t.equal(parsed.flatMap((f) => f.video!.samples).length, 30, '30 video frames');
      if (init.audioTrack) {
        const audioSeconds = parsed.reduce((s, f) => s + f.audio!.duration, 0) / init.audioTrack.timescale;
        t.ok(Math.abs(audioSeconds - 1) < 0.05, `audio durations sum to ~1 s (${audioSeconds})`);
        t.ok(parsed.every((f) => f.audio!.samples.every((s) => s.keyframe)), 'every AAC frame is a sync sample');
      }

      for (const which of ['video', 'audio'] as const) {
        let expected = 0;
        for (const [i, f] of parsed.entries()) {
          const tf = f[which];
          if (!tf) continue;
          t.equal(tf.baseDecodeTime, expected, `${which} fragment ${i} continues where the previous one ended`);
          for (const s of tf.samples) {
            t.equal(s.decodeTime, expected, `${which} sample decode times are contiguous`);
            expected += s.duration;
          }
          t.equal(tf.baseDecodeTime + tf.duration, expected);
        }
      }

      const mtime = statSync(fixturePath(`${name}.cmaf`)).mtimeMs;
      for (const [i, f] of parsed.entries()) {
        t.ok(f.prft, `fragment ${i} has a prft`);
        t.equal(f.prft?.trackId, video.id);
        // The file is written after every prft, and a checkout only makes its mtime later.
        t.ok(f.prft!.wallClockMs > Date.UTC(2020, 0, 1) && f.prft!.wallClockMs <= mtime + 1000, `prft ${f.prft?.wallClockMs} is a wall clock before the file mtime ${mtime}`);
        if (i > 0) t.ok(f.prft!.wallClockMs >= parsed[i - 1]!.prft!.wallClockMs, 'prft wall clock never goes back');
      }
      t.equal(parsed[1]?.prft?.mediaTime, parsed[1]?.video?.baseDecodeTime, 'prft media time is the fragment start');

      for (const [i, fragment] of fragments.entries()) {
        const f = parsed[i]!;
        const mdatAt = fragment.length - fragment.readUInt32BE(fragment.lastIndexOf('mdat') - 4);
        const all = f.tracks.flatMap((tf) => tf.samples).sort((a, b) => a.offset - b.offset);
        t.equal(all[0]?.offset, mdatAt + 8, `fragment ${i}: first sample starts right after the mdat header`);
        t.equal(all.reduce((n, s) => n + s.size, 0), fragment.length - mdatAt - 8, `fragment ${i}: samples fill the mdat exactly`);
        // Every video sample is a chain of length-prefixed NAL units that ends exactly at its size.
        for (const s of f.video!.samples) {
          let p = s.offset;
          while (p < s.offset + s.size) p += (video.nalLengthSize ?? 4) + fragment.readUIntBE(p, video.nalLengthSize ?? 4);
          if (p !== s.offset + s.size) t.fail(`fragment ${i}: NAL lengths do not add up to the sample at ${s.offset}`);
        }
        const firstNal = f.video!.samples[0]!;
        t.ok(fragment.readUInt32BE(firstNal.offset) + 4 <= firstNal.size, `fragment ${i}: first NAL length fits the first sample`);
      }
      const firstSample = parsed[0]!.video!.samples[0]!;
      const nalTypes: number[] = [];
      for (let p = firstSample.offset; p < firstSample.offset + firstSample.size; p += 4 + fragments[0]!.readUInt32BE(p)) nalTypes.push(fragments[0]![p + 4]! & 0x1f);
      t.ok(nalTypes.includes(5), `the first sample holds an IDR slice (NAL types ${nalTypes.join(',')})`);
    });
  }

  t.test('prft written from encoder pts (-write_prft pts)', async (t) => {
    const { init: initData, fragments } = units(PRFT_PTS);
    const init = parseInit(initData);
    for (const fragment of fragments) {
      const f = parseFragment(fragment, init);
      // ffmpeg 5.1 + libx264 stamps the frame pts as the "wall clock": NTP era start + media time.
      t.ok(Math.abs(f.prft!.wallClockMs - (f.prft!.mediaTime / init.videoTrack!.timescale) * 1000) < 1, `prft ${JSON.stringify(f.prft)}`);
    }
  });

  t.test('truncation, garbage and lies fail with SC_ERR_FMP4_PARSE', async (t) => {
    const { init: initData, fragments } = units(AV);
    const init = parseInit(initData);
    const fragment = fragments[2]!;
    for (let cut = 0; cut < fragment.length; cut += cut < 600 ? 1 : 97) {
      t.match(thrown(() => parseFragment(fragment.subarray(0, cut), init)), parseFailure(), `truncated at ${cut}`);
    }
    t.match(thrown(() => parseFragment(Buffer.from('garbage garbage garbage'), init)), parseFailure(), 'text');
    t.match(thrown(() => parseFragment(initData, init)), parseFailure(/no moof/), 'init instead of fragment');

    const moofAt = fragment.indexOf('moof') - 4;
    const trunAt = fragment.indexOf('trun') - 4;
    const hugeCount = Buffer.from(fragment);
    hugeCount.writeUInt32BE(1000, trunAt + 12);
    t.match(thrown(() => parseFragment(hugeCount, init)), parseFailure(/samples need/), 'sample_count larger than the trun');
    const badOffset = Buffer.from(fragment);
    badOffset.writeInt32BE(-moofAt - 100, trunAt + 16);
    t.match(thrown(() => parseFragment(badOffset, init)), parseFailure(/outside every mdat/), 'data_offset pointing before the buffer');
    const badSize = Buffer.from(fragment);
    badSize.writeUInt32BE(0x7fff_ffff, trunAt + 24);
    t.match(thrown(() => parseFragment(badSize, init)), parseFailure(/outside every mdat/), 'sample size past the mdat');
    const lyingTraf = Buffer.from(fragment);
    lyingTraf.writeUInt32BE(lyingTraf.readUInt32BE(trunAt) + 1, trunAt);
    t.match(thrown(() => parseFragment(lyingTraf, init)), parseFailure(/claims/), 'trun larger than its traf');
    const noMdat = fragment.subarray(0, fragment.lastIndexOf('mdat') - 4);
    t.match(thrown(() => parseFragment(noMdat, init)), parseFailure(/no mdat/), 'moof without mdat');
    const twoMoofs = Buffer.concat([fragment.subarray(0, fragment.lastIndexOf('mdat') - 4), fragment.subarray(moofAt)]);
    t.match(thrown(() => parseFragment(twoMoofs, init)), parseFailure(/second moof/), 'second moof');
  });

  t.test('random byte corruption of the moof never escapes as a non-parse error', async (t) => {
    const { init: initData, fragments } = units(AV);
    const init = parseInit(initData);
    const fragment = fragments[0]!;
    const moofEnd = fragment.indexOf('mdat') - 4;
    const random = rng(5);
    let failures = 0;
    for (let i = 0; i < 3000; i++) {
      const bad = Buffer.from(fragment);
      for (let k = 0; k < 2; k++) bad[Math.floor(random() * moofEnd)] = Math.floor(random() * 256);
      try {
        parseFragment(bad, init);
      } catch (error) {
        failures += 1;
        if (!(error instanceof ScopecastError) || error.code !== 'SC_ERR_FMP4_PARSE') t.fail(`iteration ${i}: ${String(error)}`);
      }
    }
    t.ok(failures > 0, `${failures} corrupted fragments were rejected, all with SC_ERR_FMP4_PARSE`);
  });
});

t.test('hand-built fragments parse to exact values', async (t) => {
  const init: InitInfo = {
    tracks: [{ id: 1, kind: 'video', timescale: 1024, codec: 'avc1.42c00b' }],
  };
  init.videoTrack = init.tracks[0]!;

  t.test('prft v0 + moof(mfhd, traf(tfhd, tfdt v1, trun v1)) + mdat, byte-exact', async (t) => {
    // prettier-ignore
    const bytes = Buffer.from([
      // prft v0, 28 bytes: track 1, NTP 3908988800.5 s (Unix 1700000000.5), media time 4096
      0x00, 0x00, 0x00, 0x1c, 0x70, 0x72, 0x66, 0x74, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x01, 0xe8, 0xfe, 0x6f, 0x80, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00,
      // moof, 124 bytes, at offset 28
      0x00, 0x00, 0x00, 0x7c, 0x6d, 0x6f, 0x6f, 0x66,
      // mfhd: sequence 42
      0x00, 0x00, 0x00, 0x10, 0x6d, 0x66, 0x68, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a,
      // traf, 100 bytes
      0x00, 0x00, 0x00, 0x64, 0x74, 0x72, 0x61, 0x66,
      // tfhd flags 0x020028 (default-base-is-moof, default duration, default flags): track 1,
      // duration 1024, flags 0x01010000 (depends on others, non-sync)
      0x00, 0x00, 0x00, 0x18, 0x74, 0x66, 0x68, 0x64, 0x00, 0x02, 0x00, 0x28,
      0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x04, 0x00, 0x01, 0x01, 0x00, 0x00,
      // tfdt v1: baseMediaDecodeTime 2^32
      0x00, 0x00, 0x00, 0x14, 0x74, 0x66, 0x64, 0x74, 0x01, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
      // trun v1 flags 0x000a05 (data-offset, first-sample-flags, size, composition offset):
      // 3 samples, data_offset 132, first flags 0x02000000 (sync)
      0x00, 0x00, 0x00, 0x30, 0x74, 0x72, 0x75, 0x6e, 0x01, 0x00, 0x0a, 0x05,
      0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x84, 0x02, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x04, 0x00, // size 5, cto +1024
      0x00, 0x00, 0x00, 0x03, 0xff, 0xff, 0xfe, 0x00, // size 3, cto -512
      0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, // size 2, cto 0
      // mdat, 18 bytes, payload at offset 160
      0x00, 0x00, 0x00, 0x12, 0x6d, 0x64, 0x61, 0x74,
      0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0b, 0x0b, 0x0b, 0x0c, 0x0c,
    ]);
    t.equal(bytes.length, 170);
    const f = parseFragment(bytes, init);
    const base = 2 ** 32;
    const track = {
      trackId: 1,
      baseDecodeTime: base,
      duration: 3072,
      samples: [
        { offset: 160, size: 5, duration: 1024, keyframe: true, compositionOffset: 1024, decodeTime: base },
        { offset: 165, size: 3, duration: 1024, keyframe: false, compositionOffset: -512, decodeTime: base + 1024 },
        { offset: 168, size: 2, duration: 1024, keyframe: false, compositionOffset: 0, decodeTime: base + 2048 },
      ],
    };
    t.strictSame(f, {
      sequence: 42,
      prft: { trackId: 1, wallClockMs: 1_700_000_000_500, mediaTime: 4096 },
      tracks: [track],
      video: track,
      startsWithKeyframe: true,
      durationSec: 3,
      startSec: base / 1024,
    });
    for (const [i, s] of f.video!.samples.entries()) t.same(bytes.subarray(s.offset, s.offset + s.size), Buffer.alloc(s.size, [0x0a, 0x0b, 0x0c][i]!));

    // The splitter accepts it after an init and hands back the same bytes.
    const initBytes = Buffer.concat([box('ftyp', Buffer.from('iso6'), u32(0)), box('moov')]);
    const out = new Fmp4Splitter().push(Buffer.concat([initBytes, bytes]));
    t.same(out, [{ kind: 'init', data: initBytes }, { kind: 'fragment', data: bytes }]);
  });

  t.test('trex defaults, tfhd base chaining between trafs, tfdt v0, prft v1', async (t) => {
    const av: InitInfo = {
      tracks: [
        { id: 1, kind: 'video', timescale: 90000, codec: 'avc1.64001f', defaultSampleDuration: 3000, defaultSampleSize: 4, defaultSampleFlags: 0x01010000 },
        { id: 2, kind: 'audio', timescale: 48000, codec: 'mp4a.40.2', defaultSampleDuration: 1024, defaultSampleSize: 2, defaultSampleFlags: 0 },
      ],
    };
    av.videoTrack = av.tracks[0]!;
    av.audioTrack = av.tracks[1]!;
    const tfhd = (track: number): Buffer => box('tfhd', [0, 0, 0, 0], u32(track)); // no flags: all from trex
    const tfdt0 = (t: number): Buffer => box('tfdt', [0, 0, 0, 0], u32(t));
    const build = (dataOffset: number): Buffer => {
      const videoTrun = box('trun', [0, 0, 0, 0x05], u32(2), u32(dataOffset), u32(0x02000000));
      const audioTrun = box('trun', [0, 0, 0, 0], u32(3)); // no data_offset: follows the video data
      const moof = box('moof', box('mfhd', [0, 0, 0, 0], u32(7)), box('traf', tfhd(1), tfdt0(180000), videoTrun), box('traf', tfhd(2), tfdt0(96000), audioTrun));
      return Buffer.concat([moof, box('mdat', new Array(8 + 6).fill(0x33))]);
    };
    const moofSize = build(0).length - 22;
    const data = build(moofSize + 8);
    const prft = box('prft', [1, 0, 0, 0], u32(2), [0xe8, 0xfe, 0x6f, 0x80, 0, 0, 0, 0], u32(0), u32(96000));
    const f = parseFragment(data, av);
    t.same(f.video?.samples.map((s) => [s.offset, s.size, s.duration, s.keyframe, s.decodeTime]), [
      [moofSize + 8, 4, 3000, true, 180000],
      [moofSize + 12, 4, 3000, false, 183000],
    ]);
    t.same(f.audio?.samples.map((s) => [s.offset, s.size, s.keyframe, s.decodeTime]), [
      [moofSize + 16, 2, true, 96000],
      [moofSize + 18, 2, true, 97024],
      [moofSize + 20, 2, true, 98048],
    ]);
    t.equal(f.sequence, 7);
    t.equal(f.durationSec, 6000 / 90000);
    t.equal(f.startSec, 2);
    t.equal(f.prft, undefined, 'no prft box, no prft');
    const withPrft = parseFragment(Buffer.concat([prft, build(moofSize + 8)]), av);
    t.same(withPrft.prft, { trackId: 2, wallClockMs: 1_700_000_000_000, mediaTime: 96000 });
    t.equal(withPrft.video?.samples[0]?.offset, prft.length + moofSize + 8, 'offsets are into the whole buffer');

    t.match(thrown(() => parseFragment(data, { tracks: [] })), parseFailure(/no sample duration/), 'unknown track without defaults');

    const zeroSizeFlood = Buffer.concat([
      box('moof', box('mfhd', [0, 0, 0, 0], u32(1)), box('traf', box('tfhd', [0, 0, 0, 0x18], u32(1), u32(1), u32(0)), box('trun', [0, 0, 0, 0], u32(0xffff_ffff)))),
      box('mdat'),
    ]);
    t.match(thrown(() => parseFragment(zeroSizeFlood, av)), parseFailure(/sample_count 4294967295 exceeds/), 'a lying sample_count of zero-size samples is refused up front');
  });
});
