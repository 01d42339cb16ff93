/**
 * Worker side of the registry: detector name -> factory, loaded on demand with
 * a dynamic import (esbuild splits each detector into its own chunk).
 */
import type { DetectorFactory } from './detector.js';

export const loaders: Readonly<Record<string, () => Promise<DetectorFactory>>> = {
  blazeface: () => import('./human-blazeface.js').then((m) => m.createHumanBlazeFace),
  'tiny-face-detector': () => import('./faceapi-tiny.js').then((m) => m.createTinyFaceDetector),
  // Test-only: BlazeFace with a sleep after each detection (DETECTORS.slow.delayMs).
  slow: () => import('./human-blazeface.js').then((m) => m.createHumanBlazeFace),
};
