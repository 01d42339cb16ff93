/** Messages between the page (worker-composer.ts) and the compose worker (compose-worker.ts). */
import type { Face } from './detect/detector.js';
import type { OverlayMode } from './paint.js';

export type ToCompose =
  /** `mainOrigin`: the page's performance.timeOrigin (every ts in these messages is on the page's clock). */
  | { type: 'init'; canvas: OffscreenCanvas; output: WritableStream<VideoFrame>; mainOrigin: number; mode: OverlayMode; stampCodes: boolean }
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
  /** One frame sent: its number, capture time, the faces drawn, and (after 'want') a copy for the detector. */
  | { type: 'frame'; frame: number; ts: number; camera: boolean; drawn: Face[]; boxAgeMs: number | null; copy?: VideoFrame }
  /** The camera's frames ended (the camera was stopped or replaced). */
  | { type: 'camera-ended' }
  | { type: 'error'; message: string };
