/**
 * Glass-to-glass latency, live: every outgoing frame carries its frame number
 * as a frame code (web/capture/framecode.ts, stamped by the compositor); this meter reads
 * the code back from each decoded frame of a video (the echo) and takes the
 * time from that frame's capture (the camera frame's captureTime, as the
 * compositor drew it) to the moment the echo frame is shown
 * (requestVideoFrameCallback's expectedDisplayTime). Both on this page's
 * performance.now() clock: no clock sync involved.
 *
 * It covers draw, canvas capture, encode, packetization, the network path (the
 * SFU, or a direct loopback), jitter buffer, decode and compositing for
 * display; not the camera sensor nor the screen's scan-out.
 */
import { FrameCodeReader } from '../capture/framecode.js';

/** Samples kept for the median (about 2 s at 30 fps). */
const WINDOW = 60;

export interface GlassStats {
  /** Median glass-to-glass latency over the last WINDOW frames read (ms), or null. */
  medianMs: number | null;
  /** Frames whose code read back and matched a recent capture. */
  frames: number;
  /** Frames whose code did not read back. */
  unreadable: number;
}

export class GlassMeter {
  readonly stats: GlassStats = { medianMs: null, frames: 0, unreadable: 0 };
  private readonly reader = new FrameCodeReader();
  private readonly recent: number[] = [];
  private handle = 0;
  private video: HTMLVideoElement | null = null;

  constructor(private readonly captureTimeOf: (frame: number) => number | null) {}

  /** Measure the frames `video` shows (call again after its srcObject changes: harmless). */
  start(video: HTMLVideoElement): void {
    if (this.video === video || typeof video.requestVideoFrameCallback !== 'function') return;
    this.stop();
    this.video = video;
    const onFrame = (now: number, md: VideoFrameCallbackMetadata) => {
      if (this.video !== video) return;
      this.handle = video.requestVideoFrameCallback(onFrame);
      this.measure(video, md.width, md.height, md.expectedDisplayTime ?? now);
    };
    this.handle = video.requestVideoFrameCallback(onFrame);
  }

  stop(): void {
    if (this.video && this.handle && typeof this.video.cancelVideoFrameCallback === 'function') this.video.cancelVideoFrameCallback(this.handle);
    this.video = null;
    this.handle = 0;
  }

  private measure(video: HTMLVideoElement, width: number, height: number, shownAt: number): void {
    const code = this.reader.read(video, width, height);
    const captured = code.value === null ? null : this.captureTimeOf(code.value);
    if (captured === null) {
      this.stats.unreadable++;
      return;
    }
    this.stats.frames++;
    this.recent.push(shownAt - captured);
    if (this.recent.length > WINDOW) this.recent.shift();
    const sorted = [...this.recent].sort((a, b) => a - b);
    const m = sorted.length >> 1;
    this.stats.medianMs = Math.round((sorted.length % 2 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2) * 10) / 10;
  }
}
