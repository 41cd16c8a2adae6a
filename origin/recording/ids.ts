// Recording ids and file names: the only strings that ever become paths under the recordings
// directory. Both are whitelisted by regex before any path is built; an id is made here from a
// validated stream name, the UTC start time and random hex, never from anything else a client sends.
import { randomBytes } from 'node:crypto';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { isStreamName } from '../../lib/stream-name.js';
import { RECORDING_ID_RE, isRecordingId } from '../../player/index.js';

export { RECORDING_ID_RE, isRecordingId };

/** Files a recording directory may serve: the VOD playlist, its media and the annotation track. */
export const SERVED_FILE_RE = /^(?:playlist\.m3u8|annotations\.jsonl|init_\d{1,6}\.mp4|seg_\d{1,9}\.m4s)$/;

/** Files the origin writes but serves only through the API (and their temporary twins). */
export const INTERNAL_FILE_RE = /^(?:meta\.json|chapters\.json|playlist\.m3u8)(?:\.tmp)?$/;

const CONTENT_TYPES: Array<[RegExp, string]> = [
  [/\.m3u8$/, 'application/vnd.apple.mpegurl'],
  [/\.mp4$/, 'video/mp4'],
  [/\.m4s$/, 'video/iso.segment'],
  [/\.jsonl$/, 'application/jsonl; charset=utf-8'],
];

export function contentTypeFor(file: string): string {
  return CONTENT_TYPES.find(([re]) => re.test(file))?.[1] ?? 'application/octet-stream';
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** `<stream>-<UTC yyyymmddThhmmss>-<4 hex>`; throws unless the stream name is whitelisted. */
export function newRecordingId(stream: string, startedAt: Date, random: () => string = () => randomBytes(2).toString('hex')): string {
  if (!isStreamName(stream)) throw new Error('not a stream name');
  const d = startedAt;
  const stamp = `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}T${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
  const id = `${stream}-${stamp}-${random()}`;
  if (!isRecordingId(id)) throw new Error(`generated recording id ${JSON.stringify(id)} is not valid`);
  return id;
}

/**
 * The path of `<root>/<id>[/<file>]`, after both parts passed their whitelist; the resolved path
 * is checked to stay inside root anyway (defence in depth). Returns null for anything else.
 */
export function recordingPath(root: string, id: string, file?: string): string | null {
  if (!isRecordingId(id)) return null;
  if (file !== undefined && !SERVED_FILE_RE.test(file) && !INTERNAL_FILE_RE.test(file)) return null;
  const base = resolve(root);
  const path = file === undefined ? resolve(base, id) : resolve(base, id, file);
  const rel = relative(base, path);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || !path.startsWith(base + sep)) return null;
  return path;
}
