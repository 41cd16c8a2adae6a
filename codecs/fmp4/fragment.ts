import { type Box, ByteReader, childBoxes, findBox, listBoxes, parseError } from './boxes.js';
import type { InitInfo, TrackInfo } from './init.js';

export interface SampleInfo {
  /** Byte offset of the sample's data in the fragment buffer. */
  offset: number;
  size: number;
  /** In track timescale. */
  duration: number;
  /** The sample_is_non_sync_sample bit is clear. */
  keyframe: boolean;
  /** Composition time minus decode time, track timescale (may be negative). */
  compositionOffset: number;
  /** In track timescale. */
  decodeTime: number;
}

export interface TrackFragmentInfo {
  trackId: number;
  /** tfdt baseMediaDecodeTime (0 when the traf has no tfdt). */
  baseDecodeTime: number;
  /** Sum of sample durations, track timescale. */
  duration: number;
  samples: SampleInfo[];
}

export interface ProducerReferenceTime {
  trackId: number;
  /** NTP timestamp converted to Unix epoch milliseconds (fractional). */
  wallClockMs: number;
  /** Media time of the same instant, in the reference track's timescale. */
  mediaTime: number;
}

export interface FragmentInfo {
  /** mfhd sequence_number. */
  sequence: number;
  /** The last prft before the moof, if any. */
  prft?: ProducerReferenceTime;
  tracks: TrackFragmentInfo[];
  video?: TrackFragmentInfo;
  audio?: TrackFragmentInfo;
  /** First video sample is a sync sample (true if the fragment has no video). */
  startsWithKeyframe: boolean;
  /** Video duration in seconds (audio if there is no video, else 0). */
  durationSec: number;
  /** Video baseDecodeTime in seconds (audio if there is no video, else 0). */
  startSec: number;
}

// tfhd flags
const TFHD_BASE_DATA_OFFSET = 0x000001;
const TFHD_SAMPLE_DESCRIPTION_INDEX = 0x000002;
const TFHD_DEFAULT_DURATION = 0x000008;
const TFHD_DEFAULT_SIZE = 0x000010;
const TFHD_DEFAULT_FLAGS = 0x000020;
const TFHD_DEFAULT_BASE_IS_MOOF = 0x020000;
// trun flags
const TRUN_DATA_OFFSET = 0x000001;
const TRUN_FIRST_SAMPLE_FLAGS = 0x000004;
const TRUN_DURATION = 0x000100;
const TRUN_SIZE = 0x000200;
const TRUN_FLAGS = 0x000400;
const TRUN_COMPOSITION_OFFSET = 0x000800;
/** sample_is_non_sync_sample in the 32-bit sample flags. */
export const SAMPLE_FLAG_NON_SYNC = 0x00010000;

/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;

/**
 * Parses one fragment (optional styp/sidx/prft/emsg, one moof, its mdat) as emitted by
 * Fmp4Splitter. Every sample's bytes are checked to lie inside an mdat of `data`.
 *
 * A tfhd base_data_offset is taken relative to the start of `data` (true when `data` is the
 * whole file); ffmpeg's default_base_moof output never uses it.
 */
export function parseFragment(data: Buffer, init: InitInfo): FragmentInfo {
  const top = listBoxes(data, 0, data.length, 'fragment', { allowToEnd: true });
  let moof: Box | undefined;
  let prft: ProducerReferenceTime | undefined;
  const mdats: Box[] = [];
  for (const box of top) {
    if (box.type === 'moof') {
      if (moof) throw parseError(`fragment has a second moof at offset ${box.start}`);
      moof = box;
    } else if (box.type === 'mdat') {
      mdats.push(box);
    } else if (box.type === 'prft' && !moof) {
      prft = parsePrft(data, box);
    }
  }
  if (!moof) throw parseError(`fragment has no moof box (top-level boxes: ${top.map((b) => b.type).join(', ') || 'none'})`);
  if (mdats.length === 0) throw parseError('fragment has no mdat box');

  const moofChildren = childBoxes(data, moof);
  const mfhdBox = findBox(moofChildren, 'mfhd');
  if (!mfhdBox) throw parseError(`moof at offset ${moof.start}: missing 'mfhd' box`);
  const mfhd = ByteReader.forBox(data, mfhdBox);
  mfhd.fullBox();
  const sequence = mfhd.u32('sequence_number');

  const tracks: TrackFragmentInfo[] = [];
  let previousDataEnd = moof.start;
  for (const traf of moofChildren.filter((b) => b.type === 'traf')) {
    const parsed = parseTraf(data, traf, moof, previousDataEnd, tracks.length === 0, init, mdats);
    tracks.push(parsed.info);
    previousDataEnd = parsed.dataEnd;
  }

  const info: FragmentInfo = { sequence, tracks, startsWithKeyframe: true, durationSec: 0, startSec: 0 };
  if (prft) info.prft = prft;
  const video = init.videoTrack && tracks.find((t) => t.trackId === init.videoTrack?.id);
  const audio = init.audioTrack && tracks.find((t) => t.trackId === init.audioTrack?.id);
  if (video) {
    info.video = video;
    info.startsWithKeyframe = video.samples[0]?.keyframe ?? false;
  }
  if (audio) info.audio = audio;
  const main = video ? { fragment: video, track: init.videoTrack } : audio ? { fragment: audio, track: init.audioTrack } : undefined;
  if (main?.track) {
    info.durationSec = main.fragment.duration / main.track.timescale;
    info.startSec = main.fragment.baseDecodeTime / main.track.timescale;
  }
  return info;
}

function parsePrft(data: Buffer, box: Box): ProducerReferenceTime {
  const r = ByteReader.forBox(data, box);
  const { version } = r.fullBox();
  const trackId = r.u32('reference_track_ID');
  let ntpSeconds = r.u32('ntp_timestamp seconds');
  const ntpFraction = r.u32('ntp_timestamp fraction');
  const mediaTime = version === 1 ? r.u64('media_time') : r.u32('media_time');
  // NTP era 1 starts in 2036: timestamps with the top bit clear belong to it (RFC 4330 section 3).
  if (ntpSeconds < 0x8000_0000) ntpSeconds += 0x1_0000_0000;
  const wallClockMs = (ntpSeconds - NTP_UNIX_OFFSET_S) * 1000 + (ntpFraction / 0x1_0000_0000) * 1000;
  return { trackId, wallClockMs, mediaTime };
}

function parseTraf(
  data: Buffer,
  traf: Box,
  moof: Box,
  previousDataEnd: number,
  first: boolean,
  init: InitInfo,
  mdats: readonly Box[],
): { info: TrackFragmentInfo; dataEnd: number } {
  const where = `traf at offset ${traf.start}`;
  const children = childBoxes(data, traf);
  const tfhdBox = findBox(children, 'tfhd');
  if (!tfhdBox) throw parseError(`${where}: missing 'tfhd' box`);
  const tfhd = ByteReader.forBox(data, tfhdBox);
  const { flags: tfhdFlags } = tfhd.fullBox();
  const trackId = tfhd.u32('track_ID');
  const track: TrackInfo | undefined = init.tracks.find((t) => t.id === trackId);
  let base: number;
  if (tfhdFlags & TFHD_BASE_DATA_OFFSET) base = tfhd.u64('base_data_offset');
  else if (tfhdFlags & TFHD_DEFAULT_BASE_IS_MOOF || first) base = moof.start;
  else base = previousDataEnd;
  if (tfhdFlags & TFHD_SAMPLE_DESCRIPTION_INDEX) tfhd.u32('sample_description_index');
  const defaultDuration = tfhdFlags & TFHD_DEFAULT_DURATION ? tfhd.u32('default_sample_duration') : track?.defaultSampleDuration;
  const defaultSize = tfhdFlags & TFHD_DEFAULT_SIZE ? tfhd.u32('default_sample_size') : track?.defaultSampleSize;
  const defaultFlags = (tfhdFlags & TFHD_DEFAULT_FLAGS ? tfhd.u32('default_sample_flags') : track?.defaultSampleFlags) ?? 0;

  let baseDecodeTime = 0;
  const tfdtBox = findBox(children, 'tfdt');
  if (tfdtBox) {
    const tfdt = ByteReader.forBox(data, tfdtBox);
    const { version } = tfdt.fullBox();
    baseDecodeTime = version === 1 ? tfdt.u64('baseMediaDecodeTime') : tfdt.u32('baseMediaDecodeTime');
  }

  const samples: SampleInfo[] = [];
  let decodeTime = baseDecodeTime;
  let dataPos = base;
  for (const trunBox of children.filter((b) => b.type === 'trun')) {
    const trunWhere = `trun at offset ${trunBox.start} (track ${trackId})`;
    const r = ByteReader.forBox(data, trunBox);
    const { flags } = r.fullBox();
    const count = r.u32('sample_count');
    if (flags & TRUN_DATA_OFFSET) dataPos = base + r.i32('data_offset');
    const firstSampleFlags = flags & TRUN_FIRST_SAMPLE_FLAGS ? r.u32('first_sample_flags') : undefined;
    const perSample = 4 * [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_COMPOSITION_OFFSET].filter((f) => flags & f).length;
    // Zero-size samples with defaults take no bytes anywhere, so bound the count by the buffer too.
    if (count > data.length) throw parseError(`${trunWhere}: sample_count ${count} exceeds the fragment's ${data.length} bytes`);
    if (count * perSample > r.remaining) {
      throw parseError(`${trunWhere}: ${count} samples need ${count * perSample} bytes but the box has ${r.remaining} left`);
    }
    if (!(flags & TRUN_DURATION) && defaultDuration === undefined && count > 0) {
      throw parseError(`${trunWhere}: no sample duration in trun, tfhd or trex`);
    }
    if (!(flags & TRUN_SIZE) && defaultSize === undefined && count > 0) {
      throw parseError(`${trunWhere}: no sample size in trun, tfhd or trex`);
    }
    for (let i = 0; i < count; i++) {
      const duration = flags & TRUN_DURATION ? r.u32('sample_duration') : (defaultDuration ?? 0);
      const size = flags & TRUN_SIZE ? r.u32('sample_size') : (defaultSize ?? 0);
      let sampleFlags = i === 0 && firstSampleFlags !== undefined ? firstSampleFlags : defaultFlags;
      if (flags & TRUN_FLAGS) sampleFlags = r.u32('sample_flags');
      // Version 0 declares this unsigned, but muxers write negative offsets there too; read it
      // signed like ffmpeg and browsers do (no real offset reaches 2^31).
      const compositionOffset = flags & TRUN_COMPOSITION_OFFSET ? r.i32('sample_composition_time_offset') : 0;
      checkInsideMdat(dataPos, size, mdats, `${trunWhere}: sample ${i}`);
      samples.push({ offset: dataPos, size, duration, keyframe: (sampleFlags & SAMPLE_FLAG_NON_SYNC) === 0, compositionOffset, decodeTime });
      dataPos += size;
      decodeTime += duration;
    }
  }
  if (!Number.isSafeInteger(decodeTime)) throw parseError(`${where}: decode time exceeds 2^53`);
  return { info: { trackId, baseDecodeTime, duration: decodeTime - baseDecodeTime, samples }, dataEnd: dataPos };
}

function checkInsideMdat(offset: number, size: number, mdats: readonly Box[], what: string): void {
  for (const mdat of mdats) {
    if (offset >= mdat.payload && offset + size <= mdat.end) return;
  }
  throw parseError(`${what}: data ${offset}..${offset + size} lies outside every mdat payload`);
}
