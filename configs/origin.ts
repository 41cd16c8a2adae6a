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
    redisUrl: { type: 'string', default: '', pattern: '^(|rediss?://.*)$' },
    logLevel: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
  },
  required: ['http', 'ingest', 'hls', 'redisUrl', 'logLevel'],
} as unknown as JSONSchemaType<OriginConfig>;

export const loadOriginConfig = configLoader<OriginConfig>('origin', schema);
