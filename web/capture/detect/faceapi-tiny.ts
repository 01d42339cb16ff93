/**
 * TinyFaceDetector from @vladmandic/face-api (which bundles tfjs 4.22), on the
 * tfjs wasm backend. Runs inside the detection worker.
 */
import * as faceapi from '@vladmandic/face-api';
import { normalizeBox, type DetectorOptions, type Face, type FaceDetector } from './detector.js';

/** The parts of the bundled tfjs runtime we use that face-api's typings leave out. */
interface TfRuntime {
  setWasmPaths(prefix: string): void;
  setThreadsCount(n: number): void;
  setBackend(name: string): Promise<boolean>;
  getBackend(): string;
  ready(): Promise<void>;
  env(): { set(flag: string, value: boolean | number): void };
  zeros(shape: number[], dtype?: string): faceapi.tf.Tensor3D;
}
const tf = faceapi.tf as unknown as TfRuntime & typeof faceapi.tf;

let envPatched = false;

/**
 * face-api only knows "browser with DOM" and "nodejs"; in a worker it has no
 * environment at all. Give it one built on OffscreenCanvas. Input is always a
 * tensor, so Image/Video are never used for real.
 */
function patchWorkerEnv(): void {
  if (envPatched || faceapi.env.isBrowser()) return;
  envPatched = true;
  const unavailable = (what: string) => (): never => {
    throw new Error(`${what} is not available in a worker`);
  };
  class NoElement {}
  faceapi.env.setEnv({
    Canvas: OffscreenCanvas as unknown as typeof HTMLCanvasElement,
    CanvasRenderingContext2D: OffscreenCanvasRenderingContext2D as unknown as typeof CanvasRenderingContext2D,
    Image: NoElement as unknown as typeof HTMLImageElement,
    ImageData,
    Video: NoElement as unknown as typeof HTMLVideoElement,
    createCanvasElement: () => new OffscreenCanvas(1, 1) as unknown as HTMLCanvasElement,
    createImageElement: unavailable('Image'),
    createVideoElement: unavailable('Video'),
    fetch: (url: string, init?: RequestInit) => fetch(url, init),
    readFile: unavailable('readFile'),
  });
}

function absolute(url: string): string {
  return new URL(url, self.location.href).href;
}

async function initBackend(wasmBaseUrl: string, threads: number): Promise<string> {
  if (tf.getBackend() === 'wasm') return 'wasm';
  tf.setWasmPaths(absolute(wasmBaseUrl));
  if (threads > 0) tf.setThreadsCount(threads);
  if (await tf.setBackend('wasm').catch(() => false)) {
    await tf.ready();
    return 'wasm';
  }
  // The threaded build can fail where workers/SharedArrayBuffer are restricted; retry single-threaded.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  if (await tf.setBackend('wasm').catch(() => false)) {
    await tf.ready();
    return 'wasm';
  }
  throw new Error('tfjs wasm backend failed to initialize');
}

export function createTinyFaceDetector(options: DetectorOptions): FaceDetector {
  const inputSize = options.inputSize ?? 416;
  const scoreThreshold = options.scoreThreshold ?? 0.4;
  const modelBaseUrl = options.modelBaseUrl ?? '/models/face-api/';
  const wasmBaseUrl = options.wasmBaseUrl ?? '/wasm/tfjs/';
  const threads = options.threads ?? 0;
  const net = new faceapi.TinyFaceDetector();
  const forward = { inputSize, scoreThreshold };
  let backend = 'none';

  return {
    name: 'tiny-face-detector',
    get backend() {
      return backend;
    },
    async load() {
      patchWorkerEnv();
      backend = await initBackend(wasmBaseUrl, threads);
      await net.loadFromUri(absolute(modelBaseUrl));
      // Warm up: the first inference compiles/allocates and is much slower.
      const zeros = tf.zeros([inputSize, inputSize, 3], 'int32');
      try {
        await net.locateFaces(zeros, forward);
      } finally {
        zeros.dispose();
      }
    },
    async detect(bitmap) {
      const { width, height } = bitmap;
      const input = tf.browser.fromPixels(bitmap);
      let detections: faceapi.FaceDetection[];
      try {
        detections = await net.locateFaces(input, forward);
      } finally {
        input.dispose();
      }
      return detections.map((d): Face => {
        const b = d.box;
        return { box: normalizeBox(b.x, b.y, b.width, b.height, width, height), score: d.score };
      });
    },
  };
}
