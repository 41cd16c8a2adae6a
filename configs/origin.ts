import type { JSONSchemaType } from 'ajv';
import { configLoader } from './validate.js';

export interface OriginConfig {
  /** HTTP: ingest, LL-HLS, pages, /healthz, /metrics. */
  http: { host: string; port: number };
  ingest: {
    /** Accepted edge credentials (x-scopecast-ingest-key). Empty list = no key required (demo only). */
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
  };
  webrtc: {
    /** Serve WHEP (POST /whep/<stream>). */
    enabled: boolean;
    /**
     * Address written into ICE host candidates instead of the local one: the public IP of a
     * 1:1 NAT (cloud VM, hospital firewall with port forwarding). Empty = local addresses.
     */
    announcedAddress: string;
    /** Extra local addresses to gather on (normally excluded ones, e.g. 127.0.0.1 for loopback tests). */
    additionalHostAddresses: string[];
    /** Bind ICE sockets to this local IPv4 address only (e.g. 127.0.0.1 in tests); empty = all. */
    interfaceAddress: string;
    /** UDP port range for ICE/media, [min, max]; empty = any port. Forward it on the firewall. */
    portRange: number[];
    /** STUN/TURN servers for the origin's own candidates. */
    iceServers: Array<{ urls: string; username?: string; credential?: string }>;
    /** WebRTC viewers per stream. */
    maxViewersPerStream: number;
    /** RTP packets a viewer may have in flight before it is skipped to the next keyframe. */
    viewerQueuePackets: number;
    /** Largest SDP offer accepted, bytes. */
    maxSdpBytes: number;
  };
  /** Redis registry URL; empty = embedded in-process registry (one machine). */
  redisUrl: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

const schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    http: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', default: '127.0.0.1', minLength: 1 },
        port: { type: 'integer', default: 8090, minimum: 0, maximum: 65535 },
      },
      required: ['host', 'port'],
    },
    ingest: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        keys: { type: 'array', items: { type: 'string', minLength: 16, maxLength: 256 }, default: [] },
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
      },
      required: ['windowSegments', 'partHoldBackParts', 'blockingTimeoutMs', 'endedRetentionSeconds'],
    },
    webrtc: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        announcedAddress: { type: 'string', default: '', maxLength: 253 },
        additionalHostAddresses: { type: 'array', items: { type: 'string', minLength: 2, maxLength: 64 }, default: [] },
        interfaceAddress: { type: 'string', default: '', maxLength: 64 },
        portRange: { type: 'array', items: { type: 'integer', minimum: 1024, maximum: 65535 }, default: [], maxItems: 2 },
        iceServers: {
          type: 'array',
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            properties: {
              urls: { type: 'string', pattern: '^(stun|turns?):' },
              username: { type: 'string', nullable: true },
              credential: { type: 'string', nullable: true },
            },
            required: ['urls'],
          },
        },
        maxViewersPerStream: { type: 'integer', default: 50, minimum: 1, maximum: 1000 },
        viewerQueuePackets: { type: 'integer', default: 400, minimum: 16 },
        maxSdpBytes: { type: 'integer', default: 32 * 1024, minimum: 1024, maximum: 256 * 1024 },
      },
      required: ['enabled', 'announcedAddress', 'additionalHostAddresses', 'interfaceAddress', 'portRange', 'iceServers', 'maxViewersPerStream', 'viewerQueuePackets', 'maxSdpBytes'],
    },
    redisUrl: { type: 'string', default: '', pattern: '^(|rediss?://.*)$' },
    logLevel: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
  },
  required: ['http', 'ingest', 'hls', 'webrtc', 'redisUrl', 'logLevel'],
} as unknown as JSONSchemaType<OriginConfig>;

export const loadOriginConfig = configLoader<OriginConfig>('origin', schema, (c) => {
  const problems: string[] = [];
  const range = c.webrtc.portRange;
  if (range.length === 1) problems.push('/webrtc/portRange: give [min, max] or leave empty');
  if (range.length === 2 && !(range[0]! < range[1]!)) problems.push('/webrtc/portRange: min must be below max');
  return problems;
});
