export {
  SyntheticConsole,
  syntheticConsoleArgs,
  resolveConsoleOptions,
  type SyntheticConsoleOptions,
  type SyntheticConsoleEvents,
  type ResolvedConsoleOptions,
} from './synthetic-console.js';
export {
  StampReader,
  stampReaderArgs,
  type StampSample,
  type StampReaderOptions,
  type StampReaderEvents,
  type StampReaderInput,
} from './stamp-reader.js';
export {
  LatencyProbe,
  frameClocks,
  llhlsUrl,
  type FrameClock,
  type ProbeFrame,
  type UnmatchedReason,
  type LatencyProbeEvents,
  type LatencyProbeOptions,
  type LatencyProbeStats,
} from './latency-probe.js';
