import t from 'tap';
import { FfmpegProcess } from '../codecs/ffmpeg/index.js';
import { parseFragment, parseInit } from '../codecs/fmp4/index.js';
import {
  depacketizeH264,
  H264Packetizer,
  OpusPacketizer,
  toRtpTimestamp,
  type H264AccessUnit,
  type RtpOut,
} from '../codecs/rtp/index.js';
import { cmafFixture, fixturePath } from './helpers/fixtures.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
/** AVCC sample: every NAL unit behind a big-endian length of `size` bytes. */
function avcc(nals: readonly Buffer[], size = 4): Buffer {
  return Buffer.concat(
    nals.flatMap((nal) => {
      const prefix = Buffer.alloc(size);
      prefix.writeUIntBE(nal.length, 0, size);
      return [prefix, nal];
    }),
  );
}
/** n bytes after a NAL header byte, as a counting pattern so misplaced bytes show up. */
function nalOf(header: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  b[0] = header;
  for (let i = 1; i < n; i++) b[i] = i & 0xff;
  return b;
}
const view = (packets: readonly RtpOut[]) =>
  packets.map((p) => ({ payload: p.payload.toString('hex'), marker: p.marker, timestamp: p.timestamp, sequenceNumber: p.sequenceNumber }));

const SPS = hex('6742c00bab40a0fd0880');
const PPS = hex('68ce0fc8');
const delta = (rtpTimestamp = 3000): H264AccessUnit => ({ nalLengthSize: 4, keyframe: false, sps: [SPS], pps: [PPS], rtpTimestamp });
const key = (rtpTimestamp = 0): H264AccessUnit => ({ ...delta(rtpTimestamp), keyframe: true });
const parseFailure = { code: 'SC_ERR_FMP4_PARSE', name: 'ScopecastError' };

t.test('H.264 packetizer: byte-exact packets for hand-built samples', async (t) => {
  t.test('one small NAL is one single NAL unit packet with the marker', async (t) => {
    const p = new H264Packetizer({ initialSequence: 100 });
    t.same(view(p.packetize(avcc([hex('419a0102')]), delta(3000))), [
      { payload: '419a0102', marker: true, timestamp: 3000, sequenceNumber: 100 },
    ]);
    t.equal(p.nextSequence, 101);
  });

  t.test('two NALs are two packets, marker only on the last', async (t) => {
    const p = new H264Packetizer({ initialSequence: 7 });
    t.same(view(p.packetize(avcc([hex('06050180'), hex('419a0102')]), delta(123456))), [
      { payload: '06050180', marker: false, timestamp: 123456, sequenceNumber: 7 },
      { payload: '419a0102', marker: true, timestamp: 123456, sequenceNumber: 8 },
    ]);
  });

  t.test('keyframe: SPS and PPS aggregated in one STAP-A in front of the IDR', async (t) => {
    const p = new H264Packetizer({ initialSequence: 0 });
    t.same(view(p.packetize(avcc([hex('65888400')]), key(90000))), [
      // STAP-A header: F=0, NRI=max(3,3), type 24 = 0x78; then 16-bit size + NAL for each.
      { payload: '78' + '000a' + '6742c00bab40a0fd0880' + '0004' + '68ce0fc8', marker: false, timestamp: 90000, sequenceNumber: 0 },
      { payload: '65888400', marker: true, timestamp: 90000, sequenceNumber: 1 },
    ]);
  });

  t.test('STAP-A takes the highest NRI of the parameter sets', async (t) => {
    const p = new H264Packetizer({ initialSequence: 0 });
    const out = p.packetize(avcc([hex('25888400')]), { ...key(), sps: [hex('2742c00b')], pps: [hex('48ce')] });
    t.equal(out[0]?.payload.toString('hex'), '58' + '0004' + '2742c00b' + '0002' + '48ce');
  });

  t.test('parameter sets that do not fit one STAP-A go as single NAL units', async (t) => {
    // 1 + (2 + 10) + (2 + 4) = 19 bytes of STAP-A > 18.
    const p = new H264Packetizer({ initialSequence: 0, maxPayloadBytes: 18 });
    t.same(view(p.packetize(avcc([hex('65888400')]), key(5))).map((x) => x.payload), ['6742c00bab40a0fd0880', '68ce0fc8', '65888400']);
    const fits = new H264Packetizer({ initialSequence: 0, maxPayloadBytes: 19 });
    t.equal(fits.packetize(avcc([hex('65888400')]), key(5)).length, 2, 'exactly 19 bytes still aggregates');
  });

  t.test('a parameter set larger than the payload limit is sent as FU-A', async (t) => {
    const p = new H264Packetizer({ initialSequence: 0, maxPayloadBytes: 6 });
    t.same(view(p.packetize(avcc([hex('6588')]), key(5))).map((x) => x.payload), [
      '7c87' + '42c00bab', // SPS 67|42c00bab40a0fd0880: indicator 0x7c, header S|7
      '7c07' + '40a0fd08',
      '7c47' + '80', // header E|7
      '68ce0fc8',
      '6588',
    ]);
  });

  t.test('non-keyframes get no parameter sets; a keyframe without them still packetizes', async (t) => {
    const p = new H264Packetizer({ initialSequence: 0 });
    t.equal(p.packetize(avcc([hex('419a')]), delta()).length, 1);
    t.same(view(p.packetize(avcc([hex('6588')]), { ...key(), sps: [], pps: [] })).map((x) => x.payload), ['6588']);
    t.same(view(p.packetize(avcc([hex('6588')]), { ...key(), pps: [] })).map((x) => x.payload), ['6742c00bab40a0fd0880', '6588'], 'a lone SPS is not aggregated');
  });

  t.test('FU-A split of a 3000-byte NAL at maxPayloadBytes 1200', async (t) => {
    const nal = nalOf(0x65, 3000); // F=0 NRI=3 type=5
    const p = new H264Packetizer({ initialSequence: 10 });
    const out = p.packetize(avcc([nal]), delta(42));
    // The NAL header byte is not sent: 2999 body bytes = 1198 + 1198 + 603.
    t.same(out.map((x) => x.payload.length), [1200, 1200, 605]);
    t.same(out.map((x) => x.payload.subarray(0, 2).toString('hex')), ['7c85', '7c05', '7c45'], 'FU indicator 0x7c; FU header S|5, 5, E|5');
    t.same(out.map((x) => x.marker), [false, false, true]);
    t.same(out.map((x) => x.sequenceNumber), [10, 11, 12]);
    t.same(out.map((x) => x.timestamp), [42, 42, 42]);
    t.same(out[0]!.payload.subarray(2), nal.subarray(1, 1199));
    t.same(out[1]!.payload.subarray(2), nal.subarray(1199, 2397));
    t.same(out[2]!.payload.subarray(2), nal.subarray(2397));

    const slice = new H264Packetizer({ initialSequence: 0 }).packetize(avcc([nalOf(0x41, 3000)]), delta());
    t.same(slice.map((x) => x.payload.subarray(0, 2).toString('hex')), ['5c81', '5c01', '5c41'], 'NRI 2 kept in the indicator, type 1 in the header');
  });

  t.test('a NAL of exactly maxPayloadBytes is a single packet; one byte more is FU-A', async (t) => {
    const p = new H264Packetizer({ initialSequence: 0, maxPayloadBytes: 100 });
    t.same(p.packetize(avcc([nalOf(0x41, 100)]), delta()).map((x) => x.payload.length), [100]);
    const split = p.packetize(avcc([nalOf(0x41, 101)]), delta());
    t.same(split.map((x) => x.payload.length), [100, 4], '100 body bytes = 98 + 2');
    t.same(split.map((x) => x.payload[1]), [0x81, 0x41]);
  });

  t.test('AUD and filler data are dropped', async (t) => {
    const p = new H264Packetizer({ initialSequence: 0 });
    const out = p.packetize(avcc([hex('09f0'), hex('419a01'), hex('0cffffff80')]), delta());
    t.same(view(out).map((x) => x.payload), ['419a01']);
    t.equal(out[0]!.marker, true, 'marker moves to the last packet actually sent');
    t.same(p.packetize(avcc([hex('09f0')]), key()), [], 'an AU of only an AUD sends nothing, not even parameter sets');
    t.same(p.packetize(Buffer.alloc(0), key()), [], 'empty sample');
    t.equal(p.nextSequence, 1);
  });

  t.test('nalLengthSize 1, 2 and 4 give the same packets', async (t) => {
    const nals = [hex('06050180'), nalOf(0x65, 200)];
    const run = (size: number) =>
      view(new H264Packetizer({ initialSequence: 0, maxPayloadBytes: 128 }).packetize(avcc(nals, size), { ...key(), nalLengthSize: size }));
    const four = run(4);
    t.same(four.map((x) => x.payload.slice(0, 4)), ['7800', '0605', '7c85', '7c45'], 'STAP-A, SEI, two FU-A fragments');
    t.same(run(2), four, 'nalLengthSize 2');
    t.same(run(1), four, 'nalLengthSize 1');
  });

  t.test('sequence numbers wrap 65535 -> 0', async (t) => {
    const p = new H264Packetizer({ initialSequence: 65534 });
    const out = p.packetize(avcc([hex('419a'), hex('419b'), hex('419c')]), delta());
    t.same(out.map((x) => x.sequenceNumber), [65534, 65535, 0]);
    t.equal(p.nextSequence, 1);
    const random = new H264Packetizer();
    t.ok(Number.isInteger(random.nextSequence) && random.nextSequence >= 0 && random.nextSequence <= 65535, 'default start is a uint16');
  });

  t.test('malformed samples throw SC_ERR_FMP4_PARSE and emit nothing', async (t) => {
    const p = new H264Packetizer({ initialSequence: 500 });
    const good = avcc([hex('419a0102')]);
    t.throws(() => p.packetize(Buffer.concat([good, hex('00000009'), hex('419a')]), delta()), { ...parseFailure, message: /claims 9 bytes but only 2 remain/ }, 'length prefix past the end');
    t.throws(() => p.packetize(Buffer.concat([good, hex('00000000'), good]), delta()), { ...parseFailure, message: /zero-length/ }, 'zero-length NAL');
    t.throws(() => p.packetize(Buffer.concat([good, hex('0000')]), delta()), { ...parseFailure, message: /inside a NAL length prefix/ }, 'truncated length prefix');
    t.throws(() => p.packetize(good, { ...delta(), nalLengthSize: 3 }), { ...parseFailure, message: /1, 2 or 4/ }, 'nalLengthSize 3');
    t.equal(p.nextSequence, 500, 'no sequence number consumed');
    t.equal(p.packetize(good, delta())[0]?.sequenceNumber, 500);
  });

  t.test('bad arguments are RangeErrors', async (t) => {
    t.throws(() => new H264Packetizer({ maxPayloadBytes: 2 }), RangeError);
    t.throws(() => new H264Packetizer({ maxPayloadBytes: 1200.5 }), RangeError);
    t.throws(() => new H264Packetizer({ initialSequence: 65536 }), RangeError);
    t.throws(() => new H264Packetizer({ initialSequence: -1 }), RangeError);
    const p = new H264Packetizer({ initialSequence: 0 });
    t.throws(() => p.packetize(avcc([hex('419a')]), delta(2 ** 32)), RangeError);
    t.throws(() => p.packetize(avcc([hex('419a')]), delta(Number.NaN)), RangeError);
    t.equal(p.packetize(avcc([hex('419a')]), delta(2 ** 32 - 1))[0]?.timestamp, 0xffffffff);
  });
});

t.test('H.264 depacketizer', async (t) => {
  t.test('single NAL, STAP-A and FU-A to Annex-B', async (t) => {
    const annexB = depacketizeH264([
      hex('78 000a 6742c00bab40a0fd0880 0004 68ce0fc8'),
      hex('7c85 0102'),
      hex('7c05 03'),
      hex('7c45 04'),
      hex('419a'),
    ]);
    t.equal(annexB.toString('hex'), '00000001' + '6742c00bab40a0fd0880' + '00000001' + '68ce0fc8' + '00000001' + '6501020304' + '00000001' + '419a');
  });

  t.test('broken sequences throw SC_ERR_INGEST_MEDIA', async (t) => {
    const broken = (payloads: string[], message: RegExp, what: string): void => {
      t.throws(() => depacketizeH264(payloads.map(hex)), { code: 'SC_ERR_INGEST_MEDIA', message }, what);
    };
    broken(['7c05 03', '7c45 04'], /without a start/, 'FU-A middle without start');
    broken(['7c45 04'], /without a start/, 'FU-A end without start');
    broken(['7c85 01', '7c05 02'], /no end fragment/, 'FU-A without end');
    broken(['7c85 01', '7c85 02', '7c45 03'], /start before/, 'two starts');
    broken(['7c85 01', '419a', '7c45 03'], /before the FU-A started at packet 0 ended/, 'single NAL inside an FU-A');
    broken(['7cc5 01'], /both start and end/, 'S and E both set');
    broken(['7c85 01', '5c45 02'], /header changed/, 'NRI changes mid-unit');
    broken(['7c85 01', '7c41 02'], /header changed/, 'type changes mid-unit');
    broken(['7c85'], /no NAL unit bytes/, 'FU-A without body');
    broken(['78 000a 6742'], /claims 10 bytes/, 'STAP-A truncated');
    broken(['78 00'], /inside a size field/, 'STAP-A size field cut');
    broken(['78 0000'], /zero-size/, 'STAP-A zero-size unit');
    broken(['78'], /carries no NAL unit/, 'empty STAP-A');
    broken(['79 0002 419a'], /type 25 is not allowed/, 'STAP-B');
    broken(['7d 00 00'], /type 29 is not allowed/, 'FU-B');
    broken(['60'], /type 0 is not allowed/, 'type 0');
    broken([''], /empty payload/, 'empty payload');
  });
});

t.test('toRtpTimestamp', async (t) => {
  t.equal(toRtpTimestamp(512, 15360, 90000), 3000);
  t.equal(toRtpTimestamp(15360, 15360, 90000), 90000);
  t.equal(toRtpTimestamp(1, 44100, 90000), 2, '2.04 rounds to 2');
  t.equal(toRtpTimestamp(1, 180000, 90000), 1, '0.5 rounds up');
  t.equal(toRtpTimestamp(1024, 48000, 48000, 0xffffff00), 768, 'offset wraps');
  t.equal(toRtpTimestamp(0, 90000, 90000, 2 ** 32 - 1), 2 ** 32 - 1);
  t.equal(toRtpTimestamp(2 ** 32 + 5, 90000, 90000), 5, 'uint32 wrap');
  t.equal(toRtpTimestamp(-1, 90000, 90000), 2 ** 32 - 1, 'negative times wrap too');
  t.equal(toRtpTimestamp(-512, 15360, 90000), 2 ** 32 - 3000);
  // 100 days at 15360 Hz times 90000 exceeds 2^53: the BigInt path must agree with exact arithmetic.
  const time = 15360 * 86400 * 100 + 7;
  const exact = Number((BigInt(time) * 90000n * 2n + 15360n) / (2n * 15360n) % 2n ** 32n);
  t.ok(time * 90000 > Number.MAX_SAFE_INTEGER);
  t.equal(toRtpTimestamp(time, 15360, 90000), exact);
  t.equal(toRtpTimestamp(Number.MAX_SAFE_INTEGER, 1, 90000), Number((BigInt(Number.MAX_SAFE_INTEGER) * 90000n) % 2n ** 32n));
  const floorDiv = (a: bigint, b: bigint): bigint => (a < 0n && a % b !== 0n ? a / b - 1n : a / b);
  const mod32 = (x: bigint): number => Number(((x % 2n ** 32n) + 2n ** 32n) % 2n ** 32n);
  const negative = -(2 ** 52) - 3;
  t.equal(toRtpTimestamp(negative, 15360, 90000), mod32(floorDiv(BigInt(negative) * 180000n + 15360n, 30720n)), 'BigInt path floors negative times');
  t.throws(() => toRtpTimestamp(1.5, 90000, 90000), RangeError);
  t.throws(() => toRtpTimestamp(1, 0, 90000), RangeError);
  t.throws(() => toRtpTimestamp(1, 90000, -1), RangeError);
});

t.test('Opus packetizer: one frame per packet, marker false, uint16 sequence wrap', async (t) => {
  const p = new OpusPacketizer({ initialSequence: 65535 });
  const frame = hex('fc ff fe');
  t.same(view([p.packetize(frame, 960), p.packetize(hex('f8'), 1920)]), [
    { payload: 'fcfffe', marker: false, timestamp: 960, sequenceNumber: 65535 },
    { payload: 'f8', marker: false, timestamp: 1920, sequenceNumber: 0 },
  ]);
  t.equal(p.nextSequence, 1);
  t.throws(() => p.packetize(Buffer.alloc(0), 0), parseFailure);
  t.throws(() => p.packetize(frame, -1), RangeError);
  t.equal(p.nextSequence, 1, 'failures consume no sequence number');
});

// ---------------------------------------------------------------------------------------------
// Real media: every video sample of test/fixtures/video.cmaf.

interface FixtureSample {
  data: Buffer;
  keyframe: boolean;
  pts: number;
}

function fixtureVideo(): { samples: FixtureSample[]; sps: Buffer[]; pps: Buffer[]; nalLengthSize: number; timescale: number } {
  const { init, fragments } = cmafFixture('video.cmaf');
  const info = parseInit(init);
  const video = info.videoTrack!;
  const samples = fragments.flatMap((f) =>
    parseFragment(f, info).video!.samples.map((s) => ({
      data: f.subarray(s.offset, s.offset + s.size),
      keyframe: s.keyframe,
      pts: s.decodeTime + s.compositionOffset,
    })),
  );
  return { samples, sps: video.sps!, pps: video.pps!, nalLengthSize: video.nalLengthSize!, timescale: video.timescale };
}

/** Independent AVCC -> Annex-B conversion, parameter sets first on keyframes. */
function expectedAnnexB(s: FixtureSample, sps: Buffer[], pps: Buffer[], lengthSize: number): Buffer {
  const parts: Buffer[] = [];
  const startCode = hex('00000001');
  if (s.keyframe) for (const ps of [...sps, ...pps]) parts.push(startCode, ps);
  for (let pos = 0; pos < s.data.length; ) {
    const n = s.data.readUIntBE(pos, lengthSize);
    parts.push(startCode, s.data.subarray(pos + lengthSize, pos + lengthSize + n));
    pos += lengthSize + n;
  }
  return Buffer.concat(parts);
}

function packetizeFixture(maxPayloadBytes: number): { annexB: Buffer[]; packets: RtpOut[][] } {
  const { samples, sps, pps, nalLengthSize, timescale } = fixtureVideo();
  const p = new H264Packetizer({ maxPayloadBytes, initialSequence: 65500 });
  const packets = samples.map((s) =>
    p.packetize(s.data, { nalLengthSize, keyframe: s.keyframe, sps, pps, rtpTimestamp: toRtpTimestamp(s.pts, timescale, 90000, 0xfffff000) }),
  );
  return { annexB: packets.map((aus) => depacketizeH264(aus.map((x) => x.payload))), packets };
}

t.test('round trip on every video sample of video.cmaf', async (t) => {
  const { samples, sps, pps, nalLengthSize, timescale } = fixtureVideo();
  t.equal(samples.length, 30);
  t.ok(samples.some((s) => s.data.length > 1200 + 100), 'the fixture has a NAL big enough for FU-A');
  for (const max of [1200, 100, 3]) {
    const { annexB, packets } = packetizeFixture(max);
    let next = 65500;
    let fuA = 0;
    let stapA = 0;
    let failures = 0;
    packets.forEach((aus, i) => {
      const s = samples[i]!;
      const ts = toRtpTimestamp(s.pts, timescale, 90000, 0xfffff000);
      for (const [j, pkt] of aus.entries()) {
        if (pkt.payload.length > max) failures++;
        if (pkt.sequenceNumber !== next) failures++;
        if (pkt.timestamp !== ts) failures++;
        if (pkt.marker !== (j === aus.length - 1)) failures++;
        next = (next + 1) & 0xffff;
        if ((pkt.payload[0]! & 0x1f) === 28) fuA++;
        if ((pkt.payload[0]! & 0x1f) === 24) stapA++;
      }
      if (!annexB[i]!.equals(expectedAnnexB(s, sps, pps, nalLengthSize))) failures++;
    });
    t.equal(failures, 0, `maxPayloadBytes ${max}: size, sequence, timestamp, marker and Annex-B all match`);
    t.ok(fuA > 0, `maxPayloadBytes ${max}: ${fuA} FU-A packets`);
    if (max === 1200) t.equal(stapA, 1, 'one STAP-A: the fixture has one keyframe');
  }
  t.ok(packetizeFixture(1200).packets.flat().some((x) => x.sequenceNumber === 0), 'sequence numbers wrapped during the run');
});

async function ffmpegFrameMd5(args: string[], input?: Buffer): Promise<string[]> {
  const p = new FfmpegProcess({ args: ['-hide_banner', '-loglevel', 'error', ...args, '-f', 'framemd5', 'pipe:1'], stdin: input ? 'pipe' : 'ignore' });
  const chunks: Buffer[] = [];
  p.stdout!.on('data', (c: Buffer) => chunks.push(c));
  const stdoutDone = new Promise((resolve) => p.stdout!.once('close', resolve));
  if (input) p.stdin!.end(input);
  const exit = await p.exited();
  await stdoutDone;
  await p.close();
  if (exit.code !== 0) throw new Error(`ffmpeg exited ${exit.code}: ${exit.stderrTail}`);
  return Buffer.concat(chunks)
    .toString('utf8')
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => line.split(',').at(-1)!.trim());
}

t.test('ffmpeg decodes the depacketized stream: one frame per sample, same pictures as the fMP4', async (t) => {
  const { samples } = fixtureVideo();
  const { annexB } = packetizeFixture(1200);
  const decoded = await ffmpegFrameMd5(['-f', 'h264', '-i', 'pipe:0'], Buffer.concat(annexB));
  t.equal(decoded.length, samples.length, 'frame count equals sample count');
  const reference = await ffmpegFrameMd5(['-i', fixturePath('video.cmaf'), '-map', '0:v']);
  t.same(decoded, reference, 'frame hashes equal decoding video.cmaf directly');
});
