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

/**
 * A rectangle blacked out of the console's picture before it is encoded (PHI: the patient-name
 * banner a tower burns into its output, an ID or date-of-birth corner). Relative to the console's
 * own frame, whatever its size: 0..1, origin top left, so one region fits every resolution the
 * console switches to. Checked by maskProblems (codecs/profiles/masks.ts).
 */
export interface MaskRegion {
  /** Left edge, fraction of the frame width. */
  x: number;
  /** Top edge, fraction of the frame height. */
  y: number;
  /** Width, fraction of the frame width (at least MIN_MASK_SIZE, x + w <= 1). */
  w: number;
  /** Height, fraction of the frame height (at least MIN_MASK_SIZE, y + h <= 1). */
  h: number;
}

export interface ConsoleProfile {
  name: string;
  /** Who sends it: shown to IT staff in /api/streams. */
  description: string;
  video: VideoTarget;
  audio: AudioTarget;
  /** CMAF part duration, seconds; an LL-HLS part is one fragment. */
  partSeconds: number;
  /** Regions blacked out before scaling (none = the picture leaves the edge unmasked). */
  masks?: readonly MaskRegion[];
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
