// The expert page against the real chain over WebRTC: synthetic console -> RTMP -> edge ->
// origin WHEP -> headless Chromium. Latency is read from the pixels of presented frames.
import t from 'tap';
import { SyntheticConsole } from '../loadtest/index.js';
import { ChromiumViewer } from '../loadtest/chromium-viewer.js';
import { WEBRTC_CHROMIUM_ARGS } from '../loadtest/chromium.js';
import { scrapeHeaders } from './helpers/auth.js';
import { eventually, startStack } from './helpers/stack.js';

interface Debug {
  state: string;
  path: string | null;
  latencyMs: number | null;
  framesDecoded?: number;
}

t.test('the expert page plays over WebRTC with a latency badge from the edge clock', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const source = new SyntheticConsole({ url: stack.rtmpUrl('or3'), width: 1280, height: 720 });
  source.start();
  t.teardown(() => source.close());
  await eventually(() => (stack.origin.registry.get('or3')?.realtime.track ? true : undefined), 20_000, 'realtime feed');

  const viewer = new ChromiumViewer();
  t.teardown(() => viewer.close());
  // The coordinator's link: an expert token for or3 (WHEP is for experts, surgeons and admins).
  await viewer.open(`${stack.originUrl}/expert/or3?token=${stack.token('expert', 'or3')}`, '#scopecast-rtc', WEBRTC_CHROMIUM_ARGS);
  const debug = (): Promise<Debug> => viewer.evaluate(() => (window as unknown as { __scopecast: Debug }).__scopecast);
  let last: Debug | null = null;
  const playing = await eventually(async () => {
    const d = (last = await debug());
    return d.path === 'webrtc' && d.state === 'playing' ? d : undefined;
  }, 45_000, 'WebRTC playback').catch((err: Error) => {
    throw new Error(`${err.message}; page state: ${JSON.stringify(last)}`);
  });
  t.equal(playing.path, 'webrtc');
  const frames: Array<{ stampMs: number; shownAtMs: number }> = [];
  await eventually(async () => {
    await new Promise((r) => setTimeout(r, 250));
    frames.push(...(await viewer.take()).frames);
    return frames.length >= 20 ? true : undefined;
  }, 15_000, 'stamped frames presented');
  const latencies = frames.map((f) => f.shownAtMs - f.stampMs).sort((a, b) => a - b);
  const median = latencies[latencies.length >> 1]!;
  t.ok(median > 0 && median < 10_000, `pixel latency median ${Math.round(median)} ms (no threshold here: see npm run bench:latency)`);
  const badge = await eventually(async () => {
    const d = await debug();
    return d.latencyMs !== null && Number.isFinite(d.latencyMs) ? d.latencyMs : undefined;
  }, 10_000, 'a latency badge reading (abs-capture-time on the edge clock)');
  t.ok(badge > -500 && badge < 10_000, `badge ${Math.round(badge)} ms`);
  const status = await eventually(async () => {
    const body = (await (await fetch(`${stack.originUrl}/api/status`, { headers: stack.auth('admin') })).json()) as { streams: Array<{ stream: string; viewerList: Array<{ role: string; path: string }> }> };
    const list = body.streams.find((s) => s.stream === 'or3')?.viewerList ?? [];
    return list.length > 0 ? list : undefined;
  }, 15_000, 'the expert reporting over /ws/or3');
  t.same(status.map((v) => [v.role, v.path]), [['expert', 'webrtc']], 'the expert reports its WebRTC latency');
  t.match(await (await fetch(`${stack.originUrl}/metrics`, { headers: scrapeHeaders() })).text(), /scopecast_latency_seconds_count\{stream="or3",path="webrtc",hop="end_to_end"\} [1-9]/);
  const sessions = (await (await fetch(`${stack.originUrl}/api/webrtc/sessions`, { headers: stack.auth('admin') })).json()) as { sessions: Array<{ connected: boolean; sentAudioPackets: number }> };
  t.equal(sessions.sessions.length, 1);
  t.ok(sessions.sessions[0]!.connected);
  t.ok(sessions.sessions[0]!.sentAudioPackets > 0, `Opus audio sent too (${sessions.sessions[0]!.sentAudioPackets} packets)`);
  const audio = await viewer.evaluate(() => {
    const v = document.getElementById('scopecast-rtc') as HTMLVideoElement;
    const stream = v.srcObject as MediaStream | null;
    return stream ? stream.getAudioTracks().length : -1;
  });
  t.equal(audio, 1, 'the page has an audio track');
  t.same(viewer.errors, [], 'no page errors');
});
