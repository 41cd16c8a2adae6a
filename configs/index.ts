export { loadEdgeConfig, type EdgeConfig } from './edge.js';
export { loadOriginConfig, type OriginConfig } from './origin.js';
export { readConfigFile } from './file.js';
export { readTlsFiles, type TlsConfig, type TlsFiles, type TlsServerOptions } from './tls.js';
