/** Messages between the page and the detection worker. */
import type { DetectorOptions, Face } from './detector.js';

export type ToWorker =
  | { type: 'init'; detector: string; options: DetectorOptions }
  | { type: 'detect'; id: number; bitmap: ImageBitmap }
  /** Test hook: make the worker throw an uncaught error (exercises restart). */
  | { type: 'crash' };

export type FromWorker =
  | { type: 'ready'; name: string; backend: string; loadMs: number }
  | { type: 'load-error'; name: string; message: string }
  | { type: 'result'; id: number; faces: Face[]; ms: number }
  | { type: 'detect-error'; id: number; message: string };
