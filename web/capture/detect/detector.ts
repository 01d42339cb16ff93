/**
 * The one interface every face detector implements. Detectors run inside the
 * detection Web Worker (web/capture/detect/worker.ts); the page talks to them through
 * DetectorClient (web/capture/detect/client.ts).
 */

/** A point in normalized frame coordinates (0..1, origin top-left). */
export interface Point {
  x: number;
  y: number;
}

/** A face box in normalized frame coordinates (0..1, origin top-left). */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Face {
  box: Box;
  /** Detector confidence, 0..1. */
  score: number;
  /** Optional landmarks (eyes, nose, ...), normalized like `box`. */
  keypoints?: Point[];
}

export interface DetectorOptions {
  /** Network input size in pixels (detector specific; e.g. 320 or 416 for TinyFaceDetector). */
  inputSize?: number;
  /** Minimum score for a face to be reported. */
  scoreThreshold?: number;
  /** URL prefix of the detector's model files (ends with '/'). */
  modelBaseUrl?: string;
  /** URL prefix of the tfjs wasm binaries (ends with '/'). */
  wasmBaseUrl?: string;
  /** tfjs wasm thread count (0 = tfjs default). */
  threads?: number;
  /** Sleep this long after each detection (test-only `slow` detector, `?detectDelay=`). */
  delayMs?: number;
}

export interface FaceDetector {
  /** Registry name, e.g. 'tiny-face-detector'. */
  readonly name: string;
  /** Runtime detail shown in the UI after load, e.g. the tfjs backend. */
  readonly backend: string;
  /** Loads weights and initializes the backend. Rejects if the model cannot be loaded. */
  load(): Promise<void>;
  /** Detects faces in `bitmap`. The detector does NOT close the bitmap; the caller does. */
  detect(bitmap: ImageBitmap): Promise<Face[]>;
}

export type DetectorFactory = (options: DetectorOptions) => FaceDetector;

export const DEFAULT_DETECTOR = 'blazeface';

/** Clamp a pixel-space box to the frame and normalize it. */
export function normalizeBox(x: number, y: number, w: number, h: number, width: number, height: number): Box {
  const x0 = Math.max(0, Math.min(width, x));
  const y0 = Math.max(0, Math.min(height, y));
  const x1 = Math.max(0, Math.min(width, x + w));
  const y1 = Math.max(0, Math.min(height, y + h));
  return { x: x0 / width, y: y0 / height, w: (x1 - x0) / width, h: (y1 - y0) / height };
}
