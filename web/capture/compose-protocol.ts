/** Messages between the page (worker-composer.ts) and the compose worker (compose-worker.ts). */
import type { Face } from './detect/detector.js';
import type { OverlayMode } from './paint.js';

/**
 * Where the boxes of a frame come from: `predict` draws the tracker's estimate for the
 * frame's capture time (no added latency); `hold` holds each frame back until the
 * detection of that frame or a later one is in (at most `maxHoldMs`), then draws the
 * detector's own boxes (exact on analysed frames, interpolated between them).
 */
export type Alignment = 'predict' | 'hold';

export type ToCompose =
  /** `mainOrigin`: the page's performance.timeOrigin (every ts in these messages is on the page's clock). */
  | {
      type: 'init';
      canvas: OffscreenCanvas;
      output: WritableStream<VideoFrame>;
      mainOrigin: number;
      mode: OverlayMode;
      stampCodes: boolean;
      align: Alignment;
      maxHoldMs: number;
    }
  /** Draw these camera frames from now on (replaces any earlier camera). */
  | { type: 'camera'; input: ReadableStream<VideoFrame> }
  | { type: 'placeholder'; label: string }
  | { type: 'mode'; mode: OverlayMode; stampCodes: boolean }
  | { type: 'detections'; faces: Face[]; ts: number }
  | { type: 'clear' }
  /** Send a copy of the next camera frame (for the detector). */
  | { type: 'want' }
  | { type: 'close' };

export type FromCompose =
  /** One frame sent: its number, capture time and the faces drawn. */
  | { type: 'frame'; frame: number; ts: number; camera: boolean; drawn: Face[]; boxAgeMs: number | null }
  /** After 'want': a copy of a camera frame as it arrived, for the detector. */
  | { type: 'detect-frame'; frame: number; ts: number; copy: VideoFrame }
  /** The camera's frames ended (the camera was stopped or replaced). */
  | { type: 'camera-ended' }
  | { type: 'error'; message: string };
