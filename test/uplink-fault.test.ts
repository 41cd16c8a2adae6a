// The 5G uplink goes dark for 3 s (a blackhole: connections stay open, nothing moves) and comes
// back: viewers get new frames soon after, the encoder is the same process (one per stream), and
// the edge's own recording has no hole. The numbers are the acceptance figures.
import t from 'tap';
import { SyntheticConsole } from '../loadtest/index.js';
import { WhepClient } from '../loadtest/whep-client.js';
import { ffmpegChildren } from './helpers/process.js';
import { eventually, startStack } from './helpers/stack.js';

const OUTAGE_MS = 3000;

t.test('uplink blackhole 3 s: viewers back within 2 s of restore, one encoder, edge copy complete', async (t) => {
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
  const recording = stack.edge.pipelines.get('up1')!.info.recording as { fragments: number; uplinkGaps: unknown[] };
  t.ok(recording.fragments > 0, `edge recording kept ${recording.fragments} fragments through the outage`);
  t.comment(`uplink gaps at the edge: ${JSON.stringify(recording.uplinkGaps)}`);
});
