/**
 * Draws every camera frame plus the latest face boxes onto the composite canvas
 * (which is what gets published). Drawing is driven by the camera
 * (requestVideoFrameCallback), never by the detector, so the output frame rate
 * follows the camera. Without a camera it animates a placeholder pattern.
 */
import type { Face } from './detect/detector.js';

export const BOX_COLOR = '#00ff00';
export const BOX_LINE_WIDTH = 4;
const PLACEHOLDER_FPS = 30;

export interface FrameInfo {
  /** The video element whose current frame was just drawn. */
  video: HTMLVideoElement;
  /** Metadata from requestVideoFrameCallback when available. */
  metadata?: VideoFrameCallbackMetadata;
}

export class Compositor {
  readonly ctx: CanvasRenderingContext2D;
  /** Latest detections, normalized to the frame. */
  faces: Face[] = [];
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

  get mode(): 'camera' | 'placeholder' | 'idle' {
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
      this.outputFrames++;
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
        this.drawFrame(video, metadata.width, metadata.height);
        this.onCameraFrame({ video, metadata });
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
        this.drawFrame(video, video.videoWidth, video.videoHeight);
        this.onCameraFrame({ video });
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

  private drawFrame(video: HTMLVideoElement, width: number, height: number): void {
    if (!width || !height) return;
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    this.ctx.drawImage(video, 0, 0, width, height);
    this.drawFaces();
    this.outputFrames++;
  }

  private drawFaces(): void {
    const { ctx } = this;
    const W = this.canvas.width;
    const H = this.canvas.height;
    ctx.save();
    ctx.strokeStyle = BOX_COLOR;
    ctx.fillStyle = BOX_COLOR;
    ctx.lineWidth = BOX_LINE_WIDTH;
    ctx.lineJoin = 'miter';
    ctx.font = '600 14px system-ui, sans-serif';
    ctx.textBaseline = 'bottom';
    for (const face of this.faces) {
      const x = face.box.x * W;
      const y = face.box.y * H;
      const w = face.box.w * W;
      const h = face.box.h * H;
      ctx.strokeRect(Math.round(x), Math.round(y), Math.round(w), Math.round(h));
      const label = face.score.toFixed(2);
      const ty = y > 18 ? y - 4 : y + h + 18;
      ctx.fillText(label, Math.round(x), Math.round(ty));
      if (face.keypoints) {
        for (const p of face.keypoints) ctx.fillRect(Math.round(p.x * W) - 2, Math.round(p.y * H) - 2, 4, 4);
      }
    }
    ctx.restore();
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
