import type { JSONSchemaType } from 'ajv';
import { MAX_MASK_REGIONS, MIN_MASK_SIZE, PROFILE_NAMES, maskProblems, type MaskRegion, type ProfileName } from '../codecs/profiles/index.js';
import { isStreamName } from '../lib/stream-name.js';
import { AUDIT_SCHEMA, AUTH_SCHEMA, authProblems, type AuditConfig, type AuthConfig } from './security.js';
import { configLoader } from './validate.js';
import { httpListenerSchema, type HttpListenerConfig } from './http.js';
import { TLS_SCHEMA, tlsProblems, type TlsConfig } from './tls.js';
import { WEBRTC_COMMON_PROPERTIES, WEBRTC_COMMON_REQUIRED, webrtcProblems, type WebRtcCommonConfig } from './webrtc.js';

/**
 * One console in consoles.streams: a profile name, or a profile with PHI mask regions (relative
 * to the console's picture, 0..1; blacked out before the video leaves the edge).
 */
export type ConsoleEntry = ProfileName | { profile: ProfileName; masks?: MaskRegion[] };

export interface EdgeConfig {
  /** Names this edge to the origin (county hospital id). */
  edgeId: string;
  /** HTTP API, /healthz, /metrics (HTTPS when tls.certFile is set). */
  http: HttpListenerConfig;
  /** HTTPS/WSS and RTMPS certificate; CA trusted for an https:// origin; TLS floor. */
  tls: TlsConfig;
  /** RTMP listener for consoles (node-media-server). Port 0 is not allowed: NMS cannot report it. */
  rtmp: {
    host: string;
    port: number;
    /** A publisher that drops and comes back within this many ms keeps its stream and encoder. */
    publishGraceMs: number;
    /** RTMPS listener (same host, tls certificate); 0 = off. */
    tlsPort: number;
    /** Open connections per listener (RTMP, RTMPS); more are closed on accept. */
    maxConnections: number;
    /** A connection that has not sent publish (or play) this long after it opened is closed, ms (RTMPS: TLS included). */
    handshakeTimeoutMs: number;
    /**
     * A connection with no bytes either way for this long is closed, ms: a publisher gone silent
     * (console frozen, cable pulled without a FIN) ends its stream within this time.
     */
    idleTimeoutMs: number;
  };
  origin: {
    /** Base URL of the origin, e.g. http://origin.example:8090 */
    url: string;
    /** This edge's own credential at the origin (one of the origin's ingest.keys), sent as x-scopecast-ingest-key. */
    ingestKey: string;
    /** Bytes of media held per stream while the uplink is slow or down; oldest parts drop first. */
    queueBytes: number;
    /** Uplink retry backoff, ms. */
    retryMinMs: number;
    retryMaxMs: number;
    /** One HTTP request's deadline, ms. */
    requestTimeoutMs: number;
    /**
     * An upload with no answer after this long (or 3x the slowest recent answer, when that is longer)
     * is abandoned and sent again on a fresh connection, ms. After a 5G drop the old connection
     * sits in TCP retransmission backoff and would resume seconds after the link is back.
     */
    stallTimeoutMs: number;
  };
  consoles: {
    /** Profile for a stream not listed below, when allowUnlisted is on. */
    defaultProfile: ProfileName;
    /**
     * Accept a console whose stream is not in `streams` (with defaultProfile and no PHI masks).
     * Off by default: an unlisted console is refused, since the edge cannot know what to mask.
     */
    allowUnlisted: boolean;
    /** Per-stream profile (and PHI masks), by stream name. */
    streams: Record<string, ConsoleEntry>;
  };
  /** WHIP ingest (POST /whip/<stream>): browser consoles publishing over WebRTC. */
  webrtc: WebRtcCommonConfig & {
    /** A publisher whose ICE/DTLS is not up after this many ms is ended. */
    connectTimeoutMs: number;
    /** A connected publisher that sends no RTP for this many ms is ended. */
    silenceTimeoutMs: number;
  };
  ffmpeg: {
    /** Explicit ffmpeg path; empty = FFMPEG_PATH, then PATH. */
    path: string;
    /** Restart backoff after a crash, ms. */
    restartMinMs: number;
    restartMaxMs: number;
  };
  /** Scratch directory (node-media-server's store). */
  workDir: string;
  recording: {
    /** Keep the edge's own copy of every case (survives uplink outages). */
    enabled: boolean;
    /** Where; empty = <workDir>/recordings. */
    dir: string;
  };
  /** Tokens: the keys that verify publisher and admin tokens (the origin's), scrape tokens. */
  auth: AuthConfig;
  /** Audit trail file; empty = <workDir>/audit.jsonl. */
  audit: AuditConfig;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

/** One PHI mask region; x + w and y + h (inside the frame) are checked after the schema. */
const MASK_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    x: { type: 'number', minimum: 0, maximum: 1 },
    y: { type: 'number', minimum: 0, maximum: 1 },
    w: { type: 'number', minimum: MIN_MASK_SIZE, maximum: 1 },
    h: { type: 'number', minimum: MIN_MASK_SIZE, maximum: 1 },
  },
  required: ['x', 'y', 'w', 'h'],
} as const;

const schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    edgeId: { type: 'string', default: 'edge-1', pattern: '^[A-Za-z0-9_-]{1,64}$' },
    http: httpListenerSchema(8080),
    tls: TLS_SCHEMA,
    rtmp: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', default: '127.0.0.1', minLength: 1 },
        port: { type: 'integer', default: 1935, minimum: 0, maximum: 65535 },
        publishGraceMs: { type: 'integer', default: 3000, minimum: 0, maximum: 60000 },
        tlsPort: { type: 'integer', default: 0, minimum: 0, maximum: 65535 },
        maxConnections: { type: 'integer', default: 64, minimum: 1, maximum: 10000 },
        handshakeTimeoutMs: { type: 'integer', default: 5000, minimum: 100, maximum: 60000 },
        idleTimeoutMs: { type: 'integer', default: 8000, minimum: 1000, maximum: 600000 },
      },
      required: ['host', 'port', 'publishGraceMs', 'tlsPort', 'maxConnections', 'handshakeTimeoutMs', 'idleTimeoutMs'],
    },
    origin: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        url: { type: 'string', default: 'http://127.0.0.1:8090', pattern: '^https?://' },
        ingestKey: { type: 'string', minLength: 16, maxLength: 256 },
        queueBytes: { type: 'integer', default: 32 * 1024 * 1024, minimum: 1024 * 1024 },
        retryMinMs: { type: 'integer', default: 200, minimum: 10 },
        retryMaxMs: { type: 'integer', default: 5000, minimum: 10 },
        requestTimeoutMs: { type: 'integer', default: 5000, minimum: 100 },
        stallTimeoutMs: { type: 'integer', default: 1000, minimum: 100 },
      },
      required: ['url', 'ingestKey', 'queueBytes', 'retryMinMs', 'retryMaxMs', 'requestTimeoutMs', 'stallTimeoutMs'],
    },
    consoles: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        defaultProfile: { type: 'string', enum: PROFILE_NAMES, default: 'endoscopy-1080p' },
        allowUnlisted: { type: 'boolean', default: false },
        streams: {
          type: 'object',
          default: {},
          required: [],
          // "or1": "endoscopy-1080p", or "or1": { "profile": "endoscopy-1080p", "masks": [...] }
          additionalProperties: {
            if: { type: 'string' },
            then: { type: 'string', enum: PROFILE_NAMES },
            else: {
              type: 'object',
              additionalProperties: false,
              properties: {
                profile: { type: 'string', enum: PROFILE_NAMES },
                masks: { type: 'array', maxItems: MAX_MASK_REGIONS, items: MASK_SCHEMA },
              },
              required: ['profile'],
            },
          },
        },
      },
      required: ['defaultProfile', 'allowUnlisted', 'streams'],
    },
    webrtc: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        ...WEBRTC_COMMON_PROPERTIES,
        connectTimeoutMs: { type: 'integer', default: 15000, minimum: 1000, maximum: 120000 },
        silenceTimeoutMs: { type: 'integer', default: 8000, minimum: 1000, maximum: 120000 },
      },
      required: [...WEBRTC_COMMON_REQUIRED, 'connectTimeoutMs', 'silenceTimeoutMs'],
    },
    ffmpeg: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        path: { type: 'string', default: '' },
        restartMinMs: { type: 'integer', default: 250, minimum: 10 },
        restartMaxMs: { type: 'integer', default: 5000, minimum: 10 },
      },
      required: ['path', 'restartMinMs', 'restartMaxMs'],
    },
    workDir: { type: 'string', default: 'data/edge', minLength: 1 },
    recording: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        dir: { type: 'string', default: '' },
      },
      required: ['enabled', 'dir'],
    },
    auth: AUTH_SCHEMA,
    audit: AUDIT_SCHEMA,
    logLevel: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
  },
  required: ['edgeId', 'http', 'tls', 'rtmp', 'origin', 'consoles', 'webrtc', 'ffmpeg', 'workDir', 'recording', 'auth', 'audit', 'logLevel'],
} as unknown as JSONSchemaType<EdgeConfig>;

export const loadEdgeConfig = configLoader<EdgeConfig>('edge', schema, (c) => {
  const problems: string[] = [];
  if (c.rtmp.port === 0) problems.push('/rtmp/port: must be a fixed port (node-media-server cannot listen on port 0)');
  problems.push(...tlsProblems(c.tls));
  if (c.rtmp.tlsPort !== 0 && !c.tls.certFile) problems.push('/rtmp/tlsPort: RTMPS needs tls.certFile and tls.keyFile');
  if (c.rtmp.tlsPort !== 0 && c.rtmp.tlsPort === c.rtmp.port) problems.push('/rtmp/tlsPort: must differ from rtmp.port');
  if (c.origin.retryMaxMs < c.origin.retryMinMs) problems.push('/origin/retryMaxMs: must be >= retryMinMs');
  if (c.ffmpeg.restartMaxMs < c.ffmpeg.restartMinMs) problems.push('/ffmpeg/restartMaxMs: must be >= restartMinMs');
  problems.push(...webrtcProblems(c.webrtc), ...authProblems(c.auth));
  for (const [name, entry] of Object.entries(c.consoles.streams)) {
    if (!isStreamName(name)) problems.push(`/consoles/streams: "${String(name).slice(0, 80)}" is not an allowed stream name`);
    else if (typeof entry === 'object' && entry.masks) problems.push(...maskProblems(entry.masks, `/consoles/streams/${name}/masks`));
  }
  try {
    new URL(c.origin.url);
  } catch {
    problems.push(`/origin/url: "${c.origin.url}" is not a URL`);
  }
  return problems;
});
