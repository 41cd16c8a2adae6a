export {
  H264Packetizer,
  splitAvcc,
  toRtpTimestamp,
  DEFAULT_MAX_PAYLOAD_BYTES,
  type H264AccessUnit,
  type H264PacketizerOptions,
  type RtpOut,
} from './h264-packetizer.js';
export { depacketizeH264, depacketizeH264Nals, toAnnexB } from './h264-depacketizer.js';
export { OpusPacketizer, type OpusPacketizerOptions } from './opus-packetizer.js';
export { rtpInputSdp, isH264KeyframePayload, type RtpInputDescription, type RtpInputVideo, type RtpInputAudio } from './sdp-input.js';
