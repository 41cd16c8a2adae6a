// The anchors' viewers, measured exactly like scopecast's: bytes as they arrive -> ffmpeg decode
// (640x360 grey) -> stamp reader; latency = decode time - stamp drawn by the console.
import { LatencyRecorder, recordingReader, sleep, type MeasureWindow, type Measurement } from '../measure.js';
import { LiveEdgeHlsClient } from './hls-live-edge.js';

/** HTTP-FLV: one long GET, each chunk piped to ffmpeg as it arrives (a flv.js-style player). */
export async function measureHttpFlv(flvUrl: string, window: MeasureWindow): Promise<Measurement> {
  const recorder = new LatencyRecorder(window);
  const reader = recordingReader('flv', recorder);
  const abort = new AbortController();
  const piping = (async () => {
    const res = await fetch(flvUrl, { signal: abort.signal });
    if (!res.ok || !res.body) throw new Error(`GET ${flvUrl}: HTTP ${res.status}`);
    const body = res.body.getReader();
    for (let r = await body.read(); !r.done; r = await body.read()) reader.stdin?.write(r.value);
  })().catch((err: Error) => {
    if (!abort.signal.aborted) console.error(`HTTP-FLV viewer: ${err.message}`);
  });
  await sleep((window.warmupS + window.durationS) * 1000, window.signal);
  abort.abort();
  await piping;
  await reader.close();
  return recorder.finish('HTTP-FLV client (node fetch) + ffmpeg decode');
}

/** Plain HLS at the live edge: newest segment first, player reload schedule, decode on arrival. */
export async function measureLiveEdgeHls(playlistUrl: string, window: MeasureWindow): Promise<Measurement> {
  const recorder = new LatencyRecorder(window);
  const reader = recordingReader('mpegts', recorder);
  const client = new LiveEdgeHlsClient(playlistUrl);
  client.on('segment', (segment) => reader.stdin?.write(segment.data));
  client.on('error', (err) => console.error(`HLS live-edge viewer: ${err.message}`));
  client.start();
  await sleep((window.warmupS + window.durationS) * 1000, window.signal);
  await client.close();
  await reader.close();
  return recorder.finish('HLS client at the live edge (node, 1 s segments) + ffmpeg decode');
}
