// Machine-readable wall-clock stamp drawn into the luma plane, so glass-to-glass latency can be
// measured from decoded pixels alone. Pure and synchronous: planes in, planes/numbers out.
//
// Layout (all relative to the frame, so it survives scaling, aspect changes and lossy coding):
//   the top STAMP_STRIP_FRACTION of the frame is one row of STAMP_CELLS equal-width cells,
//   each fully black or white:
//     [start guard 4] [timeMs, 48 bits, MSB first] [CRC-8 of the 6 time bytes] [stop guard 4]
//   A reader averages a small patch at each cell centre and thresholds at mid-grey. Every cell
//   must be clearly black or clearly white (a margin around mid-grey), the guards must match and
//   the CRC must check; otherwise the frame carries no stamp.

/** Fraction of the frame height the stamp strip occupies, from the top row down. */
export const STAMP_STRIP_FRACTION = 1 / 12;

/** Cells across the full width, guards included. */
export const STAMP_CELLS = 64;

/** Largest time a stamp can carry (48 bits). */
export const STAMP_MAX_MS = 2 ** 48 - 1;

const TIME_BITS = 48;
const CRC_BITS = 8;
const START_GUARD = [1, 0, 1, 0] as const;
const STOP_GUARD = [0, 1, 1, 0] as const;
const DATA_OFFSET = START_GUARD.length;
const CRC_OFFSET = DATA_OFFSET + TIME_BITS;
const STOP_OFFSET = CRC_OFFSET + CRC_BITS;

// Video levels (limited range): survive any range conversion on the way with room to spare.
const BLACK = 16;
const WHITE = 235;
const THRESHOLD = 128;
/** A cell whose mean lies within this distance of mid-grey is undecidable: no stamp. */
const MARGIN = 40;

/** Smallest plane the layout still resolves: 2 px per cell, 4 px of strip. */
const MIN_WIDTH = STAMP_CELLS * 2;
const MIN_HEIGHT = Math.ceil(4 / STAMP_STRIP_FRACTION);

export function stripHeight(height: number): number {
  return Math.max(1, Math.floor(height * STAMP_STRIP_FRACTION));
}

function checkPlane(y: Uint8Array, width: number, height: number, stride: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < MIN_WIDTH || height < MIN_HEIGHT) {
    throw new RangeError(`stamp needs a plane of at least ${MIN_WIDTH}x${MIN_HEIGHT}, got ${width}x${height}`);
  }
  if (!Number.isInteger(stride) || stride < width) throw new RangeError(`stride ${stride} is smaller than width ${width}`);
  const needed = stride * (stripHeight(height) - 1) + width;
  if (y.length < needed) throw new RangeError(`luma plane has ${y.length} bytes, the stamp strip needs ${needed}`);
}

/** CRC-8, polynomial x^8+x^2+x+1 (0x07), output xor 0x55 so an all-black payload does not check. */
export function crc8(bytes: ArrayLike<number>): number {
  let crc = 0;
  for (let i = 0; i < bytes.length; i++) {
    crc ^= bytes[i]! & 0xff;
    for (let b = 0; b < 8; b++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc ^ 0x55;
}

function timeBytes(timeMs: number, out: number[]): void {
  let rest = timeMs;
  for (let i = 5; i >= 0; i--) {
    out[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
}

const scratchBytes: number[] = [0, 0, 0, 0, 0, 0];
const scratchCells = new Uint8Array(STAMP_CELLS);

/** Fills `cells` with the 0/1 value of every cell for timeMs. */
function encodeCells(timeMs: number, cells: Uint8Array): void {
  for (let i = 0; i < START_GUARD.length; i++) cells[i] = START_GUARD[i]!;
  timeBytes(timeMs, scratchBytes);
  for (let bit = 0; bit < TIME_BITS; bit++) {
    const byte = scratchBytes[bit >> 3]!;
    cells[DATA_OFFSET + bit] = (byte >> (7 - (bit & 7))) & 1;
  }
  const crc = crc8(scratchBytes);
  for (let bit = 0; bit < CRC_BITS; bit++) cells[CRC_OFFSET + bit] = (crc >> (7 - bit)) & 1;
  for (let i = 0; i < STOP_GUARD.length; i++) cells[STOP_OFFSET + i] = STOP_GUARD[i]!;
}

/** Draw timeMs (integer Unix ms, 48 bits) + CRC-8 into the luma plane's top strip. */
export function drawStamp(y: Uint8Array, width: number, height: number, timeMs: number, stride = width): void {
  if (!Number.isInteger(timeMs) || timeMs < 0 || timeMs > STAMP_MAX_MS) {
    throw new RangeError(`stamp time must be an integer in [0, 2^48), got ${timeMs}`);
  }
  checkPlane(y, width, height, stride);
  encodeCells(timeMs, scratchCells);
  const rows = stripHeight(height);
  // Draw the first row cell by cell, then copy it down the strip.
  for (let c = 0; c < STAMP_CELLS; c++) {
    const x0 = Math.floor((c * width) / STAMP_CELLS);
    const x1 = Math.floor(((c + 1) * width) / STAMP_CELLS);
    y.fill(scratchCells[c] ? WHITE : BLACK, x0, x1);
  }
  for (let r = 1; r < rows; r++) y.copyWithin(r * stride, 0, width);
}

/** Mean luma of a patch around the centre of cell c. */
function cellMean(y: Uint8Array, width: number, stride: number, rows: number, c: number): number {
  const cellWidth = width / STAMP_CELLS;
  const cx = Math.floor((c + 0.5) * cellWidth);
  const cy = Math.floor(rows / 2);
  const hx = Math.max(0, Math.floor(cellWidth / 4));
  const hy = Math.max(0, Math.floor(rows / 4));
  let sum = 0;
  let n = 0;
  for (let row = cy - hy; row <= cy + hy; row++) {
    const base = row * stride;
    for (let x = cx - hx; x <= cx + hx; x++) {
      sum += y[base + x]!;
      n++;
    }
  }
  return sum / n;
}

/** Read it back; null when absent or the CRC fails. */
export function readStamp(y: Uint8Array, width: number, height: number, stride = width): number | null {
  checkPlane(y, width, height, stride);
  const rows = stripHeight(height);
  for (let c = 0; c < STAMP_CELLS; c++) {
    const mean = cellMean(y, width, stride, rows, c);
    if (Math.abs(mean - THRESHOLD) < MARGIN) return null;
    scratchCells[c] = mean > THRESHOLD ? 1 : 0;
  }
  for (let i = 0; i < START_GUARD.length; i++) if (scratchCells[i] !== START_GUARD[i]) return null;
  for (let i = 0; i < STOP_GUARD.length; i++) if (scratchCells[STOP_OFFSET + i] !== STOP_GUARD[i]) return null;
  let timeMs = 0;
  for (let bit = 0; bit < TIME_BITS; bit++) timeMs = timeMs * 2 + scratchCells[DATA_OFFSET + bit]!;
  let crc = 0;
  for (let bit = 0; bit < CRC_BITS; bit++) crc = (crc << 1) | scratchCells[CRC_OFFSET + bit]!;
  timeBytes(timeMs, scratchBytes);
  return crc8(scratchBytes) === crc ? timeMs : null;
}
