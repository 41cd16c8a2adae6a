import type { JSONSchemaType } from 'ajv';
import { AUDIT_SCHEMA, AUTH_SCHEMA, authProblems, type AuditConfig, type AuthConfig } from './security.js';
import { configLoader } from './validate.js';
import { httpListenerSchema, type HttpListenerConfig } from './http.js';
import { TLS_SCHEMA, tlsProblems, type TlsConfig } from './tls.js';
import { WEBRTC_COMMON_PROPERTIES, WEBRTC_COMMON_REQUIRED, webrtcProblems, type WebRtcCommonConfig } from './webrtc.js';

export interface OriginConfig {
  /** HTTP: ingest, LL-HLS, pages, /healthz, /metrics (HTTPS/WSS when tls.certFile is set). */
  http: HttpListenerConfig;
  /** HTTPS/WSS certificate and TLS floor; caFile = the CA trusted when pulling from other origins over https. */
  tls: TlsConfig;
  ingest: {
    /** Accepted edge credentials (x-scopecast-ingest-key), one per edge; at least one. */
    keys: string[];
    /** Largest init segment accepted, bytes. */
    maxInitBytes: number;
    /** Largest CMAF fragment accepted, bytes. */
    maxFragmentBytes: number;
  };
  hls: {
    /** Segments listed in a live playlist (sliding window). */
    windowSegments: number;
    /** PART-HOLD-BACK in part targets (RFC 8216bis: at least 2; 3 is safe). */
    partHoldBackParts: number;
    /** How long a blocking playlist / part request may wait, ms. */
    blockingTimeoutMs: number;
    /** How long an ended stream's playlist stays served (with EXT-X-ENDLIST), s. */
    endedRetentionSeconds: number;
    /**
     * While LL-HLS responses wait to go out on a connection, one must finish within this many ms
     * of the first starting or the last finishing (a blocking wait does not count). Longer = the
     * viewer stopped reading (a laptop asleep, a dead link): the connection is closed instead of
     * holding a socket and buffered segments until TCP gives up.
     */
    stalledReaderTimeoutMs: number;
  };
  webrtc: WebRtcCommonConfig & {
    /** WebRTC viewers per stream. */
    maxViewersPerStream: number;
    /**
     * RTP packets a viewer may have queued or in flight before it is skipped to the next keyframe:
     * a memory cap (viewerMaxQueueMs is the latency bound).
     */
    viewerQueuePackets: number;
    /**
     * A frame that waited in a viewer's send queue longer than this, ms, means the viewer is behind
     * (e.g. the origin's event loop is overloaded): its queue is dropped and it resumes at the next
     * keyframe, a short freeze instead of ever-later pictures.
     */
    viewerMaxQueueMs: number;
    /**
     * A new viewer starts at once on the current GOP when its keyframe arrived at most this long
     * ago, ms (0 = always wait for the next keyframe). Trades first-frame age for start time.
     */
    fastStartMaxAgeMs: number;
  };
  recordings: {
    /** Record every live stream (segments, VOD playlist, annotations, chapters). */
    enabled: boolean;
    /** Where recordings are written; each case gets its own directory. */
    dir: string;
    /** Recordings older than this are deleted, days (0 = keep forever). */
    retentionDays: number;
    /** A publisher back within this long continues the same recording (a chapter marks it), s. */
    reconnectGraceSeconds: number;
  };
  annotations: {
    /** Drawings fade this long after they appear unless pinned, ms. */
    fadeMs: number;
    /** Annotations kept per stream for reconnecting viewers. */
    retain: number;
  };
  /** Tokens: signing keys, scrape tokens, lifetimes. */
  auth: AuthConfig;
  /** Audit trail file; empty = data/origin/audit.jsonl. */
  audit: AuditConfig;
  /** Redis registry URL; empty = embedded in-process registry (one machine). */
  redisUrl: string;
  /** Several origins on one Redis (redisUrl): shared stream registry, viewer counts, pulls. */
  cluster: {
    /** This origin's name in the cluster (Redis entries, /api/cluster); empty = host name + port. */
    id: string;
    /**
     * The URL the other origins pull this origin's streams from (e.g. http://origin1:8090);
     * empty = its streams are watchable only here.
     */
    advertiseUrl: string;
    /** How often this origin renews its streams and viewer counts in Redis, s (they expire after 3x). */
    heartbeatSeconds: number;
    /** A stream pulled from another origin that nobody here watched for this long is released, s. */
    pullIdleSeconds: number;
  };
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

const schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    http: httpListenerSchema(8090),
    tls: TLS_SCHEMA,
    ingest: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        keys: { type: 'array', minItems: 1, items: { type: 'string', minLength: 16, maxLength: 256 } },
        maxInitBytes: { type: 'integer', default: 256 * 1024, minimum: 1024 },
        maxFragmentBytes: { type: 'integer', default: 8 * 1024 * 1024, minimum: 64 * 1024 },
      },
      required: ['keys', 'maxInitBytes', 'maxFragmentBytes'],
    },
    hls: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        windowSegments: { type: 'integer', default: 6, minimum: 3, maximum: 60 },
        partHoldBackParts: { type: 'number', default: 3, minimum: 2, maximum: 20 },
        blockingTimeoutMs: { type: 'integer', default: 6000, minimum: 100, maximum: 60000 },
        endedRetentionSeconds: { type: 'integer', default: 60, minimum: 0 },
        stalledReaderTimeoutMs: { type: 'integer', default: 30000, minimum: 1000, maximum: 600000 },
      },
      required: ['windowSegments', 'partHoldBackParts', 'blockingTimeoutMs', 'endedRetentionSeconds', 'stalledReaderTimeoutMs'],
    },
    webrtc: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        ...WEBRTC_COMMON_PROPERTIES,
        maxViewersPerStream: { type: 'integer', default: 50, minimum: 1, maximum: 1000 },
        viewerQueuePackets: { type: 'integer', default: 400, minimum: 16 },
        viewerMaxQueueMs: { type: 'integer', default: 250, minimum: 50, maximum: 5000 },
        fastStartMaxAgeMs: { type: 'integer', default: 300, minimum: 0, maximum: 5000 },
      },
      required: [...WEBRTC_COMMON_REQUIRED, 'maxViewersPerStream', 'viewerQueuePackets', 'viewerMaxQueueMs', 'fastStartMaxAgeMs'],
    },
    recordings: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        dir: { type: 'string', default: 'data/origin/recordings', minLength: 1 },
        retentionDays: { type: 'number', default: 30, minimum: 0 },
        reconnectGraceSeconds: { type: 'number', default: 30, minimum: 0, maximum: 3600 },
      },
      required: ['enabled', 'dir', 'retentionDays', 'reconnectGraceSeconds'],
    },
    annotations: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        fadeMs: { type: 'integer', default: 5000, minimum: 500, maximum: 600_000 },
        retain: { type: 'integer', default: 10_000, minimum: 100, maximum: 1_000_000 },
      },
      required: ['fadeMs', 'retain'],
    },
    auth: AUTH_SCHEMA,
    audit: AUDIT_SCHEMA,
    redisUrl: { type: 'string', default: '', pattern: '^(|rediss?://.*)$' },
    cluster: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        id: { type: 'string', default: '', pattern: '^(|[a-z0-9][a-z0-9-]{0,31})$' },
        advertiseUrl: { type: 'string', default: '', pattern: '^(|https?://[^\\s/?#]+/?)$' },
        heartbeatSeconds: { type: 'number', default: 2, minimum: 0.2, maximum: 60 },
        pullIdleSeconds: { type: 'number', default: 60, minimum: 1, maximum: 86400 },
      },
      required: ['id', 'advertiseUrl', 'heartbeatSeconds', 'pullIdleSeconds'],
    },
    logLevel: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
  },
  required: ['http', 'tls', 'ingest', 'hls', 'webrtc', 'recordings', 'annotations', 'auth', 'audit', 'redisUrl', 'cluster', 'logLevel'],
} as unknown as JSONSchemaType<OriginConfig>;

export const loadOriginConfig = configLoader<OriginConfig>('origin', schema, (c) => [...webrtcProblems(c.webrtc), ...authProblems(c.auth), ...tlsProblems(c.tls), ...clusterProblems(c)]);

function clusterProblems(c: OriginConfig): string[] {
  return c.cluster.advertiseUrl && !c.redisUrl ? ['/cluster/advertiseUrl: other origins find this one through Redis; set redisUrl too'] : [];
}
