export { FfmpegProcess, type FfmpegExit, type FfmpegProcessOptions, type FfmpegProcessEvents } from './process.js';
export { FfmpegSupervisor, type SupervisorOptions, type SupervisorEvents } from './supervisor.js';
export { locateBinary } from './locate.js';
