export { Fmp4Splitter, type Fmp4Unit, type Fmp4SplitterOptions } from './splitter.js';
export { parseInit, type InitInfo, type TrackInfo } from './init.js';
export {
  parseFragment,
  SAMPLE_FLAG_NON_SYNC,
  type FragmentInfo,
  type ProducerReferenceTime,
  type SampleInfo,
  type TrackFragmentInfo,
} from './fragment.js';
export { listBoxes, type Box } from './boxes.js';
