// WHIP ingest end to end on loopback: a WebRTC publisher (werift in Node, or headless Chromium)
// -> edge (werift -> RTP forward -> the same ffmpeg profile pipeline as RTMP) -> origin LL-HLS.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { ffmpegChildren, processGone } from './helpers/process.js';
import { eventually, publishTestSource, startStack, type Stack } from './helpers/stack.js';
import { WhipPublisher } from './helpers/whip-publisher.js';

const run = promisify(execFile);

interface StreamInfo {
  stream: string;
  ingest: string;
  encoder: { pid: number | null };
  input?: { keyframeRequests: number; keyframes: number; forwardedPackets: number };
}

async function edgeStreams(stack: Stack): Promise<StreamInfo[]> {
  return ((await (await fetch(`${stack.edgeUrl}/api/streams`, { headers: stack.auth('admin') })).json()) as { streams: StreamInfo[] }).streams;
}

/** Polls the origin playlist; resolves with the text once it has at least `parts` parts. */
function playlistWithParts(stack: Stack, stream: string, parts: number, timeoutMs: number, segment = false): Promise<string> {
  return eventually(async () => {
    const res = await fetch(`${stack.originUrl}/hls/${stream}/main/stream.m3u8`, { headers: stack.auth('trainee', stream) });
    const text = res.ok ? await res.text() : '';
    const n = text.match(/#EXT-X-PART:/g)?.length ?? 0;
    return n >= parts && (!segment || /#EXTINF/.test(text)) ? text : undefined;
  }, timeoutMs, `${stream}: a playlist with ${parts} part(s)${segment ? ' and a segment' : ''}`);
}

t.test('werift WHIP publisher -> same profile pipeline -> LL-HLS; DELETE ends it like an RTMP unpublish', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const publisher = new WhipPublisher({ token: stack.token('publisher', 'or2-whip') });
  t.teardown(() => publisher.close());
  const viewer = stack.auth('trainee', 'or2-whip');

  const postedAt = Date.now();
  const { status, location } = await publisher.connect(`${stack.edgeUrl}/whip/or2-whip`);
  t.equal(status, 201);
  t.match(location, /^\/whip\/or2-whip\/[0-9a-f-]{36}$/);
  await playlistWithParts(stack, 'or2-whip', 1, 20_000);
  const firstPartMs = Date.now() - postedAt;
  t.comment(`startup: POST /whip -> first LL-HLS part at the origin in ${firstPartMs} ms`);

  const media = await playlistWithParts(stack, 'or2-whip', 5, 20_000, true);
  t.match(media, /#EXT-X-PRELOAD-HINT:TYPE=PART/);
  t.match(media, /#EXT-X-PROGRAM-DATE-TIME:/);
  const master = await (await fetch(`${stack.originUrl}/hls/or2-whip/index.m3u8`, { headers: viewer })).text();
  t.match(master, /RESOLUTION=1280x720/, 'default profile (endoscopy-1080p) output size');

  const msn = /seg_(\d+)\.m4s/.exec(media)?.[1];
  const dir = mkdtempSync(join(tmpdir(), 'scopecast-whip-seg-'));
  const init = Buffer.from(await (await fetch(`${stack.originUrl}/hls/or2-whip/main/init_0.mp4`, { headers: viewer })).arrayBuffer());
  const seg = Buffer.from(await (await fetch(`${stack.originUrl}/hls/or2-whip/main/seg_${msn}.m4s`, { headers: viewer })).arrayBuffer());
  writeFileSync(join(dir, 'seg.mp4'), Buffer.concat([init, seg]));
  const probe = await run('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,width,height,nb_read_frames', '-of', 'json', join(dir, 'seg.mp4')]);
  const video = (JSON.parse(probe.stdout) as { streams: Array<{ codec_name: string; width?: number; height?: number; nb_read_frames: string }> }).streams.find((s) => s.codec_name === 'h264');
  t.equal(video?.width, 1280);
  t.equal(video?.height, 720);
  t.equal(Number(video?.nb_read_frames), 30, 'a 1 s segment decodes to 30 frames');

  const [info] = await edgeStreams(stack);
  t.equal(info?.stream, 'or2-whip');
  t.equal(info?.ingest, 'whip');
  t.ok((info?.input?.keyframeRequests ?? 0) >= 1, 'the edge asked for a keyframe');
  t.ok(publisher.pliReceived >= 1, `the publisher received ${publisher.pliReceived} PLI(s)`);

  // A second publisher on the same name, over WHIP or RTMP, is refused; the first keeps going.
  const second = new WhipPublisher({ token: stack.token('publisher', 'or2-whip') });
  t.teardown(() => second.close());
  const refused = await second.connect(`${stack.edgeUrl}/whip/or2-whip`).catch((err: { status?: number; body?: string }) => err);
  t.equal((refused as { status?: number }).status, 409);
  t.match(JSON.parse((refused as { body: string }).body), { code: 'SC_ERR_STREAM_BUSY' });
  await second.close();
  const rtmp = publishTestSource(stack.rtmpUrl('or2-whip'), { size: '320x240', seconds: 5 });
  t.teardown(() => rtmp.close());
  const rtmpRefused = await new Promise<boolean>((resolve) => {
    rtmp.once('died', () => resolve(true));
    setTimeout(() => resolve(false), 10_000);
  });
  t.ok(rtmpRefused, 'an RTMP publish to a WHIP-held stream is disconnected');
  t.equal(stack.edge.pipelines.get('or2-whip')?.input.kind, 'whip', 'the WHIP pipeline is untouched');

  const encoderPid = stack.edge.pipelines.get('or2-whip')?.encoderPid;
  t.ok(encoderPid, 'encoder running');
  t.equal(await publisher.close(), 200, 'DELETE on the Location');
  t.ok(await processGone(encoderPid!, 10_000), 'DELETE ended the encoder');
  const ended = await eventually(async () => {
    const s = (await (await fetch(`${stack.originUrl}/api/streams/or2-whip`, { headers: viewer })).json()) as { state: string };
    return s.state === 'ended' ? s : undefined;
  }, 10_000, 'origin marks the stream ended');
  t.equal(ended.state, 'ended');
  t.match(await (await fetch(`${stack.originUrl}/hls/or2-whip/main/stream.m3u8`, { headers: viewer })).text(), /#EXT-X-ENDLIST\n$/);
  t.equal(stack.edge.pipelines.size, 0);
  t.same(stack.edge.whip?.sessions, []);
});

// The console page a browser-based capture station would run: getUserMedia -> WHIP, H.264 first.
const PUBLISH_PAGE = `<!doctype html><meta charset="utf-8"><title>whip publish</title><script type="module">
const params = new URLSearchParams(location.search);
window.result = (async () => {
  const media = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720, frameRate: 30 }, audio: true });
  const pc = new RTCPeerConnection();
  window.pc = pc;
  const video = pc.addTransceiver(media.getVideoTracks()[0], { direction: 'sendonly', streams: [media] });
  pc.addTransceiver(media.getAudioTracks()[0], { direction: 'sendonly', streams: [media] });
  const codecs = RTCRtpSender.getCapabilities('video').codecs;
  const h264 = codecs.filter((c) => c.mimeType === 'video/H264' && /packetization-mode=1/.test(c.sdpFmtpLine || ''));
  if (h264.length === 0) return { error: 'no H.264 encoder in this browser: ' + codecs.map((c) => c.mimeType).join(',') };
  video.setCodecPreferences([...h264, ...codecs.filter((c) => c.mimeType !== 'video/H264')]);
  await pc.setLocalDescription();
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
  });
  // The station's publisher token (its own link), as a header: never in the WHIP URL.
  const res = await fetch(params.get('whip'), { method: 'POST', headers: { 'content-type': 'application/sdp', authorization: 'Bearer ' + params.get('token') }, body: pc.localDescription.sdp });
  const answer = await res.text();
  if (res.status !== 201) return { status: res.status, error: answer };
  window.answer = answer;
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  return { status: res.status, location: res.headers.get('location') };
})().catch((err) => ({ error: String(err) }));
</script>`;

t.test('headless Chromium publishes over WHIP (getUserMedia, H.264) and the origin playlist appears', async (t) => {
  const { withBrowser } = await import('./helpers/browser.js');
  const stack = await startStack();
  t.teardown(() => stack.close());
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(PUBLISH_PAGE));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const pageUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  await withBrowser(
    t,
    async (browser) => {
      const page = await browser.newPage();
      const postedAt = Date.now();
      await page.goto(`${pageUrl}?whip=${encodeURIComponent(`${stack.edgeUrl}/whip/or3-browser`)}&token=${stack.token('publisher', 'or3-browser')}`);
      const result = (await page.evaluate('window.result')) as { status?: number; location?: string; error?: string };
      t.equal(result.status, 201, `WHIP POST from the browser (${result.error ?? 'ok'})`);
      t.match(result.location, /^\/whip\/or3-browser\/[0-9a-f-]{36}$/);
      await playlistWithParts(stack, 'or3-browser', 1, 20_000);
      t.comment(`startup (browser): page load + POST /whip -> first LL-HLS part in ${Date.now() - postedAt} ms`);
      const media = await playlistWithParts(stack, 'or3-browser', 5, 20_000, true);
      t.match(media, /#EXTINF/);
      const [info] = await edgeStreams(stack);
      t.equal(info?.ingest, 'whip');
      t.comment(`edge input: ${JSON.stringify(info?.input)}`);
      const master = await (await fetch(`${stack.originUrl}/hls/or3-browser/index.m3u8`, { headers: stack.auth('trainee', 'or3-browser') })).text();
      t.match(master, /RESOLUTION=1280x720/);
      t.match(master, /mp4a/, 'Opus from the browser arrives as AAC in LL-HLS');
      // Closing the page without DELETE: the connection fails or goes silent and the publish ends.
      const pid = stack.edge.pipelines.get('or3-browser')?.encoderPid;
      await page.evaluate('window.pc.close()');
      t.ok(await processGone(pid!, 20_000), 'a publisher that vanished is ended');
      await eventually(() => (stack.edge.pipelines.size === 0 ? true : undefined), 5000, 'pipeline gone');
    },
    ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--disable-features=WebRtcHideLocalIpsWithMdns'],
  );
});

t.test('a WHIP publisher that goes silent is ended like an unpublish', async (t) => {
  const stack = await startStack({ edgeWebrtc: { silenceTimeoutMs: 1000 } });
  t.teardown(() => stack.close());
  const publisher = new WhipPublisher({ size: '640x360', token: stack.token('publisher', 'quiet1') });
  t.teardown(() => publisher.close());
  await publisher.connect(`${stack.edgeUrl}/whip/quiet1`);
  await playlistWithParts(stack, 'quiet1', 1, 20_000);
  const pid = stack.edge.pipelines.get('quiet1')?.encoderPid;
  await publisher.stopMedia();
  t.ok(await processGone(pid!, 10_000), 'encoder ended after the silence timeout');
  await eventually(async () => (((await (await fetch(`${stack.originUrl}/api/streams/quiet1`, { headers: stack.auth('trainee', 'quiet1') })).json()) as { state: string }).state === 'ended' ? true : undefined), 10_000, 'origin marks it ended');
  t.same(stack.edge.whip?.sessions, [], 'session gone');
  t.equal((await publisher.close()), 404, 'its Location no longer exists');
});

t.test('close() of an edge with WHIP and RTMP publishers leaves no child process, socket or timer', async (t) => {
  const before = process.getActiveResourcesInfo().length;
  const stack = await startStack();
  const publisher = new WhipPublisher({ size: '640x360', token: stack.token('publisher', 'closew') });
  await publisher.connect(`${stack.edgeUrl}/whip/closew`);
  const rtmp = publishTestSource(stack.rtmpUrl('closer'), { size: '640x360' });
  await playlistWithParts(stack, 'closew', 1, 20_000);
  await playlistWithParts(stack, 'closer', 1, 20_000);
  const pids = [stack.edge.pipelines.get('closew')?.encoderPid, stack.edge.pipelines.get('closer')?.encoderPid];
  t.ok(pids.every(Boolean), 'two encoders');
  await Promise.all([stack.close(), stack.close()]);
  for (const pid of pids) t.ok(await processGone(pid!, 5000), `encoder ${pid} gone`);
  t.same((await ffmpegChildren()).filter((p) => p !== rtmp.pid && p !== publisher.ffmpegPid), [], 'no encoder left (only the test publishers may remain)');
  t.same(stack.edge.whip?.sessions, [], 'WHIP sessions closed');
  await publisher.close({ skipDelete: true });
  await rtmp.close();
  t.same(await ffmpegChildren(), [], 'no ffmpeg left');
  const after = await eventually(() => {
    const now = process.getActiveResourcesInfo();
    return now.length <= before ? now : undefined;
  }, 5000, `active resources back to ${before}`).catch(() => process.getActiveResourcesInfo());
  t.ok(after.length <= before, `resources after close: ${after.join(',')} (before: ${before})`);
});
