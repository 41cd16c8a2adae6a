import { maskFilters, maskProblems } from './masks.js';
import type { ConsoleProfile } from './profiles.js';

/**
 * Where the encoder reads its input.
 * - `pipe`: FLV on stdin (the edge feeds it from the RTMP session in-process).
 * - `url`: FLV from a URL (tools and benches).
 * - `sdp`: RTP on loopback UDP described by an SDP text written to stdin, after which stdin is
 *   ended (WHIP ingest: the edge forwards the publisher's RTP unchanged to the ports in the SDP).
 */
export type TranscodeInput = { kind: 'pipe' } | { kind: 'url'; url: string } | { kind: 'sdp' };

/**
 * ffmpeg arguments for one console stream: FLV in, fragmented MP4 (CMAF) out on stdout, one
 * fragment per LL-HLS part. Pure: same profile in, same array out. Throws on invalid mask
 * regions rather than encode a picture whose PHI mask is wrong.
 */
export function transcodeArgs(profile: ConsoleProfile, input: TranscodeInput = { kind: 'pipe' }): string[] {
  const { video, audio } = profile;
  const masks = profile.masks ?? [];
  const maskErrors = maskProblems(masks, 'masks');
  if (maskErrors.length > 0) throw new TypeError(`transcodeArgs: ${maskErrors.join('; ')}`);
  const gop = Math.round(video.fps * video.gopSeconds);
  // The mp4 muxer cuts a fragment when any track's buffered duration reaches frag_duration.
  // Just under the part length (minus 0.15 frame; measured: 0.5 frame lets AAC win) lets the video track trigger first, so
  // each fragment holds exactly partSeconds * fps frames even with 21.3 ms AAC frames beside it.
  const fragUs = Math.round((profile.partSeconds - 0.15 / video.fps) * 1e6);
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'warning',
    // Encoder speed, frame rate, dropped/duplicated frames once a second on their own pipe
    // (not stderr, where they would drown the warnings).
    '-stats_period', '1', '-progress', `pipe:${PROGRESS_OUTPUT_FD}`,
    ...inputArgs(input),
    // Audio twice: AAC for LL-HLS, Opus for WebRTC (browsers take no AAC over RTP).
    '-map', '0:v:0', '-map', '0:a:0?', '-map', '0:a:0?',
    // PHI masks first, on the console's own picture (relative regions follow its resolution).
    '-vf', [...maskFilters(masks), `scale=${video.width}:${video.height}:flags=bilinear`, 'format=yuv420p'].join(','),
    '-fps_mode', 'cfr', '-r', String(video.fps),
    '-c:v', 'libx264', '-preset', video.preset, '-tune', 'zerolatency',
    '-profile:v', 'high', '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0', '-bf', '0',
    '-b:v', `${video.bitrateKbps}k`, '-maxrate', `${video.bitrateKbps}k`, '-bufsize', `${video.bitrateKbps}k`,
    // Encoder-input wall clock for the prft box: the edge's ingest time of each fragment.
    '-export_side_data', 'prft',
    // ffmpeg 5.1 serves whichever output stream is furthest behind; AAC's encoder delay keeps
    // audio behind, so each video frame waited ~30 ms for audio (measured: realtime output
    // 68 ms -> 41 ms after encoder input). Audio timestamps lead by 100 ms instead: audio plays
    // 100 ms after its picture, inside ITU-R BT.1359's acceptable window (audio late <= 125 ms).
    '-af', `asetpts=PTS+${AUDIO_LEAD_S}/TB`,
    '-c:a:0', 'aac', '-b:a:0', `${audio.bitrateKbps}k`, '-ar:a:0', String(audio.sampleRate), '-ac:a:0', String(audio.channels),
    '-c:a:1', 'libopus', '-b:a:1', `${OPUS_BITRATE_KBPS}k`, '-ar:a:1', '48000', '-ac:a:1', '2', '-application:a:1', 'lowdelay',
    // One encode, two outputs (tee): the mp4 muxer needs avcC/esds, so headers are global.
    '-flags:v', '+global_header', '-flags:a', '+global_header',
    '-flush_packets', '1', '-muxdelay', '0', '-muxpreload', '0', '-max_interleave_delta', '1',
    '-f', 'tee', teeOutputs(fragUs),
  ];
}

/** Opus bitrate of the WebRTC audio, kbit/s. */
export const OPUS_BITRATE_KBPS = 64;

/** How far audio timestamps lead video in the encoder's output, s (see transcodeArgs). */
export const AUDIO_LEAD_S = 0.1;

/** fd of the realtime (per-frame) output: WebRTC viewers get each frame as soon as it is encoded. */
export const REALTIME_OUTPUT_FD = 3;

/** fd of ffmpeg's `-progress` report (codecs/ffmpeg ProgressParser reads it). */
export const PROGRESS_OUTPUT_FD = 4;

/**
 * pipe:1 = LL-HLS feed: video + AAC, one fragment per part. pipe:3 = realtime feed: video only,
 * one fragment per frame. Both carry prft (the encoder-input wall clock of the first frame).
 * Quotes are escaped for tee's own option parser (no shell is involved).
 */
function teeOutputs(fragUs: number): string {
  const llhls = [
    "select=\\'v:0,a:0\\'",
    'f=mp4',
    'movflags=+frag_keyframe+empty_moov+default_base_moof+skip_trailer',
    `frag_duration=${fragUs}`,
    'write_prft=wallclock',
  ];
  const realtime = ["select=\\'v:0,a:1\\'", 'f=mp4', 'movflags=+frag_every_frame+empty_moov+default_base_moof+skip_trailer', 'write_prft=wallclock', 'flush_packets=1'];
  return `[${llhls.join(':')}]pipe:1|[${realtime.join(':')}]pipe:${REALTIME_OUTPUT_FD}`;
}

// Start fast and never wait on input buffering: every ms here is glass-to-glass latency.
const LOW_DELAY_INPUT = ['-fflags', '+nobuffer', '-flags', 'low_delay'];

function inputArgs(input: TranscodeInput): string[] {
  switch (input.kind) {
    case 'pipe':
    case 'url': {
      if (input.kind === 'url' && !input.url) throw new TypeError('transcodeArgs: url input needs a url');
      // FLV carries the sequence headers up front: a small probe finds every parameter.
      return [...LOW_DELAY_INPUT, '-probesize', '65536', '-analyzeduration', '0', '-f', 'flv', '-i', input.kind === 'url' ? input.url : 'pipe:0'];
    }
    case 'sdp':
      return [
        ...LOW_DELAY_INPUT,
        // RTP carries no dimensions and no frame rate before the first keyframe is decoded, and
        // stream probing would wait for both (analyzeduration 0 means ffmpeg's default of 5 s;
        // H.264 frame-rate probing wants 20 frames). Probe nothing: the decoder and filters
        // configure themselves from the first decoded frame, the output rate is fixed below.
        '-probesize', '32', '-analyzeduration', '1', '-fpsprobesize', '0',
        // The SDP arrives on stdin (pipe) and names loopback UDP ports (udp, rtp). No reordering
        // queue: loopback does not reorder, and the queue would hold every packet back.
        '-protocol_whitelist', 'pipe,udp,rtp', '-f', 'sdp', '-reorder_queue_size', '0', '-i', 'pipe:0',
      ];
  }
}
