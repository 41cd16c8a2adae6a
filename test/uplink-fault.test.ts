// The 5G uplink goes dark for 3 s (a blackhole: connections stay open, nothing moves) and comes
// back: viewers get new frames soon after, the encoder is the same process (one per stream), the
// origin's recording has a hole no longer than the outage + 1 s, and the edge's own recording has
// no hole. The numbers are the acceptance figures.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { Fmp4Splitter, parseFragment, parseInit } from '../codecs/fmp4/index.js';
import { SyntheticConsole } from '../loadtest/index.js';
import { WhepClient } from '../loadtest/whep-client.js';
import { ffmpegChildren } from './helpers/process.js';
import { eventually, startStack } from './helpers/stack.js';

const OUTAGE_MS = 3000;

interface Hole {
  /** Media wall clock where the hole starts (end of the media before it), Unix ms. */
  atMs: number;
  ms: number;
}

/** The largest hole between consecutive segments of a recording playlist: PROGRAM-DATE-TIME + EXTINF. */
function largestPlaylistHole(playlist: string): { segments: Array<{ pdtMs: number; durationMs: number }>; hole: Hole } {
  const segments: Array<{ pdtMs: number; durationMs: number }> = [];
  let pdtMs: number | null = null;
  for (const line of playlist.split('\n')) {
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) pdtMs = Date.parse(line.slice('#EXT-X-PROGRAM-DATE-TIME:'.length));
    const extinf = /^#EXTINF:([\d.]+),/.exec(line);
    if (extinf && pdtMs !== null) {
      segments.push({ pdtMs, durationMs: Number(extinf[1]) * 1000 });
      pdtMs = null;
    }
  }
  let hole: Hole = { atMs: 0, ms: 0 };
  for (let i = 1; i < segments.length; i++) {
    const end = segments[i - 1]!.pdtMs + segments[i - 1]!.durationMs;
    const ms = segments[i]!.pdtMs - end;
    if (ms > hole.ms) hole = { atMs: end, ms };
  }
  return { segments, hole };
}

/**
 * The edge's local copy (one fragmented MP4 per encoder generation): the largest hole in video
 * decode time between consecutive fragments, and in their prft wall clocks.
 */
function largestFileHoles(file: Buffer): { fragments: number; frameMs: number; mediaHoleMs: number; wallClockHoleMs: number; wallClockHoleAtMs: number; firstWallClockMs: number; lastWallClockMs: number } {
  const units = new Fmp4Splitter().push(file);
  const [first, ...rest] = units;
  if (first?.kind !== 'init') throw new Error('the edge recording does not start with an init segment');
  const init = parseInit(first.data);
  let frameMs = 0;
  let mediaHoleMs = 0;
  let wallClockHoleMs = 0;
  let wallClockHoleAtMs = 0;
  let firstWallClockMs = Number.NaN;
  let lastWallClockMs = Number.NaN;
  let previous: { startSec: number; durationSec: number; wallClockMs: number | undefined } | null = null;
  for (const unit of rest) {
    const info = parseFragment(unit.data, init);
    if (!info.video || info.video.samples.length === 0) continue;
    frameMs = Math.max(frameMs, (info.durationSec * 1000) / info.video.samples.length);
    if (previous) {
      mediaHoleMs = Math.max(mediaHoleMs, (info.startSec - previous.startSec - previous.durationSec) * 1000);
      if (info.prft && previous.wallClockMs !== undefined) {
        const hole = info.prft.wallClockMs - previous.wallClockMs - previous.durationSec * 1000;
        if (hole > wallClockHoleMs) [wallClockHoleMs, wallClockHoleAtMs] = [hole, info.prft.wallClockMs];
      }
    }
    previous = { startSec: info.startSec, durationSec: info.durationSec, wallClockMs: info.prft?.wallClockMs };
    if (info.prft) {
      if (Number.isNaN(firstWallClockMs)) firstWallClockMs = info.prft.wallClockMs;
      lastWallClockMs = info.prft.wallClockMs;
    }
  }
  return { fragments: rest.length, frameMs, mediaHoleMs, wallClockHoleMs, wallClockHoleAtMs, firstWallClockMs, lastWallClockMs };
}

t.test('uplink blackhole 3 s: viewers back within 2 s of restore, one encoder, origin recording gap <= outage + 1 s, edge copy complete', async (t) => {
  const stack = await startStack({ uplinkProxy: true });
  t.teardown(() => stack.close());
  const source = new SyntheticConsole({ url: stack.rtmpUrl('up1'), width: 1280, height: 720 });
  source.start();
  t.teardown(() => source.close());
  await eventually(() => (stack.origin.registry.get('up1')?.realtime.track ? true : undefined), 20_000, 'the stream at the origin');
  const viewer = new WhepClient({ interfaceAddress: '127.0.0.1', token: stack.token('expert', 'up1') });
  t.teardown(() => viewer.close());
  const frames: number[] = [];
  const ages: Array<[number, number]> = [];
  viewer.on('frame', (f) => {
    frames.push(f.receivedAtMs);
    if (f.senderWallClockMs !== undefined) ages.push([f.receivedAtMs, f.receivedAtMs - f.senderWallClockMs]);
  });
  await viewer.connect(`${stack.originUrl}/whep/up1`);
  await eventually(() => (frames.length > 60 ? true : undefined), 20_000, 'frames flowing');
  const encoderPid = stack.edge.pipelines.get('up1')!.encoderPid;
  const playlistParts = async (): Promise<number> => {
    const text = await (await fetch(`${stack.originUrl}/hls/up1/main/stream.m3u8`, { headers: stack.auth('trainee', 'up1') })).text();
    return Number([...text.matchAll(/part_(\d+)\.m4s/g)].at(-1)?.[1] ?? -1);
  };

  stack.uplink!.set({ blackhole: true });
  const cutAt = Date.now();
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  const partsDuring = await playlistParts();
  const framesBefore = frames.filter((at) => at > cutAt + 500).length;
  stack.uplink!.set({ blackhole: false });
  const restoredAt = Date.now();
  t.ok(framesBefore < 5, `no frames reached the viewer during the outage (${framesBefore})`);

  const firstWebRtc = await eventually(() => frames.find((at) => at > restoredAt), 10_000, 'a WebRTC frame after restore');
  const firstPart = await eventually(async () => ((await playlistParts()) > partsDuring ? Date.now() : undefined), 10_000, 'a new LL-HLS part after restore');
  t.ok(firstWebRtc - restoredAt <= 2000, `WebRTC viewer got a new frame ${firstWebRtc - restoredAt} ms after restore`);
  t.ok(firstPart - restoredAt <= 2000, `LL-HLS playlist had a new part ${firstPart - restoredAt} ms after restore`);

  // The backlog the uplink held arrives in a burst: the origin skips it to the next fresh keyframe
  // rather than show the expert 3 s old pictures.
  await eventually(() => (ages.some(([at]) => at > firstWebRtc + 1000) ? true : undefined), 10_000, 'a second of frames after restore');
  const after = ages.filter(([at]) => at >= firstWebRtc).map(([, age]) => age);
  t.ok(Math.max(...after) < OUTAGE_MS - 1000, `frames after restore are fresh (oldest ${Math.round(Math.max(...after))} ms)`);
  const api = (await (await fetch(`${stack.originUrl}/api/webrtc/sessions`, { headers: stack.auth('admin') })).json()) as { streams: Array<{ stream: string; staleFrames: number }> };
  t.ok(api.streams.find((s) => s.stream === 'up1')!.staleFrames > 0, `held-back frames skipped: ${api.streams.find((s) => s.stream === 'up1')!.staleFrames}`);

  t.equal(stack.edge.pipelines.get('up1')!.encoderPid, encoderPid, 'same encoder process: an uplink outage does not restart encoding');
  const encoders = (await ffmpegChildren()).length;
  t.equal(encoders, 2, 'exactly the console and one encoder running');
  const recording = stack.edge.pipelines.get('up1')!.info.recording as { id: string; files: string[]; fragments: number; uplinkGaps: unknown[] };
  t.ok(recording.fragments > 0, `edge recording kept ${recording.fragments} fragments through the outage`);
  t.comment(`uplink gaps at the edge: ${JSON.stringify(recording.uplinkGaps)}`);

  // Recording gap <= outage + 1 s, at the origin. Its playlist is an EVENT playlist appended as
  // each segment is written: wait until it holds media from well after the restore.
  const [live] = (await stack.origin.recordings.list()).filter((r) => r.stream === 'up1' && r.live);
  t.ok(live, 'the origin is still recording the case it started before the outage');
  const playlistFile = stack.origin.recordings.filePath(live!.id, 'playlist.m3u8')!;
  const recorded = await eventually(async () => {
    await stack.origin.recordings.settled();
    const parsed = largestPlaylistHole(await readFile(playlistFile, 'utf8'));
    const last = parsed.segments.at(-1);
    return last && last.pdtMs + last.durationMs > restoredAt + 2000 ? parsed : undefined;
  }, 15_000, 'the origin recording to reach 2 s after the restore');
  const firstMs = recorded.segments[0]!.pdtMs;
  t.comment(`origin recording: ${recorded.segments.length} segments, largest hole ${Math.round(recorded.hole.ms)} ms at ${Math.round(recorded.hole.atMs - cutAt)} ms after the cut (outage ${OUTAGE_MS} ms)`);
  t.ok(firstMs < cutAt - 1000, `one recording spans the outage (media from ${cutAt - firstMs} ms before the cut)`);
  t.ok(recorded.hole.ms <= OUTAGE_MS + 1000, `origin recording gap ${Math.round(recorded.hole.ms)} ms <= outage + 1 s`);

  // The edge's copy is continuous: one file (one encoder run) covering the outage, with no hole in
  // media time beyond a frame. (Its prft wall clocks only show how evenly the encoder ran.)
  t.equal(recording.files.length, 1, 'one edge recording file: the encoder never restarted');
  const edgeFile = await readFile(join(stack.workDir, 'recordings', recording.id, recording.files[0]!));
  const edgeHoles = largestFileHoles(edgeFile);
  t.comment(`edge recording: ${edgeHoles.fragments} fragments, frame ${edgeHoles.frameMs.toFixed(1)} ms, largest media-time hole ${edgeHoles.mediaHoleMs.toFixed(1)} ms; largest wall-clock step beyond a fragment ${edgeHoles.wallClockHoleMs.toFixed(1)} ms at ${Math.round(edgeHoles.wallClockHoleAtMs - cutAt)} ms after the cut`);
  t.ok(edgeHoles.firstWallClockMs < cutAt && edgeHoles.lastWallClockMs > restoredAt, `edge copy spans the outage (media from ${Math.round(cutAt - edgeHoles.firstWallClockMs)} ms before the cut to ${Math.round(edgeHoles.lastWallClockMs - restoredAt)} ms after the restore)`);
  t.ok(edgeHoles.mediaHoleMs <= edgeHoles.frameMs + 1, `edge copy has no media-time hole beyond one frame (${edgeHoles.mediaHoleMs.toFixed(1)} ms)`);
});

// After a real outage the old TCP connections sit in retransmission backoff for seconds more,
// while a new connection gets through at once (the fault proxy's holdExisting): the edge abandons
// an unanswered upload after origin.stallTimeoutMs and resends it on a fresh connection.
t.test('uplink back but its old connections stuck in TCP backoff: LL-HLS resumes within 2 s on fresh connections', async (t) => {
  const stack = await startStack({ uplinkProxy: true });
  t.teardown(() => stack.close());
  const source = new SyntheticConsole({ url: stack.rtmpUrl('up2'), width: 640, height: 360 });
  source.start();
  t.teardown(() => source.close());
  const newest = (): number => stack.origin.registry.get('up2')?.rendition('main')?.store.nextPartSeq ?? 0;
  await eventually(() => (newest() > 10 ? true : undefined), 20_000, 'parts at the origin');
  const connectionsBefore = stack.uplink!.connections;
  stack.uplink!.set({ blackhole: true });
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  const during = newest();
  // Back, except every connection from before keeps silent for 6 s more (past the 5 s request timeout).
  stack.uplink!.holdExisting(6000);
  stack.uplink!.set({ blackhole: false });
  const restoredAt = Date.now();
  const back = await eventually(() => (newest() > during ? Date.now() : undefined), 15_000, 'a new part after restore');
  t.ok(back - restoredAt <= 2000, `a new LL-HLS part ${back - restoredAt} ms after restore, though the old connections were still stuck`);
  t.ok(stack.uplink!.connections > connectionsBefore, `the edge opened new connections (${stack.uplink!.connections - connectionsBefore})`);
});
