/**
 * Detector registry: the names the page offers (`<select id="detector">`,
 * `?detector=<name>`), with their labels and default model locations. This file
 * is metadata only, so the page can import it; the worker loads the code for
 * one detector lazily (web/capture/detect/loaders.ts), so only that detector's tfjs
 * bundle is fetched.
 */

export interface DetectorInfo {
  /** Shown on screen. */
  label: string;
  /** Default URL prefix of the model files (the server serves these from npm packages). */
  modelBaseUrl: string;
  /** Test-only entries are left out of the page's select unless chosen by URL. */
  testOnly?: boolean;
  /** Extra delay per detection, ms (the test-only `slow` detector). */
  delayMs?: number;
}

export const DETECTORS: Readonly<Record<string, DetectorInfo>> = {
  blazeface: { label: 'BlazeFace (human, wasm)', modelBaseUrl: '/models/human/' },
  'tiny-face-detector': { label: 'TinyFaceDetector (face-api, wasm)', modelBaseUrl: '/models/face-api/' },
  slow: { label: 'BlazeFace + 500 ms sleep (test)', modelBaseUrl: '/models/human/', testOnly: true, delayMs: 500 },
};

export function isDetectorName(name: string): boolean {
  return name === 'none' || Object.hasOwn(DETECTORS, name);
}
