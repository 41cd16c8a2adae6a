import { ScopecastError } from './errors.js';

// Whitelist, never a blacklist: a stream name reaches paths, Redis keys, URLs and ffmpeg
// arguments, so it may only hold characters that mean nothing in any of them. It may not start
// with '-' (an ffmpeg option) or be longer than 64 characters.
export const STREAM_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$/;
const STREAM_NAME = STREAM_NAME_RE;

export function isStreamName(name: unknown): name is string {
  return typeof name === 'string' && STREAM_NAME.test(name);
}

/** Returns the name unchanged or throws SC_ERR_STREAM_NAME (HTTP 400). */
export function assertStreamName(name: unknown): string {
  if (isStreamName(name)) return name;
  const shown = typeof name === 'string' ? JSON.stringify(name.slice(0, 80)) : typeof name;
  throw new ScopecastError('SC_ERR_STREAM_NAME', `${shown} (allowed: A-Z a-z 0-9 _ -, 1-64 chars, not starting with -)`);
}

export const STREAM_NAME_PATTERN = STREAM_NAME.source;
