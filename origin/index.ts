export { build, type OriginApp } from './app.js';
export { INGEST_HEADERS } from './ingest-plugin.js';
