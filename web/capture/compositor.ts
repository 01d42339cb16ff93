/**
 * Draws every camera frame onto the composite canvas (which is what gets
 * published). Drawing is driven by the camera (requestVideoFrameCallback),
 * never by the detector, so the output frame rate follows the camera. Without
 * a camera it animates a placeholder pattern.
 *
 * Overlay modes:
 *  - burned-in: the tracker's boxes for each frame's capture time are drawn
 *    into the frame (boxes glide between detections, see tracker.ts);
 *  - metadata: the frame stays clean and gets a frame code (framecode.ts) in
 *    its bottom-left corner; detections travel on the data channel instead.
 * Every frame drawn gets the next frame number (24-bit, wrapping). With
 * `stampCodes` the code is stamped in burned-in mode too (the echo page's
 * glass-to-glass meter reads it back, see web/stats/glass.ts); the capture time of each
 * recent frame number is kept for that.
 */
import type { Face } from './detect/detector.js';
import { drawFaces } from './draw.js';
import { FRAME_CODE_MAX, stampFrameCode } from './framecode.js';
import { FaceTracker } from './tracker.js';

export { BOX_COLOR, BOX_LINE_WIDTH } from './draw.js';
const PLACEHOLDER_FPS = 30;
/** Frame numbers whose capture time is remembered (about 17 s at 30 fps). */
const CAPTURE_RING = 512;

export type OverlayMode = 'burned-in' | 'metadata';

export interface FrameInfo {
  /** The video element whose current frame was just drawn. */
  video: HTMLVideoElement;
  /** Metadata from requestVideoFrameCallback when available. */
  metadata?: VideoFrameCallbackMetadata;
  /** Frame number of this frame (stamped into it in metadata mode). */
  frame: number;
  /** Capture time of this frame, ms on the performance.now() clock. */
  ts: number;
}

/** A frame's capture time on the performance.now() clock. */
export function frameTimestamp(metadata?: VideoFrameCallbackMetadata): number {
  return metadata?.captureTime ?? metadata?.expectedDisplayTime ?? performance.now();
}

export class Compositor {
  readonly ctx: CanvasRenderingContext2D;
  /** Smooths and extrapolates detections between detector results. */
  readonly tracker = new FaceTracker();
  mode: OverlayMode = 'burned-in';
  /** Stamp the frame code in every mode (metadata mode always stamps it). */
  stampCodes = false;
  /** Capture times of the last CAPTURE_RING frame numbers (for glass-to-glass). */
  private readonly captureTimes = new Float64Array(CAPTURE_RING).fill(-1);
  private readonly captureFrames = new Int32Array(CAPTURE_RING).fill(-1);
  /** Number of the next frame drawn. */
  frameNo = 0;
  /** Faces drawn on the last frame (burned-in mode). */
  drawnFaces: Face[] = [];
  /** Capture time of the frame the latest detection ran on (-1: none yet). */
  private detectionTs = -1;
  /** Age of the boxes at draw time: frame ts minus the detection's frame ts (ms), summed over frames. */
  readonly age = { sum: 0, count: 0, max: 0 };
  /** Frames drawn onto the canvas (camera or placeholder). */
  outputFrames = 0;
  /** Frames the camera delivered (presentedFrames from rVFC, else frames drawn). */
  cameraFrames = 0;
  private lastPresented = -1;
  private placeholderTimer: ReturnType<typeof setInterval> | null = null;
  private video: HTMLVideoElement | null = null;
  private rvfcHandle = 0;
  private rafHandle = 0;

  constructor(
    readonly canvas: HTMLCanvasElement,
    /** Called after each camera frame is drawn (the page feeds the detector from here). */
    private readonly onCameraFrame: (frame: FrameInfo) => void = () => {},
  ) {
    const ctx = canvas.getContext('2d', { alpha: false });
    if (!ctx) throw new Error('2d canvas context unavailable');
    this.ctx = ctx;
  }

  /** New detections for the frame captured at `ts`. */
  setDetections(faces: Face[], ts: number): void {
    this.tracker.update(faces, ts);
    if (ts > this.detectionTs) this.detectionTs = ts;
  }

  clearDetections(): void {
    this.tracker.clear();
    this.detectionTs = -1;
    this.drawnFaces = [];
  }

  get source(): 'camera' | 'placeholder' | 'idle' {
    return this.video ? 'camera' : this.placeholderTimer ? 'placeholder' : 'idle';
  }

  /** Animates a test pattern (used while there is no camera). */
  startPlaceholder(label = 'no camera'): void {
    this.stopCamera();
    if (this.placeholderTimer) return;
    if (this.canvas.width !== 640 || this.canvas.height !== 480) {
      this.canvas.width = 640;
      this.canvas.height = 480;
    }
    const t0 = performance.now();
    this.placeholderTimer = setInterval(() => {
      this.drawPlaceholder((performance.now() - t0) / 1000, label);
      this.finishFrame(performance.now());
    }, 1000 / PLACEHOLDER_FPS);
  }

  /** Switches to drawing frames of `video` (which must be playing a camera stream). */
  useCamera(video: HTMLVideoElement): void {
    this.stopPlaceholder();
    this.stopCamera();
    this.video = video;
    this.lastPresented = -1;
    if (typeof video.requestVideoFrameCallback === 'function') {
      const onFrame = (_now: number, metadata: VideoFrameCallbackMetadata) => {
        if (this.video !== video) return;
        this.rvfcHandle = video.requestVideoFrameCallback(onFrame);
        if (this.lastPresented >= 0) this.cameraFrames += Math.max(0, metadata.presentedFrames - this.lastPresented);
        this.lastPresented = metadata.presentedFrames;
        const ts = frameTimestamp(metadata);
        const frame = this.frameNo;
        if (this.drawFrame(video, metadata.width, metadata.height, ts)) this.onCameraFrame({ video, metadata, frame, ts });
      };
      this.rvfcHandle = video.requestVideoFrameCallback(onFrame);
    } else {
      // Fallback: draw on every animation frame when the video time moved.
      let lastTime = -1;
      const onRaf = () => {
        if (this.video !== video) return;
        this.rafHandle = requestAnimationFrame(onRaf);
        if (video.currentTime === lastTime || video.readyState < 2) return;
        lastTime = video.currentTime;
        this.cameraFrames++;
        const ts = performance.now();
        const frame = this.frameNo;
        if (this.drawFrame(video, video.videoWidth, video.videoHeight, ts)) this.onCameraFrame({ video, frame, ts });
      };
      this.rafHandle = requestAnimationFrame(onRaf);
    }
  }

  stop(): void {
    this.stopPlaceholder();
    this.stopCamera();
  }

  private stopPlaceholder(): void {
    if (this.placeholderTimer) clearInterval(this.placeholderTimer);
    this.placeholderTimer = null;
  }

  private stopCamera(): void {
    const video = this.video;
    this.video = null;
    if (video && this.rvfcHandle && typeof video.cancelVideoFrameCallback === 'function') video.cancelVideoFrameCallback(this.rvfcHandle);
    if (this.rafHandle) cancelAnimationFrame(this.rafHandle);
    this.rvfcHandle = this.rafHandle = 0;
  }

  private drawFrame(video: HTMLVideoElement, width: number, height: number, ts: number): boolean {
    if (!width || !height) return false;
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    this.ctx.drawImage(video, 0, 0, width, height);
    if (this.mode === 'burned-in') {
      this.drawnFaces = this.tracker.facesAt(ts);
      drawFaces(this.ctx, this.drawnFaces, width, height);
      if (this.detectionTs >= 0 && this.drawnFaces.length) {
        const age = Math.max(0, ts - this.detectionTs);
        this.age.sum += age;
        this.age.count++;
        this.age.max = Math.max(this.age.max, age);
      }
    } else {
      this.drawnFaces = [];
    }
    this.finishFrame(ts);
    return true;
  }

  /** Capture time (performance.now() clock) of a recently drawn frame number, or null. */
  captureTimeOf(frame: number): number | null {
    const i = frame % CAPTURE_RING;
    return this.captureFrames[i] === frame ? this.captureTimes[i]! : null;
  }

  /** Stamps the frame code (metadata mode, or stampCodes) and counts the frame. */
  private finishFrame(ts: number): void {
    if (this.mode === 'metadata' || this.stampCodes) stampFrameCode(this.ctx, this.canvas.width, this.canvas.height, this.frameNo);
    const i = this.frameNo % CAPTURE_RING;
    this.captureFrames[i] = this.frameNo;
    this.captureTimes[i] = ts;
    this.frameNo = (this.frameNo + 1) & FRAME_CODE_MAX;
    this.outputFrames++;
  }

  private drawPlaceholder(t: number, label: string): void {
    const { ctx } = this;
    const W = this.canvas.width;
    const H = this.canvas.height;
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
}
