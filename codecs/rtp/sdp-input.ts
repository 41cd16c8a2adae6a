import { NAL_FU_A, NAL_STAP_A } from './h264-packetizer.js';

// The SDP ffmpeg reads to receive forwarded RTP on loopback, and the few RTP payload facts the
// forwarder needs. Pure: values in, text / booleans out.

export interface RtpInputVideo {
  /** Local UDP port for RTP; RTCP goes to port + 1. */
  port: number;
  /** The payload type negotiated with the publisher (RTP is forwarded unchanged). */
  payloadType: number;
  /** fmtp parameters of the negotiated codec (packetization-mode, profile-level-id, sprop-...). */
  fmtp?: string;
}

export interface RtpInputAudio {
  port: number;
  payloadType: number;
  /** Opus is always 48000 Hz in SDP; channels as negotiated (2 for WebRTC). */
  channels: number;
  fmtp?: string;
}

export interface RtpInputDescription {
  video: RtpInputVideo;
  audio?: RtpInputAudio;
  /** Session name, for ffmpeg's logs only. */
  name?: string;
}

const SAFE_FMTP = /^[A-Za-z0-9=;,+/_.-]*$/;

/**
 * SDP text (CRLF line ends) describing H264/90000 and, if given, opus/48000 on 127.0.0.1.
 * fmtp values are taken only when they hold plain parameter characters; anything else is a
 * caller bug (they come from a negotiated codec) and throws.
 */
export function rtpInputSdp(description: RtpInputDescription): string {
  const { video, audio } = description;
  checkPort(video.port);
  checkPayloadType(video.payloadType);
  const lines = [
    'v=0',
    'o=- 0 0 IN IP4 127.0.0.1',
    `s=${(description.name ?? 'scopecast').replace(/[^A-Za-z0-9_-]/g, '_')}`,
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=video ${video.port} RTP/AVP ${video.payloadType}`,
    `a=rtpmap:${video.payloadType} H264/90000`,
    ...fmtpLine(video.payloadType, video.fmtp),
    'a=recvonly',
  ];
  if (audio) {
    checkPort(audio.port);
    checkPayloadType(audio.payloadType);
    if (audio.channels !== 1 && audio.channels !== 2) throw new RangeError(`rtpInputSdp: opus channels ${audio.channels}`);
    lines.push(
      `m=audio ${audio.port} RTP/AVP ${audio.payloadType}`,
      `a=rtpmap:${audio.payloadType} opus/48000/${audio.channels}`,
      ...fmtpLine(audio.payloadType, audio.fmtp),
      'a=recvonly',
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

function fmtpLine(payloadType: number, fmtp: string | undefined): string[] {
  if (!fmtp) return [];
  if (!SAFE_FMTP.test(fmtp)) throw new TypeError(`rtpInputSdp: fmtp ${JSON.stringify(fmtp.slice(0, 80))} has characters outside SDP parameters`);
  return [`a=fmtp:${payloadType} ${fmtp}`];
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65534) throw new RangeError(`rtpInputSdp: port ${port}`);
}

function checkPayloadType(pt: number): void {
  if (!Number.isInteger(pt) || pt < 0 || pt > 127) throw new RangeError(`rtpInputSdp: payload type ${pt}`);
}

const NAL_IDR = 5;
const NAL_SPS = 7;

/**
 * True when an H.264 RTP payload (RFC 6184, packetization-mode 1) starts a keyframe: an IDR or
 * SPS NAL unit, alone, inside a STAP-A, or as the first fragment of an FU-A.
 */
export function isH264KeyframePayload(payload: Uint8Array): boolean {
  if (payload.length < 1) return false;
  const type = payload[0]! & 0x1f;
  if (type === NAL_IDR || type === NAL_SPS) return true;
  if (type === NAL_FU_A) {
    if (payload.length < 2) return false;
    const fuHeader = payload[1]!;
    return (fuHeader & 0x80) !== 0 && ((fuHeader & 0x1f) === NAL_IDR || (fuHeader & 0x1f) === NAL_SPS);
  }
  if (type === NAL_STAP_A) {
    let pos = 1;
    while (pos + 3 <= payload.length) {
      const size = (payload[pos]! << 8) | payload[pos + 1]!;
      const nal = payload[pos + 2]! & 0x1f;
      if (nal === NAL_IDR || nal === NAL_SPS) return true;
      pos += 2 + size;
    }
  }
  return false;
}
