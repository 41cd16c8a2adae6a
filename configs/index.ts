export { loadEdgeConfig, type EdgeConfig } from './edge.js';
export { loadOriginConfig, type OriginConfig } from './origin.js';
export { readConfigFile } from './file.js';
