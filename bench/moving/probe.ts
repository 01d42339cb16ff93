/**
 * Runs in the page (bundled by bench/moving-faces.ts, evaluated in the echo page): on every
 * frame of #echo, reads the clip's frame index from the code stamped in its top-left corner
 * (bench/moving/clip.ts) and finds the green boxes the sender drew (the outline of each:
 * rows and columns at least half covered by box-green pixels, so the score label above a
 * box does not stretch it). Results on window.__moving.
 */
import { BOX_COLOR } from '../../web/capture/draw.js';
import { decodeFrameCode, FRAME_CODE_LAYOUT, frameCodeRect } from '../../web/capture/framecode.js';

export interface EchoRecord {
  /** Clip frame index, or null when the code did not read. */
  clip: number | null;
  /** Boxes found, 640x480 pixels: [x, y, w, h]. */
  boxes: [number, number, number, number][];
  at: number;
}

const W = 640;
const H = 480;
const CELL = 8;
const STEP = 2;

function isBoxGreen(d: Uint8ClampedArray, i: number): boolean {
  const r = d[i]!;
  const g = d[i + 1]!;
  const b = d[i + 2]!;
  return g > 150 && g - Math.max(r, b) > 90;
}

/** Outlines of green boxes in RGBA pixels of a W x H frame. */
export function findBoxes(d: Uint8ClampedArray): [number, number, number, number][] {
  const gw = Math.ceil(W / STEP);
  const gh = Math.ceil(H / STEP);
  const mask = new Uint8Array(gw * gh);
  for (let y = 0; y < gh; y++) for (let x = 0; x < gw; x++) if (isBoxGreen(d, (y * STEP * W + x * STEP) * 4)) mask[y * gw + x] = 1;
  const seen = new Uint8Array(gw * gh);
  const out: [number, number, number, number][] = [];
  const stack: number[] = [];
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || seen[start]) continue;
    const cells: number[] = [];
    stack.push(start);
    seen[start] = 1;
    while (stack.length) {
      const c = stack.pop()!;
      cells.push(c);
      const cx = c % gw;
      const cy = (c - cx) / gw;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const nx = cx + dx;
          const ny = cy + dy;
          if (nx < 0 || ny < 0 || nx >= gw || ny >= gh) continue;
          const n = ny * gw + nx;
          if (mask[n] && !seen[n]) {
            seen[n] = 1;
            stack.push(n);
          }
        }
    }
    let x0 = gw;
    let y0 = gh;
    let x1 = -1;
    let y1 = -1;
    for (const c of cells) {
      const x = c % gw;
      const y = (c - x) / gw;
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
    }
    const bw = x1 - x0 + 1;
    const bh = y1 - y0 + 1;
    if (bw < 8 || bh < 8) continue; // labels, noise
    const rows = new Array<number>(bh).fill(0);
    const cols = new Array<number>(bw).fill(0);
    for (const c of cells) {
      const x = c % gw;
      const y = (c - x) / gw;
      rows[y - y0]!++;
      cols[x - x0]!++;
    }
    const edgeRows = rows.map((n, i) => (n >= bw * 0.5 ? i : -1)).filter((i) => i >= 0);
    const edgeCols = cols.map((n, i) => (n >= bh * 0.4 ? i : -1)).filter((i) => i >= 0);
    if (edgeRows.length < 2 || edgeCols.length < 2) continue;
    const top = y0 + edgeRows[0]!;
    const bottom = y0 + edgeRows.at(-1)!;
    const left = x0 + edgeCols[0]!;
    const right = x0 + edgeCols.at(-1)!;
    if (bottom - top < 6 || right - left < 6) continue;
    out.push([left * STEP, top * STEP, (right - left + 1) * STEP, (bottom - top + 1) * STEP]);
  }
  return out;
}

function start(): void {
  const echo = document.getElementById('echo') as HTMLVideoElement;
  const canvas = document.createElement('canvas');
  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  const codeCanvas = document.createElement('canvas');
  codeCanvas.width = FRAME_CODE_LAYOUT.cols * CELL;
  codeCanvas.height = FRAME_CODE_LAYOUT.rows * CELL;
  const codeCtx = codeCanvas.getContext('2d', { willReadFrequently: true })!;
  codeCtx.imageSmoothingEnabled = false;
  const r = frameCodeRect(W, H);
  const records: EchoRecord[] = [];
  const state = { records, running: true };
  (window as unknown as { __moving: typeof state }).__moving = state;
  const onFrame = () => {
    if (!state.running) return;
    echo.requestVideoFrameCallback(onFrame);
    if (!echo.videoWidth) return;
    ctx.drawImage(echo, 0, 0, W, H);
    codeCtx.drawImage(canvas, r.x, 0, r.w, r.h, 0, 0, codeCanvas.width, codeCanvas.height);
    const code = decodeFrameCode(codeCtx.getImageData(0, 0, codeCanvas.width, codeCanvas.height).data, CELL);
    records.push({ clip: code.value, boxes: findBoxes(ctx.getImageData(0, 0, W, H).data), at: performance.now() });
  };
  echo.requestVideoFrameCallback(onFrame);
}

void BOX_COLOR; // the colour findBoxes looks for (#00ff00)
start();
