// One catalogue of coded errors. A code, once published, keeps its meaning; retired codes are
// never reused. Errors travel on the wire as data: {type, code, message, details, fatal}.

export interface ErrorSpec {
  readonly message: string;
  readonly status: number;
}

export const ERRORS = {
  SC_ERR_CONFIG_INVALID: { message: 'configuration is invalid', status: 500 },
  SC_ERR_INVALID_STATE: { message: 'object is closed', status: 503 },
  SC_ERR_STREAM_NAME: { message: 'stream name is not allowed', status: 400 },
  SC_ERR_STREAM_NOT_FOUND: { message: 'stream not found', status: 404 },
  SC_ERR_INGEST_AUTH: { message: 'ingest credentials rejected', status: 401 },
  SC_ERR_INGEST_ORDER: { message: 'fragment received before init segment', status: 409 },
  SC_ERR_INGEST_MEDIA: { message: 'media payload is malformed', status: 400 },
  SC_ERR_INGEST_TOO_LARGE: { message: 'media payload is too large', status: 413 },
  SC_ERR_HLS_BAD_REQUEST: { message: 'bad playlist request', status: 400 },
  SC_ERR_HLS_GONE: { message: 'media is no longer in the live window', status: 404 },
  SC_ERR_HLS_TIMEOUT: { message: 'blocking request timed out', status: 503 },
  SC_ERR_FFMPEG_SPAWN: { message: 'ffmpeg could not be started', status: 500 },
  SC_ERR_FFMPEG_DIED: { message: 'ffmpeg exited unexpectedly', status: 500 },
  SC_ERR_PROFILE_UNKNOWN: { message: 'unknown console profile', status: 400 },
  SC_ERR_CONSOLE_UNLISTED: { message: 'console is not listed at this edge', status: 403 },
  SC_ERR_FMP4_PARSE: { message: 'fragmented MP4 could not be parsed', status: 400 },
  SC_ERR_NOT_FOUND: { message: 'no such route', status: 404 },
  SC_ERR_INTERNAL: { message: 'internal error', status: 500 },
  SC_ERR_UPLINK: { message: 'origin uplink request failed', status: 502 },
  SC_ERR_SDP: { message: 'SDP offer rejected', status: 400 },
  SC_ERR_WEBRTC_LIMIT: { message: 'too many WebRTC sessions', status: 503 },
  SC_ERR_WEBRTC_SESSION: { message: 'no such WebRTC session', status: 404 },
  SC_ERR_WEBRTC_NEGOTIATION: { message: 'WebRTC negotiation failed', status: 500 },
  SC_ERR_STREAM_BUSY: { message: 'stream is already being published', status: 409 },
  SC_ERR_METHOD_NOT_ALLOWED: { message: 'method not allowed on this resource', status: 405 },
  SC_ERR_CONTENT_TYPE: { message: 'unsupported content type', status: 415 },
  SC_ERR_WS_MESSAGE: { message: 'WebSocket message rejected', status: 400 },
  SC_ERR_RECORDING_NOT_FOUND: { message: 'recording not found', status: 404 },
  SC_ERR_FORBIDDEN: { message: 'not allowed', status: 403 },
  SC_ERR_BAD_REQUEST: { message: 'request is invalid', status: 400 },
  SC_ERR_UNAUTHORIZED: { message: 'a valid access token is required', status: 401 },
  SC_ERR_RECORDING_LIVE: { message: 'recording is still live', status: 409 },
  SC_ERR_RECORDING_INVALID: { message: 'recording request is invalid', status: 400 },
  SC_ERR_SHUTTING_DOWN: { message: 'this server is shutting down; retry shortly (another origin may serve the stream)', status: 503 },
  SC_ERR_RELAY_PROTOCOL: { message: 'origin relay stream is malformed', status: 502 },
  SC_ERR_RELAY_UNAVAILABLE: { message: 'the origin that has this stream cannot be reached', status: 502 },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export class ScopecastError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, detail?: string, details?: Record<string, unknown>) {
    const spec = ERRORS[code];
    super(detail ? `${spec.message}: ${detail}` : spec.message);
    this.name = 'ScopecastError';
    this.code = code;
    this.statusCode = spec.status;
    this.details = details;
  }

  toJSON(): WireError {
    return { type: 'error', code: this.code, message: this.message, details: this.details ?? {}, fatal: false };
  }
}

/** Thrown by any method called after close(). */
export class InvalidStateError extends ScopecastError {
  constructor(what: string) {
    super('SC_ERR_INVALID_STATE', `${what} is closed`);
    this.name = 'InvalidStateError';
  }
}

export interface WireError {
  type: 'error';
  code: ErrorCode;
  message: string;
  details: Record<string, unknown>;
  fatal: boolean;
}
