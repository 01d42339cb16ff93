/**
 * Detection worker. Protocol: web/capture/detect/protocol.ts.
 * The page sends one frame at a time (only when idle), as a transferred ImageBitmap.
 */
import type { FaceDetector } from './detector.js';
import type { FromWorker, ToWorker } from './protocol.js';
import { loaders } from './loaders.js';

/** The slice of DedicatedWorkerGlobalScope we use (the web tsconfig has the DOM lib, not WebWorker). */
interface WorkerScope {
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
}
const scope = self as unknown as WorkerScope;

let detector: FaceDetector | null = null;
let loading: Promise<void> | null = null;
let delayMs = 0;

function post(msg: FromWorker): void {
  scope.postMessage(msg);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function init(name: string, options: Extract<ToWorker, { type: 'init' }>['options']): Promise<void> {
  const loader = Object.hasOwn(loaders, name) ? loaders[name] : undefined;
  if (!loader) {
    post({ type: 'load-error', name, message: `unknown detector "${name}" (known: ${Object.keys(loaders).join(', ')})` });
    return;
  }
  const t0 = performance.now();
  try {
    const factory = await loader();
    const d = factory(options);
    await d.load();
    detector = d;
    delayMs = Math.max(0, options.delayMs ?? 0);
    post({ type: 'ready', name, backend: d.backend, loadMs: performance.now() - t0 });
  } catch (err) {
    post({ type: 'load-error', name, message: errorText(err) });
  }
}

async function detect(id: number, bitmap: ImageBitmap): Promise<void> {
  try {
    if (loading) await loading;
    if (!detector) throw new Error('detector not loaded');
    const t0 = performance.now();
    const faces = await detector.detect(bitmap);
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    post({ type: 'result', id, faces, ms: performance.now() - t0 });
  } catch (err) {
    post({ type: 'detect-error', id, message: errorText(err) });
  } finally {
    bitmap.close();
  }
}

scope.onmessage = (ev) => {
  const msg = ev.data;
  switch (msg.type) {
    case 'init':
      loading = init(msg.detector, msg.options);
      break;
    case 'detect':
      void detect(msg.id, msg.bitmap);
      break;
    case 'crash':
      setTimeout(() => {
        throw new Error('crash requested');
      });
      break;
  }
};
