/**
 * Frame code: a frame counter stamped into a corner of every outgoing video
 * frame as black/white blocks, so a receiver can tell which published frame a
 * decoded frame is (metadata overlay mode aligns detections with it; the
 * glass-to-glass meter, web/stats/glass.ts, times frames by it).
 *
 * Layout (all sizes scale with the frame width; at 640 px a block is 8x8 px,
 * so the code is 136x16 px in the bottom-left corner, aligned to VP8's 16x16
 * macroblocks):
 *
 *   row 0: [W][B][d23 d22 ... d9]          W/B: white and black reference blocks
 *   row 1: [d8 ... d0][c7 ... c0]          d: 24-bit payload (MSB first), c: CRC-8
 *
 * The reader samples the centre of each block (the middle half, which VP8's
 * ringing at ~400 kbps leaves alone), thresholds halfway between the two
 * reference blocks, and accepts the value only if the CRC matches and the
 * references differ by a clear margin. A code that does not read back cleanly
 * gives null, never a wrong number (the CRC-8 misses 1 in 256 random errors;
 * the contrast check and the block-centre sampling make random errors rare).
 *
 * Room for timing: `FrameCodeLayout.rows` can grow; every extra row of 17
 * blocks carries 17 more bits after the CRC'd part without changing how the
 * first two rows read (see `stampFrameCode`'s `extra` argument). The publisher
 * also keeps `ts` per frame number (see FacesUp.ts), so the frame number alone
 * maps a received frame back to its capture time on the sending side.
 */

export interface FrameCodeLayout {
  /** Blocks per row. */
  cols: number;
  /** Rows of blocks (2 for the counter; more rows carry `extra` bits). */
  rows: number;
  /** Block size as a fraction of the frame width (1/80: 8 px at 640). */
  blockFraction: number;
  /** Smallest block size in pixels (small frames). */
  minBlockPx: number;
}

export const FRAME_CODE_LAYOUT: Readonly<FrameCodeLayout> = Object.freeze({
  cols: 17,
  rows: 2,
  blockFraction: 1 / 80,
  minBlockPx: 4,
});

/** Bits in the frame counter. */
export const FRAME_CODE_BITS = 24;
export const FRAME_CODE_MAX = 2 ** FRAME_CODE_BITS - 1;
const CRC_BITS = 8;
const REF_BLOCKS = 2;
/** Minimum white-minus-black difference (0..255 luma) for a code to count as present. */
const MIN_CONTRAST = 60;

/** Block size in pixels for a frame `width` wide. */
export function blockSize(width: number, layout: FrameCodeLayout = FRAME_CODE_LAYOUT): number {
  return Math.max(layout.minBlockPx, Math.round(width * layout.blockFraction));
}

/** The code's rectangle in a `width` x `height` frame (bottom-left corner). */
export function frameCodeRect(width: number, height: number, layout: FrameCodeLayout = FRAME_CODE_LAYOUT) {
  const b = blockSize(width, layout);
  return { x: 0, y: height - layout.rows * b, w: layout.cols * b, h: layout.rows * b, block: b };
}

/** CRC-8 (polynomial 0x07) over the payload's 3 bytes. */
export function crc8(value: number): number {
  let crc = 0;
  for (const byte of [(value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff]) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

/** The block colours, row-major: true = white. */
export function frameCodeBits(value: number, layout: FrameCodeLayout = FRAME_CODE_LAYOUT, extra: number[] = []): boolean[] {
  const v = value & FRAME_CODE_MAX;
  const bits: boolean[] = [true, false];
  for (let i = FRAME_CODE_BITS - 1; i >= 0; i--) bits.push(((v >>> i) & 1) === 1);
  const c = crc8(v);
  for (let i = CRC_BITS - 1; i >= 0; i--) bits.push(((c >>> i) & 1) === 1);
  const total = layout.cols * layout.rows;
  for (const bit of extra) if (bits.length < total) bits.push(bit !== 0);
  while (bits.length < total) bits.push(false);
  return bits;
}

/** Draws the code for `value` into the bottom-left corner of a `width` x `height` 2D context. */
export function stampFrameCode(
  ctx: CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D,
  width: number,
  height: number,
  value: number,
  layout: FrameCodeLayout = FRAME_CODE_LAYOUT,
  extra: number[] = [],
): void {
  const r = frameCodeRect(width, height, layout);
  const bits = frameCodeBits(value, layout, extra);
  ctx.save();
  ctx.fillStyle = '#000';
  ctx.fillRect(r.x, r.y, r.w, r.h);
  ctx.fillStyle = '#fff';
  for (let i = 0; i < bits.length; i++) {
    if (!bits[i]) continue;
    const col = i % layout.cols;
    const row = Math.floor(i / layout.cols);
    ctx.fillRect(r.x + col * r.block, r.y + row * r.block, r.block, r.block);
  }
  ctx.restore();
}

export interface FrameCodeRead {
  /** The counter, or null when no valid code was found. */
  value: number | null;
  /** White-reference minus black-reference luma (how readable the code is). */
  contrast: number;
  /** Why value is null. */
  error?: 'no-contrast' | 'crc';
}

/**
 * Decodes a code from RGBA pixels of the code's rectangle, scaled to exactly
 * `cols * cell` x `rows * cell` pixels (see FrameCodeReader).
 */
export function decodeFrameCode(rgba: Uint8ClampedArray, cell: number, layout: FrameCodeLayout = FRAME_CODE_LAYOUT): FrameCodeRead {
  const stride = layout.cols * cell;
  const q = Math.max(1, Math.floor(cell / 4));
  const luma = (col: number, row: number): number => {
    let sum = 0;
    let n = 0;
    for (let y = row * cell + q; y < (row + 1) * cell - q; y++) {
      for (let x = col * cell + q; x < (col + 1) * cell - q; x++) {
        const i = (y * stride + x) * 4;
        sum += 0.299 * rgba[i]! + 0.587 * rgba[i + 1]! + 0.114 * rgba[i + 2]!;
        n++;
      }
    }
    return n ? sum / n : 0;
  };
  const white = luma(0, 0);
  const black = luma(1, 0);
  const contrast = white - black;
  if (contrast < MIN_CONTRAST) return { value: null, contrast, error: 'no-contrast' };
  const mid = (white + black) / 2;
  const bit = (i: number) => (luma(i % layout.cols, Math.floor(i / layout.cols)) > mid ? 1 : 0);
  let value = 0;
  for (let i = 0; i < FRAME_CODE_BITS; i++) value = value * 2 + bit(REF_BLOCKS + i);
  let crc = 0;
  for (let i = 0; i < CRC_BITS; i++) crc = crc * 2 + bit(REF_BLOCKS + FRAME_CODE_BITS + i);
  if (crc !== crc8(value)) return { value: null, contrast, error: 'crc' };
  return { value, contrast };
}

/**
 * Reads frame codes from a video (or any canvas image source) with a small
 * reusable canvas: draws only the code's corner, scaled to 8 px per block.
 */
export class FrameCodeReader {
  static readonly CELL = 8;
  private readonly canvas: OffscreenCanvas | HTMLCanvasElement;
  private readonly ctx: OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D;

  constructor(readonly layout: FrameCodeLayout = FRAME_CODE_LAYOUT) {
    const w = layout.cols * FrameCodeReader.CELL;
    const h = layout.rows * FrameCodeReader.CELL;
    if (typeof OffscreenCanvas === 'function') {
      this.canvas = new OffscreenCanvas(w, h);
    } else {
      this.canvas = document.createElement('canvas');
      this.canvas.width = w;
      this.canvas.height = h;
    }
    const ctx = this.canvas.getContext('2d', { willReadFrequently: true }) as OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D | null;
    if (!ctx) throw new Error('2d canvas context unavailable');
    ctx.imageSmoothingEnabled = false;
    this.ctx = ctx;
  }

  /** Reads the code from the current frame of `source`, which is `width` x `height` pixels. */
  read(source: CanvasImageSource, width: number, height: number): FrameCodeRead {
    if (!width || !height) return { value: null, contrast: 0, error: 'no-contrast' };
    const r = frameCodeRect(width, height, this.layout);
    const cw = this.canvas.width;
    const ch = this.canvas.height;
    this.ctx.drawImage(source, r.x, r.y, r.w, r.h, 0, 0, cw, ch);
    const data = this.ctx.getImageData(0, 0, cw, ch).data;
    return decodeFrameCode(data, FrameCodeReader.CELL, this.layout);
  }
}
