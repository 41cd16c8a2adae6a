// One rule for stream names, shared by the origin (route validation) and the page (re-check of
// what the server put in the HTML). Names appear in URLs and file paths, so the alphabet is tight.

export const STREAM_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function isValidStreamName(name: unknown): name is string {
  return typeof name === 'string' && STREAM_NAME_RE.test(name);
}
