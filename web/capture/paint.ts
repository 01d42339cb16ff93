/**
 * What both capture paths draw on a frame, on any 2D context (the page's canvas or a
 * worker's OffscreenCanvas): the camera image with its boxes and frame code, or the
 * placeholder pattern; and the ring of recent frame numbers' capture times.
 */
import type { Face } from './detect/detector.js';
import { drawFaces } from './draw.js';
import { FRAME_CODE_MAX, stampFrameCode } from './framecode.js';
import type { FaceTracker } from './tracker.js';

export type Context2D = CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;
export type OverlayMode = 'burned-in' | 'metadata';

/** Frame numbers whose capture time is remembered (about 17 s at 30 fps). */
const CAPTURE_RING = 512;

/**
 * The per-frame bookkeeping of a compositor: frame numbers, the capture time of recent
 * ones, frame counts and the age of the boxes drawn.
 */
export class FrameBook {
  private readonly captureTimes = new Float64Array(CAPTURE_RING).fill(-1);
  private readonly captureFrames = new Int32Array(CAPTURE_RING).fill(-1);
  /** Number of the next frame drawn. */
  frameNo = 0;
  /** Frames drawn (camera or placeholder). */
  outputFrames = 0;
  /** Frames the camera delivered. */
  cameraFrames = 0;
  /** Age of the boxes at draw time: frame ts minus the detection's frame ts (ms), summed over frames. */
  readonly age = { sum: 0, count: 0, max: 0 };

  /** Capture time (performance.now() clock of the page) of a recently drawn frame number, or null. */
  captureTimeOf(frame: number): number | null {
    const i = frame % CAPTURE_RING;
    return this.captureFrames[i] === frame ? this.captureTimes[i]! : null;
  }

  /** Frame `frame` was drawn with capture time `ts`. */
  record(frame: number, ts: number): void {
    const i = frame % CAPTURE_RING;
    this.captureFrames[i] = frame;
    this.captureTimes[i] = ts;
    this.outputFrames++;
  }

  /** The number the next frame gets (and advance). */
  next(): number {
    const n = this.frameNo;
    this.frameNo = (this.frameNo + 1) & FRAME_CODE_MAX;
    return n;
  }

  boxAge(ms: number): void {
    this.age.sum += ms;
    this.age.count++;
    this.age.max = Math.max(this.age.max, ms);
  }
}

export interface PaintOptions {
  mode: OverlayMode;
  stampCodes: boolean;
  /** The boxes for a frame captured at `ts` (the tracker's prediction, or held-back detections). */
  facesAt(ts: number): Face[];
  /** Capture time of the frame the boxes' detection ran on (-1: none). */
  detectionTs: number;
}

/** Boxes from the tracker (the `predict` alignment). */
export function predicted(tracker: FaceTracker): (ts: number) => Face[] {
  return (ts) => tracker.facesAt(ts);
}

/**
 * Draws one camera frame (already scaled to width x height) with its boxes (burned-in
 * mode) and its frame code; returns the faces drawn.
 */
export function paintCameraFrame(ctx: Context2D, image: CanvasImageSource, width: number, height: number, ts: number, book: FrameBook, o: PaintOptions): Face[] {
  ctx.drawImage(image, 0, 0, width, height);
  let drawn: Face[] = [];
  if (o.mode === 'burned-in') {
    drawn = o.facesAt(ts);
    drawFaces(ctx, drawn, width, height);
    if (o.detectionTs >= 0 && drawn.length) book.boxAge(Math.max(0, ts - o.detectionTs));
  }
  finishFrame(ctx, width, height, ts, book, o);
  return drawn;
}

/** Stamps the frame code (metadata mode, or stampCodes) and books the frame. */
export function finishFrame(ctx: Context2D, width: number, height: number, ts: number, book: FrameBook, o: Pick<PaintOptions, 'mode' | 'stampCodes'>): void {
  const frame = book.next();
  if (o.mode === 'metadata' || o.stampCodes) stampFrameCode(ctx, width, height, frame);
  book.record(frame, ts);
}

/** The moving test pattern sent while there is no camera (`t`: seconds since it started). */
export function paintPlaceholder(ctx: Context2D, W: number, H: number, t: number, label: string): void {
  ctx.fillStyle = '#1a1d2e';
  ctx.fillRect(0, 0, W, H);
  const bars = 8;
  const bw = W / bars;
  const shift = (t * 80) % (bw * 2);
  for (let i = -2; i < bars + 2; i++) {
    ctx.fillStyle = i % 2 === 0 ? '#3b4a8c' : '#6b3b8c';
    ctx.fillRect(i * bw + shift, 0, bw / 2, H);
  }
  const cx = W / 2 + Math.cos(t * 1.3) * W * 0.3;
  const cy = H / 2 + Math.sin(t * 1.7) * H * 0.3;
  ctx.fillStyle = '#ffcc33';
  ctx.beginPath();
  ctx.arc(cx, cy, 30, 0, Math.PI * 2);
  ctx.fill();
  ctx.fillStyle = '#ffffff';
  ctx.font = '600 28px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(`facecast — ${label}`, W / 2, H / 2);
  ctx.font = '16px ui-monospace, monospace';
  ctx.fillText(t.toFixed(1) + ' s', W / 2, H / 2 + 34);
  ctx.textAlign = 'start';
}
