/**
 * The compositor of the capture pipeline, whichever path draws: it turns camera frames
 * (or the placeholder) into the frames that get published, with boxes and frame codes.
 *  - worker (worker-composer.ts): camera track -> MediaStreamTrackProcessor -> a worker
 *    that draws each VideoFrame on an OffscreenCanvas -> MediaStreamTrackGenerator. Every
 *    camera frame is sent with its own timestamp whether the page is shown or not.
 *  - canvas (compositor.ts, the fallback where those APIs are missing): frames drawn on
 *    the page's canvas from requestVideoFrameCallback and sent with canvas.captureStream;
 *    a page that is not shown is throttled to a few frames per second.
 */
import type { Face } from './detect/detector.js';
import type { FrameBook, OverlayMode } from './paint.js';

export type { OverlayMode } from './paint.js';
export type CaptureKind = 'worker' | 'canvas';

/** A camera frame handed to the detector; `release()` once it is read (closes a VideoFrame). */
export interface DetectableFrame {
  image: CanvasImageSource;
  /** Frame number (the frame code in metadata mode). */
  frame: number;
  /** Capture time, performance.now() clock of the page. */
  ts: number;
  release(): void;
}

export interface ComposerHooks {
  /** Is the detector ready for a frame now? */
  wants(): boolean;
  /** A frame for the detector (only while wants() is true). */
  frame(f: DetectableFrame): void;
}

export interface FrameComposer {
  readonly kind: CaptureKind;
  /** What gets published. */
  readonly track: MediaStreamTrack;
  /** Frame numbers, capture times, frame counts and box ages (page clock). */
  readonly book: FrameBook;
  /** Faces drawn on the last frame (burned-in mode). */
  readonly drawnFaces: Face[];
  mode: OverlayMode;
  /** Stamp the frame code in every mode (metadata mode always stamps it). */
  stampCodes: boolean;
  readonly source: 'camera' | 'placeholder' | 'idle';
  /** New detections for the frame captured at `ts`. */
  setDetections(faces: Face[], ts: number): void;
  clearDetections(): void;
  /** Draw `track`'s frames (`video` plays it on the page). */
  useCamera(video: HTMLVideoElement, track: MediaStreamTrack): void;
  /** Animate the test pattern (no camera). */
  startPlaceholder(label?: string): void;
  close(): void;
}
