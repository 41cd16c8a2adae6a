// The one rule for stream names (lib/stream-name.ts), re-exported for the pages: the origin's
// routes and the page's re-check of what the server put in the HTML must never disagree (they
// once did: a leading '-' passed here and not there).
export { STREAM_NAME_RE, isStreamName as isValidStreamName } from '../../lib/stream-name.js';
