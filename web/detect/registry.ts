/**
 * Detector registry: name -> factory. Add new detectors (e.g. BlazeFace via
 * @vladmandic/human) here; the page selects one with `?detector=<name>`.
 */
import type { DetectorFactory } from './detector.js';
import { createTinyFaceDetector } from './faceapi-tiny.js';

export const detectors: Readonly<Record<string, DetectorFactory>> = {
  'tiny-face-detector': createTinyFaceDetector,
};
