/**
 * BlazeFace (MediaPipe's short-range face detector, the 256x256 "back" model)
 * through @vladmandic/human 3.3.6, on the tfjs wasm backend. Runs inside the
 * detection worker. Only the face detector runs: mesh, iris, emotion,
 * description, antispoof, liveness, body, hand, object, gesture, segmentation
 * and the image filter are all off.
 *
 * Human's ESM bundle (dist/human.esm.js) embeds tfjs 4.22.0 including
 * tfjs-backend-wasm 4.22.0 (see dist/tfjs.version.js), the same version as the
 * @tensorflow/tfjs-backend-wasm package whose dist/ the server serves at
 * /wasm/tfjs/, so the JS glue and the .wasm binaries match.
 */
import { Human, type Config } from '@vladmandic/human';
import type { DetectorOptions, Face, FaceDetector, Point } from './detector.js';

/** tfjs calls we make through human.tf (typed `any` by human). */
interface TfRuntime {
  setThreadsCount(n: number): void;
  getBackend(): string;
  env(): { set(flag: string, value: boolean | number): void; getAsync(flag: string): Promise<unknown> };
  browser: { fromPixels(px: ImageBitmap | ImageData): TensorLike };
  expandDims(t: TensorLike, axis?: number): TensorLike;
  pad(t: TensorLike, paddings: [number, number][]): TensorLike;
  zeros(shape: number[], dtype?: string): TensorLike;
  dispose(t: TensorLike | TensorLike[]): void;
}
interface TensorLike {
  shape: number[];
  dispose(): void;
}

function absolute(url: string): string {
  return new URL(url, self.location.href).href;
}

/**
 * Box scale relative to BlazeFace's raw box. Human's default (1.4) pads the box
 * for its face-mesh crop; for drawing a face box the raw box fits the face
 * better (mean IoU with the hand labels 0.69 at 1.0, 0.67 at 1.1; docs/DETECTION.md).
 */
const BOX_SCALE = 1.0;

export function createHumanBlazeFace(options: DetectorOptions): FaceDetector {
  const threads = options.threads ?? 0;
  const config: Partial<Config> = {
    backend: 'wasm',
    modelBasePath: absolute(options.modelBaseUrl ?? '/models/human/'),
    wasmPath: absolute(options.wasmBaseUrl ?? '/wasm/tfjs/'),
    wasmPlatformFetch: false,
    cacheModels: false,
    validateModels: false,
    debug: false,
    async: true,
    warmup: 'none',
    skipAllowed: false,
    filter: { enabled: false } as Config['filter'],
    gesture: { enabled: false },
    face: {
      enabled: true,
      detector: {
        modelPath: 'blazeface.json',
        rotation: false,
        maxDetected: 20,
        skipFrames: 0,
        skipTime: 0,
        minConfidence: options.scoreThreshold ?? 0.5,
        iouThreshold: 0.2,
        scale: BOX_SCALE,
        mask: false,
        return: false,
        // Human's own `square` option mis-maps boxes (its "TODO fix this math");
        // detect() pads the frame to a square itself instead.
        square: false,
      } as Config['face']['detector'],
      mesh: { enabled: false },
      attention: { enabled: false },
      iris: { enabled: false },
      emotion: { enabled: false },
      description: { enabled: false },
      antispoof: { enabled: false },
      liveness: { enabled: false },
    } as Config['face'],
    body: { enabled: false } as Config['body'],
    hand: { enabled: false } as Config['hand'],
    object: { enabled: false } as Config['object'],
    segmentation: { enabled: false } as Config['segmentation'],
  };
  const human = new Human(config);
  const tf = human.tf as TfRuntime;
  let backend = 'none';

  return {
    name: 'blazeface',
    get backend() {
      return backend;
    },
    async load() {
      if (threads > 0) tf.setThreadsCount(threads);
      await human.init();
      if (tf.getBackend() !== 'wasm') throw new Error(`tfjs wasm backend failed to initialize (got ${tf.getBackend() || 'none'})`);
      const simd = await tf
        .env()
        .getAsync('WASM_HAS_SIMD_SUPPORT')
        .catch(() => false);
      const mt = await tf
        .env()
        .getAsync('WASM_HAS_MULTITHREAD_SUPPORT')
        .catch(() => false);
      backend = `wasm${simd ? '+simd' : ''}${mt && threads !== 1 ? `+threads(${threads || 'auto'})` : ''}`;
      await human.load();
      // Human logs a failed model fetch and carries on; make it a load error.
      const stat = human.models.stats().modelStats.find((m) => m.name === 'blazeface');
      if (!stat?.loaded) throw new Error(`BlazeFace model did not load from ${config.modelBasePath}blazeface.json`);
      // Warm up: the first inference allocates and is much slower.
      const zeros = tf.zeros([1, 240, 320, 3], 'float32');
      try {
        await human.detect(zeros as never);
      } finally {
        tf.dispose(zeros);
      }
    },
    async detect(bitmap) {
      const { width, height } = bitmap;
      const pixels = tf.browser.fromPixels(bitmap);
      const batch = tf.expandDims(pixels, 0);
      // Pad bottom/right to a square so the 256x256 model input keeps the aspect
      // ratio; box coordinates stay in frame pixels.
      const side = Math.max(width, height);
      const input =
        side === width && side === height
          ? batch
          : tf.pad(batch, [
              [0, 0],
              [0, side - height],
              [0, side - width],
              [0, 0],
            ]);
      let result;
      try {
        result = await human.detect(input as never);
      } finally {
        tf.dispose(input === batch ? [pixels, batch] : [pixels, batch, input]);
      }
      if (result.error) throw new Error(result.error);
      return result.face.map((f): Face => {
        const [bx, by, bw, bh] = f.box;
        const x0 = Math.max(0, bx);
        const y0 = Math.max(0, by);
        const x1 = Math.min(width, bx + bw);
        const y1 = Math.min(height, by + bh);
        const keypoints: Point[] = f.mesh.slice(0, 6).map((p) => ({ x: p[0] / width, y: p[1] / height }));
        return {
          box: { x: x0 / width, y: y0 / height, w: Math.max(0, x1 - x0) / width, h: Math.max(0, y1 - y0) / height },
          score: f.boxScore,
          keypoints,
        };
      });
    },
  };
}
