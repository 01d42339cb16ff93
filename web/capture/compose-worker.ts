/**
 * The compose worker (see composer.ts): reads camera VideoFrames, draws each with its
 * boxes and frame code on an OffscreenCanvas (the page's #composite, transferred) and
 * writes it, with the camera frame's own timestamp, to the MediaStreamTrackGenerator the
 * page publishes. Nothing here waits for the page to render, so a page in the background
 * keeps sending every frame. Boxes: predicted by the tracker, or (`hold`) the detector's own
 * after holding the frame back (compose-protocol.ts, Alignment). Protocol: compose-protocol.ts.
 */
import type { Alignment, FromCompose, ToCompose } from './compose-protocol.js';
import type { Face } from './detect/detector.js';
import { FRAME_CODE_MAX } from './framecode.js';
import { DetectionHistory } from './hold.js';
import { FrameBook, finishFrame, type OverlayMode, paintCameraFrame, paintPlaceholder, predicted } from './paint.js';
import { FaceTracker } from './tracker.js';

interface WorkerScope {
  onmessage: ((ev: MessageEvent<ToCompose>) => void) | null;
  postMessage(message: FromCompose, transfer?: Transferable[]): void;
}
const scope = self as unknown as WorkerScope;
const PLACEHOLDER_FPS = 30;
/** Hold frames only while detections come in: none for this long and frames go out at once. */
const DETECTOR_QUIET_MS = 1000;

let canvas: OffscreenCanvas | null = null;
let ctx: OffscreenCanvasRenderingContext2D | null = null;
let writer: WritableStreamDefaultWriter<VideoFrame> | null = null;
/** Worker clock -> page clock (ms). */
let toPage = 0;
let mode: OverlayMode = 'burned-in';
let stampCodes = false;
const tracker = new FaceTracker();
const predict = predicted(tracker);
const history = new DetectionHistory();
let align: Alignment = 'predict';
let maxHoldMs = 250;
/** Frames held back (hold alignment), oldest first. */
const held: { image: VideoFrame | ImageBitmap; ts: number; timestamp: number; duration: number | null; width: number; height: number }[] = [];
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

/** Draws one camera image with its boxes and sends it (and tells the page). */
function output(
  image: CanvasImageSource,
  ts: number,
  timestamp: number,
  duration: number | null,
  width: number,
  height: number,
  faces: (ts: number) => Face[],
  boxesTs: number,
): void {
  if (!ctx || !canvas) return;
  fit(width, height);
  const number = book.frameNo;
  const ages = book.age.count;
  const ageSum = book.age.sum;
  const drawn = paintCameraFrame(ctx, image, width, height, ts, book, { mode, stampCodes, facesAt: faces, detectionTs: boxesTs });
  book.cameraFrames++;
  const out = new VideoFrame(canvas, { timestamp: timestamp > lastTimestamp ? timestamp : lastTimestamp + 1, ...(duration !== null ? { duration } : {}) });
  send(out);
  const boxAgeMs = book.age.count > ages ? book.age.sum - ageSum : null;
  scope.postMessage({ type: 'frame', frame: number, ts, camera: true, drawn, boxAgeMs });
}

/** After 'want': the frame as it arrived goes to the page for the detector (as number `frame`). */
function offer(frame: VideoFrame, number: number, ts: number): boolean {
  if (!wanted) return false;
  wanted = false;
  scope.postMessage({ type: 'detect-frame', frame: number, ts, copy: frame }, [frame]);
  return true;
}

/** Whether held frames wait for detections now (hold alignment, and the detector is producing). */
function holding(now: number): boolean {
  return align === 'hold' && history.latestTs >= 0 && now - history.latestTs < DETECTOR_QUIET_MS + maxHoldMs;
}

/** Sends the held frames whose detection is in, or that waited long enough (all with `force`). */
function flush(force = false): void {
  const now = pageNow();
  const hold = holding(now);
  while (held.length) {
    const f = held[0]!;
    if (!force && hold && history.latestTs < f.ts && now - f.ts < maxHoldMs) break;
    held.shift();
    const exact = history.facesAt(f.ts);
    output(f.image, f.ts, f.timestamp, f.duration, f.width, f.height, exact ? () => exact : predict, exact ? history.atOrBefore(f.ts) : detectionTs);
    f.image.close();
  }
}

/** The frame's pixels in memory of our own (copyTo), as a VideoFrame; an ImageBitmap where the format does not allow it. */
async function copyFrame(frame: VideoFrame): Promise<VideoFrame | ImageBitmap> {
  if (!frame.format) return createImageBitmap(frame);
  const data = new Uint8Array(frame.allocationSize());
  const layout = await frame.copyTo(data);
  return new VideoFrame(data, {
    format: frame.format,
    codedWidth: frame.codedWidth,
    codedHeight: frame.codedHeight,
    timestamp: frame.timestamp,
    layout,
    ...(frame.visibleRect ? { visibleRect: { x: frame.visibleRect.x, y: frame.visibleRect.y, width: frame.visibleRect.width, height: frame.visibleRect.height } } : {}),
    displayWidth: frame.displayWidth,
    displayHeight: frame.displayHeight,
  });
}

async function composeCamera(frame: VideoFrame): Promise<void> {
  if (!ctx || !canvas) {
    frame.close();
    return;
  }
  const ts = pageNow();
  if (!holding(ts) && !held.length) {
    output(frame, ts, frame.timestamp, frame.duration, frame.displayWidth, frame.displayHeight, predict, detectionTs);
    if (!offer(frame, (book.frameNo - 1) & FRAME_CODE_MAX, ts)) frame.close();
    return;
  }
  // Hold a copy of the pixels (a memory copy; the camera's buffers go back to it at once:
  // holding them stalls the capture), send the original to the detector.
  const number = (book.frameNo + held.length) & FRAME_CODE_MAX;
  const image = await copyFrame(frame);
  held.push({ image, ts, timestamp: frame.timestamp, duration: frame.duration, width: frame.displayWidth, height: frame.displayHeight });
  if (!offer(frame, number, ts)) frame.close();
  flush();
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
      await composeCamera(value);
    }
  } catch (err) {
    if (reader === mine) fail(err);
  }
  if (reader === mine) {
    reader = null;
    flush(true);
    scope.postMessage({ type: 'camera-ended' });
  }
}

function stopPlaceholder(): void {
  if (placeholder) clearInterval(placeholder);
  placeholder = null;
}

function startPlaceholder(label: string): void {
  flush(true);
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
      align = msg.align;
      maxHoldMs = msg.maxHoldMs;
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
      history.add(msg.faces, msg.ts);
      if (msg.ts > detectionTs) detectionTs = msg.ts;
      flush();
      break;
    case 'clear':
      tracker.clear();
      history.clear();
      detectionTs = -1;
      flush(true);
      break;
    case 'want':
      wanted = true;
      break;
    case 'close':
      for (const f of held.splice(0)) f.image.close();
      stopPlaceholder();
      void reader?.cancel().catch(() => undefined);
      reader = null;
      void writer?.close().catch(() => undefined);
      writer = null;
      break;
  }
};
