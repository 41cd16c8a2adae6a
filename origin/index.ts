export { build, type OriginApp } from './app.js';
export { INGEST_HEADERS } from '../lib/ingest-protocol.js';
