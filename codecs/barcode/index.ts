export { drawStamp, readStamp, crc8, stripHeight, STAMP_STRIP_FRACTION, STAMP_CELLS, STAMP_MAX_MS } from './stamp.js';
