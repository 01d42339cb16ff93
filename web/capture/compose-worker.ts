/**
 * The compose worker (see composer.ts): reads camera VideoFrames, draws each with its
 * boxes and frame code on an OffscreenCanvas (the page's #composite, transferred) and
 * writes it, with the camera frame's own timestamp, to the MediaStreamTrackGenerator the
 * page publishes. Nothing here waits for the page to render, so a page in the background
 * keeps sending every frame. Protocol: compose-protocol.ts.
 */
import type { FromCompose, ToCompose } from './compose-protocol.js';
import type { Face } from './detect/detector.js';
import { FrameBook, finishFrame, type OverlayMode, paintCameraFrame, paintPlaceholder } from './paint.js';
import { FaceTracker } from './tracker.js';

interface WorkerScope {
  onmessage: ((ev: MessageEvent<ToCompose>) => void) | null;
  postMessage(message: FromCompose, transfer?: Transferable[]): void;
}
const scope = self as unknown as WorkerScope;
const PLACEHOLDER_FPS = 30;

let canvas: OffscreenCanvas | null = null;
let ctx: OffscreenCanvasRenderingContext2D | null = null;
let writer: WritableStreamDefaultWriter<VideoFrame> | null = null;
/** Worker clock -> page clock (ms). */
let toPage = 0;
let mode: OverlayMode = 'burned-in';
let stampCodes = false;
const tracker = new FaceTracker();
const book = new FrameBook();
let detectionTs = -1;
let wanted = false;
/** The camera being read (a new one cancels the old). */
let reader: ReadableStreamDefaultReader<VideoFrame> | null = null;
let placeholder: ReturnType<typeof setInterval> | null = null;
/** Last output timestamp (µs): output stays monotonic across camera and placeholder. */
let lastTimestamp = -1;

const pageNow = () => performance.now() + toPage;

function fail(err: unknown): void {
  scope.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) });
}

function send(frame: VideoFrame): void {
  lastTimestamp = frame.timestamp;
  // write() resolves when the generator took the frame; a failed write means the track ended.
  writer?.write(frame).catch((err: unknown) => {
    frame.close();
    fail(err);
  });
}

function fit(width: number, height: number): void {
  if (!canvas) return;
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
}

function composeCamera(frame: VideoFrame): void {
  if (!ctx || !canvas) {
    frame.close();
    return;
  }
  const ts = pageNow();
  const width = frame.displayWidth;
  const height = frame.displayHeight;
  fit(width, height);
  const number = book.frameNo;
  const ages = book.age.count;
  const ageSum = book.age.sum;
  const drawn: Face[] = paintCameraFrame(ctx, frame, width, height, ts, book, { mode, stampCodes, tracker, detectionTs });
  book.cameraFrames++;
  const timestamp = frame.timestamp > lastTimestamp ? frame.timestamp : lastTimestamp + 1;
  const out = new VideoFrame(canvas, { timestamp, ...(frame.duration !== null ? { duration: frame.duration } : {}) });
  const boxAgeMs = book.age.count > ages ? book.age.sum - ageSum : null;
  let copy: VideoFrame | undefined;
  if (wanted) {
    wanted = false;
    copy = frame;
  } else frame.close();
  send(out);
  scope.postMessage({ type: 'frame', frame: number, ts, camera: true, drawn, boxAgeMs, ...(copy ? { copy } : {}) }, copy ? [copy] : []);
}

async function readCamera(input: ReadableStream<VideoFrame>): Promise<void> {
  const previous = reader;
  const mine = input.getReader();
  reader = mine;
  stopPlaceholder();
  await previous?.cancel().catch(() => undefined);
  try {
    for (;;) {
      const { value, done } = await mine.read();
      if (done || reader !== mine) {
        value?.close();
        break;
      }
      composeCamera(value);
    }
  } catch (err) {
    if (reader === mine) fail(err);
  }
  if (reader === mine) {
    reader = null;
    scope.postMessage({ type: 'camera-ended' });
  }
}

function stopPlaceholder(): void {
  if (placeholder) clearInterval(placeholder);
  placeholder = null;
}

function startPlaceholder(label: string): void {
  if (reader) {
    const r = reader;
    reader = null;
    void r.cancel().catch(() => undefined);
  }
  stopPlaceholder();
  fit(640, 480);
  const t0 = performance.now();
  placeholder = setInterval(() => {
    if (!ctx || !canvas) return;
    const ts = pageNow();
    paintPlaceholder(ctx, canvas.width, canvas.height, (performance.now() - t0) / 1000, label);
    const number = book.frameNo;
    finishFrame(ctx, canvas.width, canvas.height, ts, book, { mode, stampCodes });
    const timestamp = Math.max(Math.round(performance.now() * 1000), lastTimestamp + 1);
    send(new VideoFrame(canvas, { timestamp }));
    scope.postMessage({ type: 'frame', frame: number, ts, camera: false, drawn: [], boxAgeMs: null });
  }, 1000 / PLACEHOLDER_FPS);
}

scope.onmessage = (ev: MessageEvent<ToCompose>) => {
  const msg = ev.data;
  switch (msg.type) {
    case 'init':
      canvas = msg.canvas;
      ctx = canvas.getContext('2d', { alpha: false });
      if (!ctx) fail(new Error('2d OffscreenCanvas context unavailable'));
      writer = msg.output.getWriter();
      toPage = performance.timeOrigin - msg.mainOrigin;
      mode = msg.mode;
      stampCodes = msg.stampCodes;
      break;
    case 'camera':
      void readCamera(msg.input);
      break;
    case 'placeholder':
      startPlaceholder(msg.label);
      break;
    case 'mode':
      mode = msg.mode;
      stampCodes = msg.stampCodes;
      break;
    case 'detections':
      tracker.update(msg.faces, msg.ts);
      if (msg.ts > detectionTs) detectionTs = msg.ts;
      break;
    case 'clear':
      tracker.clear();
      detectionTs = -1;
      break;
    case 'want':
      wanted = true;
      break;
    case 'close':
      stopPlaceholder();
      void reader?.cancel().catch(() => undefined);
      reader = null;
      void writer?.close().catch(() => undefined);
      writer = null;
      break;
  }
};
