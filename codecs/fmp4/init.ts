import { type Box, ByteReader, childBoxes, findBox, listBoxes, parseError, requireBox } from './boxes.js';

export interface TrackInfo {
  id: number;
  kind: 'video' | 'audio';
  /** mdhd timescale: units per second of every time value in this track. */
  timescale: number;
  /** RFC 6381 codec string: 'avc1.64001f', 'mp4a.40.2', 'opus'; the sample entry type otherwise. */
  codec: string;
  /** Video: from the sample entry, tkhd as fallback. */
  width?: number;
  height?: number;
  /** Audio: from the decoder configuration when it says, otherwise the sample entry. */
  sampleRate?: number;
  channels?: number;
  /** avc1/avc3 parameter sets from avcC (copies, without length prefixes). */
  sps?: Buffer[];
  pps?: Buffer[];
  /** Bytes in each NAL unit length prefix (avcC lengthSizeMinusOne + 1). */
  nalLengthSize?: number;
  /** From mvex/trex: used when tfhd and trun leave them out. */
  defaultSampleDuration?: number;
  defaultSampleSize?: number;
  defaultSampleFlags?: number;
}

export interface InitInfo {
  tracks: TrackInfo[];
  /** The first video track. */
  videoTrack?: TrackInfo;
  /** The first audio track. */
  audioTrack?: TrackInfo;
}

interface TrackDefaults {
  duration: number;
  size: number;
  flags: number;
}

/** Parses an init segment (ftyp + moov). Tracks that are neither video nor audio are left out. */
export function parseInit(data: Buffer): InitInfo {
  const top = listBoxes(data, 0, data.length, 'init segment', { allowToEnd: true });
  const moov = findBox(top, 'moov');
  if (!moov) throw parseError(`init segment has no moov box (top-level boxes: ${top.map((b) => b.type).join(', ') || 'none'})`);
  const moovChildren = childBoxes(data, moov);

  const defaults = new Map<number, TrackDefaults>();
  const mvex = findBox(moovChildren, 'mvex');
  if (mvex) {
    for (const trex of childBoxes(data, mvex).filter((b) => b.type === 'trex')) {
      const r = ByteReader.forBox(data, trex);
      r.fullBox();
      const trackId = r.u32('track_ID');
      r.u32('default_sample_description_index');
      defaults.set(trackId, { duration: r.u32('default_sample_duration'), size: r.u32('default_sample_size'), flags: r.u32('default_sample_flags') });
    }
  }

  const tracks: TrackInfo[] = [];
  for (const trak of moovChildren.filter((b) => b.type === 'trak')) {
    const track = parseTrak(data, trak);
    if (!track) continue;
    const d = defaults.get(track.id);
    if (d) {
      track.defaultSampleDuration = d.duration;
      track.defaultSampleSize = d.size;
      track.defaultSampleFlags = d.flags;
    }
    tracks.push(track);
  }
  const info: InitInfo = { tracks };
  const videoTrack = tracks.find((t) => t.kind === 'video');
  const audioTrack = tracks.find((t) => t.kind === 'audio');
  if (videoTrack) info.videoTrack = videoTrack;
  if (audioTrack) info.audioTrack = audioTrack;
  return info;
}

function parseTrak(data: Buffer, trak: Box): TrackInfo | null {
  const where = `trak at offset ${trak.start}`;
  const children = childBoxes(data, trak);

  const tkhd = ByteReader.forBox(data, requireBox(children, 'tkhd', where));
  const { version: tkhdVersion } = tkhd.fullBox();
  tkhd.skip(tkhdVersion === 1 ? 16 : 8, 'creation/modification time');
  const id = tkhd.u32('track_ID');
  tkhd.skip(4);
  tkhd.skip(tkhdVersion === 1 ? 8 : 4, 'duration');
  tkhd.skip(8 + 2 + 2 + 2 + 2 + 36, 'layer/volume/matrix');
  const tkhdWidth = Math.round(tkhd.u32('width') / 0x10000);
  const tkhdHeight = Math.round(tkhd.u32('height') / 0x10000);

  const mdia = childBoxes(data, requireBox(children, 'mdia', where));
  const mdhd = ByteReader.forBox(data, requireBox(mdia, 'mdhd', where));
  const { version: mdhdVersion } = mdhd.fullBox();
  mdhd.skip(mdhdVersion === 1 ? 16 : 8, 'creation/modification time');
  const timescale = mdhd.u32('timescale');
  if (timescale === 0) throw parseError(`${where}: mdhd timescale is 0`);

  const hdlr = ByteReader.forBox(data, requireBox(mdia, 'hdlr', where));
  hdlr.fullBox();
  hdlr.u32('pre_defined');
  const handler = hdlr.fourcc('handler_type');
  const kind = handler === 'vide' ? 'video' : handler === 'soun' ? 'audio' : null;
  if (kind === null) return null;

  const minf = childBoxes(data, requireBox(mdia, 'minf', where));
  const stbl = childBoxes(data, requireBox(minf, 'stbl', where));
  const stsdBox = requireBox(stbl, 'stsd', where);
  const stsd = ByteReader.forBox(data, stsdBox);
  stsd.fullBox();
  const entryCount = stsd.u32('entry_count');
  if (entryCount === 0) throw parseError(`${where}: stsd has no sample entry`);
  const [entry] = listBoxes(data, stsd.position, stsdBox.end, `stsd at offset ${stsdBox.start}`);
  if (!entry) throw parseError(`${where}: stsd has no sample entry`);

  const track: TrackInfo = { id, kind, timescale, codec: entry.type };
  if (kind === 'video') {
    parseVisualEntry(data, entry, track);
    if (!track.width && tkhdWidth) track.width = tkhdWidth;
    if (!track.height && tkhdHeight) track.height = tkhdHeight;
  } else {
    parseAudioEntry(data, entry, track);
  }
  return track;
}

// VisualSampleEntry: 8 bytes SampleEntry, 16 pre_defined/reserved, width, height, then 50 bytes
// (resolutions, frame_count, compressorname, depth, pre_defined) before the child boxes.
const VISUAL_ENTRY_FIELDS = 78;

function parseVisualEntry(data: Buffer, entry: Box, track: TrackInfo): void {
  const r = ByteReader.forBox(data, entry);
  r.skip(8 + 16, 'SampleEntry header');
  const width = r.u16('width');
  const height = r.u16('height');
  if (width) track.width = width;
  if (height) track.height = height;
  r.skip(VISUAL_ENTRY_FIELDS - 28, 'VisualSampleEntry fields');
  const children = listBoxes(data, r.position, entry.end, `'${entry.type}' sample entry`);
  if (entry.type === 'avc1' || entry.type === 'avc3') {
    const avcC = findBox(children, 'avcC');
    if (!avcC) throw parseError(`'${entry.type}' sample entry has no avcC box`);
    parseAvcC(data, avcC, entry.type, track);
  }
}

function parseAvcC(data: Buffer, box: Box, entryType: string, track: TrackInfo): void {
  const r = ByteReader.forBox(data, box);
  const configurationVersion = r.u8('configurationVersion');
  if (configurationVersion !== 1) throw parseError(`avcC configurationVersion ${configurationVersion} is not 1`);
  const profile = r.u8('AVCProfileIndication');
  const compatibility = r.u8('profile_compatibility');
  const level = r.u8('AVCLevelIndication');
  track.codec = `${entryType}.${hex2(profile)}${hex2(compatibility)}${hex2(level)}`;
  track.nalLengthSize = (r.u8('lengthSizeMinusOne') & 0x03) + 1;
  const spsCount = r.u8('numOfSequenceParameterSets') & 0x1f;
  const sps: Buffer[] = [];
  for (let i = 0; i < spsCount; i++) sps.push(r.bytes(r.u16('sequenceParameterSetLength'), 'sequenceParameterSetNALUnit'));
  const ppsCount = r.u8('numOfPictureParameterSets');
  const pps: Buffer[] = [];
  for (let i = 0; i < ppsCount; i++) pps.push(r.bytes(r.u16('pictureParameterSetLength'), 'pictureParameterSetNALUnit'));
  track.sps = sps;
  track.pps = pps;
}

function parseAudioEntry(data: Buffer, entry: Box, track: TrackInfo): void {
  const r = ByteReader.forBox(data, entry);
  r.skip(8, 'SampleEntry header');
  // ISO entries are version 0; QuickTime sound descriptions v1/v2 add fields after samplerate.
  const version = r.u16('sound description version');
  r.skip(6);
  let channels = r.u16('channelcount');
  r.skip(2 + 2 + 2, 'samplesize/pre_defined/reserved');
  let sampleRate = r.u32('samplerate') / 0x10000;
  if (version === 1) {
    r.skip(16, 'sound description v1 fields');
  } else if (version === 2) {
    r.skip(4, 'sizeOfStructOnly');
    const rateBits = r.bytes(8, 'audioSampleRate');
    sampleRate = rateBits.readDoubleBE(0);
    channels = r.u32('numAudioChannels');
    r.skip(20, 'sound description v2 fields');
  }
  if (channels) track.channels = channels;
  if (sampleRate) track.sampleRate = sampleRate;
  const children = listBoxes(data, r.position, entry.end, `'${entry.type}' sample entry`);

  if (entry.type === 'mp4a') {
    const esds = findBox(children, 'esds');
    if (!esds) throw parseError(`'mp4a' sample entry has no esds box`);
    parseEsds(data, esds, track);
  } else if (entry.type === 'Opus') {
    track.codec = 'opus';
    const dOps = findBox(children, 'dOps');
    if (dOps) {
      const o = ByteReader.forBox(data, dOps);
      o.u8('Version');
      const outputChannels = o.u8('OutputChannelCount');
      if (outputChannels) track.channels = outputChannels;
    }
    // Opus always decodes at 48 kHz whatever InputSampleRate says.
    track.sampleRate = 48_000;
  }
}

const ES_DESCRIPTOR = 0x03;
const DECODER_CONFIG_DESCRIPTOR = 0x04;
const DECODER_SPECIFIC_INFO = 0x05;
const AAC_SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
const AAC_CHANNELS = [0, 1, 2, 3, 4, 5, 6, 8];

/** MPEG-4 descriptor header: tag, then a size of up to four 7-bit groups. */
function readDescriptor(r: ByteReader): { tag: number; end: number } {
  const tag = r.u8('descriptor tag');
  let size = 0;
  for (let i = 0; i < 4; i++) {
    const b = r.u8('descriptor size');
    size = (size << 7) | (b & 0x7f);
    if (!(b & 0x80)) break;
  }
  if (size > r.remaining) throw parseError(`esds: descriptor 0x${hex2(tag)} claims ${size} bytes but only ${r.remaining} remain`);
  return { tag, end: r.position + size };
}

function parseEsds(data: Buffer, box: Box, track: TrackInfo): void {
  const r = ByteReader.forBox(data, box);
  r.fullBox();
  const es = readDescriptor(r);
  if (es.tag !== ES_DESCRIPTOR) throw parseError(`esds: expected ES_Descriptor (0x03), found 0x${hex2(es.tag)}`);
  r.u16('ES_ID');
  const esFlags = r.u8('ES flags');
  if (esFlags & 0x80) r.skip(2, 'dependsOn_ES_ID');
  if (esFlags & 0x40) r.skip(r.u8('URLlength'), 'URLstring');
  if (esFlags & 0x20) r.skip(2, 'OCR_ES_Id');
  const dcd = readDescriptor(r);
  if (dcd.tag !== DECODER_CONFIG_DESCRIPTOR) throw parseError(`esds: expected DecoderConfigDescriptor (0x04), found 0x${hex2(dcd.tag)}`);
  const objectType = r.u8('objectTypeIndication');
  r.skip(1 + 3 + 4 + 4, 'streamType/bufferSizeDB/maxBitrate/avgBitrate');
  track.codec = `mp4a.${hex2(objectType)}`;
  if (r.position >= dcd.end) return;
  const dsi = readDescriptor(r);
  if (dsi.tag !== DECODER_SPECIFIC_INFO || dsi.end === r.position) return;
  // AudioSpecificConfig: audioObjectType(5, escape 31 -> 32 + 6 bits), samplingFrequencyIndex(4,
  // escape 15 -> 24-bit rate), channelConfiguration(4).
  const asc = r.bytes(dsi.end - r.position, 'AudioSpecificConfig');
  const bits = new BitReader(asc);
  let audioObjectType = bits.read(5);
  if (audioObjectType === 31) audioObjectType = 32 + bits.read(6);
  track.codec = `mp4a.${hex2(objectType)}.${audioObjectType}`;
  const frequencyIndex = bits.read(4);
  const sampleRate = frequencyIndex === 15 ? bits.read(24) : AAC_SAMPLE_RATES[frequencyIndex];
  const channels = AAC_CHANNELS[bits.read(4)];
  // The sample entry's channelcount/samplerate are templates (ffmpeg writes 2 channels for mp4a);
  // the decoder configuration is the truth when it says something.
  if (sampleRate) track.sampleRate = sampleRate;
  if (channels) track.channels = channels;
}

class BitReader {
  readonly #buf: Buffer;
  #bit = 0;

  constructor(buf: Buffer) {
    this.#buf = buf;
  }

  read(n: number): number {
    let value = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.#buf[this.#bit >> 3];
      if (byte === undefined) throw parseError(`AudioSpecificConfig: truncated after ${this.#bit} bits`);
      value = value * 2 + ((byte >> (7 - (this.#bit & 7))) & 1);
      this.#bit += 1;
    }
    return value;
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
