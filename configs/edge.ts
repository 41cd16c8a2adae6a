import type { JSONSchemaType } from 'ajv';
import { PROFILE_NAMES, type ProfileName } from '../codecs/profiles/index.js';
import { isStreamName } from '../lib/stream-name.js';
import { configLoader, hostPortSchema as hostPort } from './validate.js';
import { WEBRTC_COMMON_PROPERTIES, WEBRTC_COMMON_REQUIRED, webrtcProblems, type WebRtcCommonConfig } from './webrtc.js';

export interface EdgeConfig {
  /** Names this edge to the origin (county hospital id). */
  edgeId: string;
  /** HTTP API, /healthz, /metrics. */
  http: { host: string; port: number };
  /** RTMP listener for consoles (node-media-server). Port 0 is not allowed: NMS cannot report it. */
  rtmp: {
    host: string;
    port: number;
    /** A publisher that drops and comes back within this many ms keeps its stream and encoder. */
    publishGraceMs: number;
  };
  origin: {
    /** Base URL of the origin, e.g. http://origin.example:8090 */
    url: string;
    /** Shared ingest credential, sent as x-scopecast-ingest-key. */
    ingestKey: string;
    /** Bytes of media held per stream while the uplink is slow or down; oldest parts drop first. */
    queueBytes: number;
    /** Uplink retry backoff, ms. */
    retryMinMs: number;
    retryMaxMs: number;
    /** One HTTP request's deadline, ms. */
    requestTimeoutMs: number;
  };
  consoles: {
    /** Profile for a stream not listed below. */
    defaultProfile: ProfileName;
    /** Per-stream profile, by stream name. */
    streams: Record<string, ProfileName>;
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
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

const schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    edgeId: { type: 'string', default: 'edge-1', pattern: '^[A-Za-z0-9_-]{1,64}$' },
    http: hostPort(8080),
    rtmp: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', default: '127.0.0.1', minLength: 1 },
        port: { type: 'integer', default: 1935, minimum: 0, maximum: 65535 },
        publishGraceMs: { type: 'integer', default: 3000, minimum: 0, maximum: 60000 },
      },
      required: ['host', 'port', 'publishGraceMs'],
    },
    origin: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        url: { type: 'string', default: 'http://127.0.0.1:8090', pattern: '^https?://' },
        ingestKey: { type: 'string', default: '', maxLength: 256 },
        queueBytes: { type: 'integer', default: 32 * 1024 * 1024, minimum: 1024 * 1024 },
        retryMinMs: { type: 'integer', default: 200, minimum: 10 },
        retryMaxMs: { type: 'integer', default: 5000, minimum: 10 },
        requestTimeoutMs: { type: 'integer', default: 5000, minimum: 100 },
      },
      required: ['url', 'ingestKey', 'queueBytes', 'retryMinMs', 'retryMaxMs', 'requestTimeoutMs'],
    },
    consoles: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        defaultProfile: { type: 'string', enum: PROFILE_NAMES, default: 'endoscopy-1080p' },
        streams: {
          type: 'object',
          default: {},
          required: [],
          additionalProperties: { type: 'string', enum: PROFILE_NAMES },
        },
      },
      required: ['defaultProfile', 'streams'],
    },
    webrtc: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        ...WEBRTC_COMMON_PROPERTIES,
        connectTimeoutMs: { type: 'integer', default: 15000, minimum: 1000, maximum: 120000 },
        silenceTimeoutMs: { type: 'integer', default: 10000, minimum: 1000, maximum: 120000 },
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
    logLevel: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
  },
  required: ['edgeId', 'http', 'rtmp', 'origin', 'consoles', 'webrtc', 'ffmpeg', 'workDir', 'recording', 'logLevel'],
} as unknown as JSONSchemaType<EdgeConfig>;

export const loadEdgeConfig = configLoader<EdgeConfig>('edge', schema, (c) => {
  const problems: string[] = [];
  if (c.rtmp.port === 0) problems.push('/rtmp/port: must be a fixed port (node-media-server cannot listen on port 0)');
  if (c.origin.retryMaxMs < c.origin.retryMinMs) problems.push('/origin/retryMaxMs: must be >= retryMinMs');
  if (c.ffmpeg.restartMaxMs < c.ffmpeg.restartMinMs) problems.push('/ffmpeg/restartMaxMs: must be >= restartMinMs');
  problems.push(...webrtcProblems(c.webrtc));
  for (const name of Object.keys(c.consoles.streams)) {
    if (!isStreamName(name)) problems.push(`/consoles/streams: "${String(name).slice(0, 80)}" is not an allowed stream name`);
  }
  try {
    new URL(c.origin.url);
  } catch {
    problems.push(`/origin/url: "${c.origin.url}" is not a URL`);
  }
  return problems;
});
