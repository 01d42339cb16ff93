/**
 * The canvas path of the compositor (the fallback, see composer.ts): draws every camera
 * frame onto the page's canvas, driven by the camera (requestVideoFrameCallback), never
 * by the detector, and publishes canvas.captureStream(). Without a camera it animates a
 * placeholder pattern.
 *
 * Overlay modes:
 *  - burned-in: the tracker's boxes for each frame's capture time are drawn
 *    into the frame (boxes glide between detections, see tracker.ts);
 *  - metadata: the frame stays clean and gets a frame code (framecode.ts) in
 *    its bottom-left corner; detections travel on the data channel instead.
 * Every frame drawn gets the next frame number (24-bit, wrapping). With
 * `stampCodes` the code is stamped in burned-in mode too (the echo page's
 * glass-to-glass meter reads it back, see web/stats/glass.ts).
 */
import type { ComposerHooks, FrameComposer } from './composer.js';
import type { Face } from './detect/detector.js';
import { FrameBook, finishFrame, type OverlayMode, paintCameraFrame, paintPlaceholder, predicted } from './paint.js';
import { FaceTracker } from './tracker.js';

export { BOX_COLOR, BOX_LINE_WIDTH } from './draw.js';
export type { OverlayMode } from './paint.js';
const PLACEHOLDER_FPS = 30;
export const OUTPUT_FPS = 30;

/** A frame's capture time on the performance.now() clock. */
export function frameTimestamp(metadata?: VideoFrameCallbackMetadata): number {
  return metadata?.captureTime ?? metadata?.expectedDisplayTime ?? performance.now();
}

export class Compositor implements FrameComposer {
  readonly kind = 'canvas';
  readonly ctx: CanvasRenderingContext2D;
  readonly track: MediaStreamTrack;
  readonly book = new FrameBook();
  /** Smooths and extrapolates detections between detector results. */
  readonly tracker = new FaceTracker();
  private readonly predict = predicted(this.tracker);
  mode: OverlayMode = 'burned-in';
  stampCodes = false;
  drawnFaces: Face[] = [];
  /** Capture time of the frame the latest detection ran on (-1: none yet). */
  private detectionTs = -1;
  private lastPresented = -1;
  private placeholderTimer: ReturnType<typeof setInterval> | null = null;
  private video: HTMLVideoElement | null = null;
  private rvfcHandle = 0;
  private rafHandle = 0;

  constructor(
    readonly canvas: HTMLCanvasElement,
    private readonly hooks: ComposerHooks,
  ) {
    const ctx = canvas.getContext('2d', { alpha: false });
    if (!ctx) throw new Error('2d canvas context unavailable');
    this.ctx = ctx;
    const [track] = canvas.captureStream(OUTPUT_FPS).getVideoTracks();
    if (!track) throw new Error('canvas.captureStream produced no video track');
    this.track = track;
  }

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

  startPlaceholder(label = 'no camera'): void {
    this.stopCamera();
    if (this.placeholderTimer) return;
    if (this.canvas.width !== 640 || this.canvas.height !== 480) {
      this.canvas.width = 640;
      this.canvas.height = 480;
    }
    const t0 = performance.now();
    this.placeholderTimer = setInterval(() => {
      paintPlaceholder(this.ctx, this.canvas.width, this.canvas.height, (performance.now() - t0) / 1000, label);
      finishFrame(this.ctx, this.canvas.width, this.canvas.height, performance.now(), this.book, this);
    }, 1000 / PLACEHOLDER_FPS);
  }

  useCamera(video: HTMLVideoElement): void {
    this.stopPlaceholder();
    this.stopCamera();
    this.video = video;
    this.lastPresented = -1;
    if (typeof video.requestVideoFrameCallback === 'function') {
      const onFrame = (_now: number, metadata: VideoFrameCallbackMetadata) => {
        if (this.video !== video) return;
        this.rvfcHandle = video.requestVideoFrameCallback(onFrame);
        if (this.lastPresented >= 0) this.book.cameraFrames += Math.max(0, metadata.presentedFrames - this.lastPresented);
        this.lastPresented = metadata.presentedFrames;
        this.drawFrame(video, metadata.width, metadata.height, frameTimestamp(metadata));
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
        this.book.cameraFrames++;
        this.drawFrame(video, video.videoWidth, video.videoHeight, performance.now());
      };
      this.rafHandle = requestAnimationFrame(onRaf);
    }
  }

  close(): void {
    this.stopPlaceholder();
    this.stopCamera();
    this.track.stop();
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

  private drawFrame(video: HTMLVideoElement, width: number, height: number, ts: number): void {
    if (!width || !height) return;
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    const frame = this.book.frameNo;
    this.drawnFaces = paintCameraFrame(this.ctx, video, width, height, ts, this.book, {
      mode: this.mode,
      stampCodes: this.stampCodes,
      facesAt: this.predict,
      detectionTs: this.detectionTs,
    });
    if (this.hooks.wants()) this.hooks.frame({ image: video, frame, ts, release: () => {} });
  }
}
