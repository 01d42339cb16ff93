/**
 * The worker path of the compositor (see composer.ts), page side: hands the camera track's
 * frames (MediaStreamTrackProcessor) and the page's #composite canvas to the compose
 * worker, publishes the MediaStreamTrackGenerator it writes to, and mirrors what the
 * worker reports per frame (frame numbers, capture times, faces drawn) for the stats, the
 * glass-to-glass meter and the detector.
 */
import type { Alignment, FromCompose, ToCompose } from './compose-protocol.js';
import type { ComposerHooks, FrameComposer } from './composer.js';
import type { Face } from './detect/detector.js';
import { FrameBook, type OverlayMode } from './paint.js';

/** Chromium's breakout-box constructors (not in TypeScript's DOM lib). */
interface BreakoutBox {
  MediaStreamTrackProcessor: new (init: { track: MediaStreamTrack; maxBufferSize?: number }) => { readable: ReadableStream<VideoFrame> };
  MediaStreamTrackGenerator: new (init: { kind: 'video' }) => MediaStreamTrack & { writable: WritableStream<VideoFrame> };
}
const breakout = globalThis as unknown as Partial<BreakoutBox>;

/** Can this browser run the worker path? (Chromium: yes; Firefox and Safari: not yet.) */
export function workerCaptureSupported(): boolean {
  if (typeof breakout.MediaStreamTrackProcessor !== 'function' || typeof breakout.MediaStreamTrackGenerator !== 'function') return false;
  if (typeof VideoFrame !== 'function' || typeof OffscreenCanvas !== 'function') return false;
  if (typeof HTMLCanvasElement.prototype.transferControlToOffscreen !== 'function') return false;
  try {
    const rs = new ReadableStream();
    structuredClone(rs, { transfer: [rs] });
    return true;
  } catch {
    return false;
  }
}

export class WorkerComposer implements FrameComposer {
  readonly kind = 'worker';
  readonly track: MediaStreamTrack & { writable: WritableStream<VideoFrame> };
  readonly book = new FrameBook();
  drawnFaces: Face[] = [];
  private readonly worker: Worker;
  private modeValue: OverlayMode = 'burned-in';
  private stampValue = false;
  private state: 'camera' | 'placeholder' | 'idle' = 'idle';
  private wantPending = false;
  private closed = false;

  constructor(
    canvas: HTMLCanvasElement,
    private readonly hooks: ComposerHooks,
    /** Fatal worker errors (the page shows them). */
    private readonly onError: (message: string) => void,
    /** Where the boxes come from (compose-protocol.ts) and the longest a frame is held for them. */
    readonly alignment: { align: Alignment; maxHoldMs: number } = { align: 'predict', maxHoldMs: 250 },
    workerUrl: URL = new URL('compose-worker.js', import.meta.url),
  ) {
    const { MediaStreamTrackGenerator: Generator } = breakout as BreakoutBox;
    this.track = new Generator({ kind: 'video' });
    this.worker = new Worker(workerUrl, { type: 'module', name: 'compose' });
    this.worker.onmessage = (ev: MessageEvent<FromCompose>) => this.handle(ev.data);
    this.worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      this.onError(`compose worker: ${ev.message || 'error'}`);
    };
    const offscreen = canvas.transferControlToOffscreen();
    const writable = this.track.writable;
    this.post({ type: 'init', canvas: offscreen, output: writable, mainOrigin: performance.timeOrigin, mode: this.modeValue, stampCodes: this.stampValue, ...alignment }, [
      offscreen,
      writable,
    ]);
  }

  get mode(): OverlayMode {
    return this.modeValue;
  }
  set mode(m: OverlayMode) {
    this.modeValue = m;
    this.post({ type: 'mode', mode: m, stampCodes: this.stampValue });
  }
  get stampCodes(): boolean {
    return this.stampValue;
  }
  set stampCodes(v: boolean) {
    this.stampValue = v;
    this.post({ type: 'mode', mode: this.modeValue, stampCodes: v });
  }

  get source(): 'camera' | 'placeholder' | 'idle' {
    return this.state;
  }

  setDetections(faces: Face[], ts: number): void {
    this.post({ type: 'detections', faces, ts });
  }

  clearDetections(): void {
    this.drawnFaces = [];
    this.post({ type: 'clear' });
  }

  useCamera(_video: HTMLVideoElement, track: MediaStreamTrack): void {
    const { MediaStreamTrackProcessor: Processor } = breakout as BreakoutBox;
    // A small buffer: a late frame is dropped, not queued behind others.
    const { readable } = new Processor({ track, maxBufferSize: 2 });
    this.state = 'camera';
    this.wantPending = false;
    this.post({ type: 'camera', input: readable }, [readable]);
  }

  startPlaceholder(label = 'no camera'): void {
    this.state = 'placeholder';
    this.post({ type: 'placeholder', label });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.post({ type: 'close' });
    this.track.stop();
    setTimeout(() => this.worker.terminate(), 100);
  }

  private post(msg: ToCompose, transfer: Transferable[] = []): void {
    if (this.closed && msg.type !== 'close') return;
    this.worker.postMessage(msg, transfer);
  }

  private handle(msg: FromCompose): void {
    switch (msg.type) {
      case 'frame': {
        const { book } = this;
        book.frameNo = msg.frame;
        book.record(book.next(), msg.ts);
        if (msg.camera) book.cameraFrames++;
        if (msg.boxAgeMs !== null) book.boxAge(msg.boxAgeMs);
        this.drawnFaces = msg.drawn;
        if (msg.camera && !this.wantPending && this.hooks.wants()) {
          this.wantPending = true;
          this.post({ type: 'want' });
        }
        break;
      }
      case 'detect-frame': {
        const copy = msg.copy;
        this.wantPending = false;
        if (this.hooks.wants()) this.hooks.frame({ image: copy, frame: msg.frame, ts: msg.ts, release: () => copy.close() });
        else copy.close();
        break;
      }
      case 'camera-ended':
        if (this.state === 'camera') this.state = 'idle';
        this.wantPending = false;
        break;
      case 'error':
        this.onError(`compose worker: ${msg.message}`);
        break;
    }
  }
}
