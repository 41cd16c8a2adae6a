export { FfmpegProcess, type FfmpegExit, type FfmpegProcessOptions, type FfmpegProcessEvents } from './process.js';
export { FfmpegSupervisor, type SupervisorOptions, type SupervisorEvents } from './supervisor.js';
export { locateBinary } from './locate.js';
export { ProgressParser, type EncoderProgress } from './progress.js';
