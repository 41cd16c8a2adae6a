// Console profiles: what each kind of console sends and what the edge re-encodes it to.
// A profile is data; codecs/profiles/args.ts turns it into an ffmpeg argument array.

export interface VideoTarget {
  /** Output frame size in pixels. */
  width: number;
  height: number;
  /** Output frame rate (constant), frames per second. */
  fps: number;
  /** Target video bitrate, kbit/s. */
  bitrateKbps: number;
  /** x264 preset: speed vs quality on the edge's CPU. */
  preset: 'ultrafast' | 'superfast' | 'veryfast' | 'faster' | 'fast';
  /** GOP length in seconds; one LL-HLS segment per GOP. */
  gopSeconds: number;
}

export interface AudioTarget {
  /** AAC bitrate, kbit/s. */
  bitrateKbps: number;
  sampleRate: 48000 | 44100;
  channels: 1 | 2;
}

export interface ConsoleProfile {
  name: string;
  /** Who sends it: shown to IT staff in /api/streams. */
  description: string;
  video: VideoTarget;
  audio: AudioTarget;
  /** CMAF part duration, seconds; an LL-HLS part is one fragment. */
  partSeconds: number;
}

const AUDIO: AudioTarget = { bitrateKbps: 96, sampleRate: 48000, channels: 2 };

export const PROFILES = {
  'endoscopy-1080p': {
    name: 'endoscopy-1080p',
    description: 'Endoscopy tower, 1080p in, re-encoded to 720p30 for a 5G uplink',
    video: { width: 1280, height: 720, fps: 30, bitrateKbps: 3000, preset: 'ultrafast', gopSeconds: 1 },
    audio: AUDIO,
    partSeconds: 0.2,
  },
  ultrasound: {
    name: 'ultrasound',
    description: 'Ultrasound cart, 1024x768 kept at native size, 30 fps',
    video: { width: 1024, height: 768, fps: 30, bitrateKbps: 2500, preset: 'ultrafast', gopSeconds: 1 },
    audio: AUDIO,
    partSeconds: 0.2,
  },
} as const satisfies Record<string, ConsoleProfile>;

export type ProfileName = keyof typeof PROFILES;

export const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[];

export function isProfileName(name: string): name is ProfileName {
  return Object.hasOwn(PROFILES, name);
}
