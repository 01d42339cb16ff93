/**
 * Page-side handle on the detection worker: feeds it the latest frame only when
 * it is idle, restarts it if it crashes or hangs.
 */
import type { DetectorOptions, Face } from './detector.js';
import type { FromWorker, ToWorker } from './protocol.js';

/** What the page knows about the frame it submitted (handed back with the result). */
export interface FrameTag {
  /** Frame number (the frame code in metadata mode). */
  frame: number;
  /** Capture time of the frame, performance.now() clock. */
  ts: number;
}

export interface DetectorClientEvents {
  ready(name: string, backend: string, loadMs: number): void;
  loadError(name: string, message: string): void;
  /** `ms`: time in the worker; `tag`: the frame the detection ran on. */
  faces(faces: Face[], ms: number, tag: FrameTag): void;
  /** The worker crashed or hung; it will be restarted after `retryMs`. */
  crash(message: string, retryMs: number): void;
}

export type DetectorState = 'loading' | 'ready' | 'failed' | 'restarting' | 'stopped';

/** A detection that takes longer than this is treated as a hung worker. */
const HANG_MS = 15_000;
const MAX_BACKOFF_MS = 30_000;

export class DetectorClient {
  state: DetectorState = 'stopped';
  private worker: Worker | null = null;
  private busySince = 0;
  private nextId = 1;
  private pendingId = 0;
  private pendingTag: FrameTag = { frame: 0, ts: 0 };
  private crashes = 0;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private restartTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    readonly name: string,
    private readonly options: DetectorOptions,
    private readonly events: DetectorClientEvents,
    private readonly workerUrl: URL = new URL('detect-worker.js', import.meta.url),
  ) {}

  start(): void {
    this.spawn();
    this.watchdog ??= setInterval(() => {
      if (this.busySince && performance.now() - this.busySince > HANG_MS) this.crashed('detection timed out');
    }, 1000);
  }

  stop(): void {
    this.state = 'stopped';
    this.worker?.terminate();
    this.worker = null;
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.watchdog = this.restartTimer = null;
  }

  /** True when a frame submitted now would be processed right away. */
  get idle(): boolean {
    return this.state === 'ready' && this.busySince === 0;
  }

  /**
   * Sends a frame if the worker is idle; otherwise drops it (latest frame wins).
   * `release` is called once the frame has been read (or was not taken).
   */
  submit(source: ImageBitmapSource, tag: FrameTag, release: () => void = () => {}): boolean {
    if (!this.idle || !this.worker) {
      release();
      return false;
    }
    const worker = this.worker;
    const id = this.nextId++;
    this.pendingId = id;
    this.pendingTag = tag;
    this.busySince = performance.now();
    createImageBitmap(source).then(
      (bitmap) => {
        release();
        if (worker !== this.worker || this.pendingId !== id) {
          bitmap.close();
          return;
        }
        const msg: ToWorker = { type: 'detect', id, bitmap };
        worker.postMessage(msg, [bitmap]);
      },
      () => {
        release();
        // e.g. the video has no frame yet: just become idle again.
        if (this.pendingId === id) this.busySince = 0;
      },
    );
    return true;
  }

  /** Test hook: makes the worker throw an uncaught error. */
  crashForTest(): void {
    const msg: ToWorker = { type: 'crash' };
    this.worker?.postMessage(msg);
  }

  private spawn(): void {
    this.state = 'loading';
    this.busySince = 0;
    const worker = new Worker(this.workerUrl, { type: 'module', name: `detect-${this.name}` });
    this.worker = worker;
    worker.onmessage = (ev: MessageEvent<FromWorker>) => {
      if (worker === this.worker) this.handle(ev.data);
    };
    worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      if (worker === this.worker) this.crashed(ev.message || 'worker error');
    };
    worker.onmessageerror = () => {
      if (worker === this.worker) this.crashed('worker message could not be deserialized');
    };
    const init: ToWorker = { type: 'init', detector: this.name, options: this.options };
    worker.postMessage(init);
  }

  private handle(msg: FromWorker): void {
    switch (msg.type) {
      case 'ready':
        this.state = 'ready';
        this.events.ready(msg.name, msg.backend, msg.loadMs);
        break;
      case 'load-error':
        this.state = 'failed';
        this.worker?.terminate();
        this.worker = null;
        this.events.loadError(msg.name, msg.message);
        break;
      case 'result':
        if (msg.id !== this.pendingId) return;
        this.busySince = 0;
        this.crashes = 0;
        this.events.faces(msg.faces, msg.ms, this.pendingTag);
        break;
      case 'detect-error':
        if (msg.id !== this.pendingId) return;
        this.busySince = 0;
        console.warn('facecast: detection failed:', msg.message);
        break;
    }
  }

  private crashed(message: string): void {
    if (this.state === 'stopped' || this.state === 'failed') return;
    this.worker?.terminate();
    this.worker = null;
    this.busySince = 0;
    this.state = 'restarting';
    const retryMs = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.crashes);
    this.crashes++;
    this.events.crash(message, retryMs);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.state === 'restarting') this.spawn();
    }, retryMs);
  }
}
