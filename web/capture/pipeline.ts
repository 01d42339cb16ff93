/**
 * The capture side both pages share: camera -> compositor (composer.ts: a compose worker
 * fed by MediaStreamTrackProcessor, or the page's canvas where that is missing) -> the
 * track the page publishes; frames go to the detector worker whenever it is idle, and its
 * results back to the compositor. Without a camera the compositor animates a placeholder.
 *
 * URL parameters (read from `params`):
 *   ?capture=worker|canvas (default: worker where the browser has it)
 *   ?align=predict|hold  ?hold=MS (worker path: boxes predicted by the tracker, or the frame held
 *                        back until its detection is in, at most MS; see compose-protocol.ts)
 *   ?detector=<name>|none  ?inputSize=  ?threshold=  ?threads=  ?modelBase=  ?detectDelay=
 */
import type { Alignment } from './compose-protocol.js';
import type { CaptureKind, FrameComposer, OverlayMode } from './composer.js';
import { Compositor } from './compositor.js';
import { DetectorClient, type FrameTag } from './detect/client.js';
import { DEFAULT_DETECTOR, type DetectorOptions, type Face } from './detect/detector.js';
import { DETECTORS, isDetectorName } from './detect/registry.js';
import type { Counters, FacecastStats } from '../stats/stats.js';
import { WorkerComposer, workerCaptureSupported } from './worker-composer.js';

export { OUTPUT_FPS } from './compositor.js';
import { OUTPUT_FPS } from './compositor.js';

export type PipelineStatusKey = 'camera' | 'detector';

export interface PipelineOptions {
  /** Plays the camera (the canvas path draws on its frame callbacks). */
  source: HTMLVideoElement;
  /** Shows the composite (the canvas path also publishes it). */
  canvas: HTMLCanvasElement;
  params: URLSearchParams;
  /** Updated in place: detector, backend, faces. */
  stats: FacecastStats;
  /** Updated in place: detections, detectMsTotal, latencyMsTotal (+ frame counts in syncCounters()). */
  counters: Counters;
  status(key: PipelineStatusKey, text: string | null, error?: boolean): void;
  /** Stats changed between the once-a-second samples (detector ready): render them. */
  render?(): void;
  /** Every detection result, after the compositor has it. */
  onDetection?(faces: Face[], tag: FrameTag, detector: string): void;
  /** Overlay mode of the compositor at start (default burned-in). */
  mode?: OverlayMode;
}

/** The capture path for these URL parameters in this browser (worker unless missing or ?capture=canvas). */
export function captureKind(params: URLSearchParams): CaptureKind {
  return params.get('capture') !== 'canvas' && workerCaptureSupported() ? 'worker' : 'canvas';
}

/**
 * The default alignment of boxes to frames on the worker path (compose-protocol.ts): predict.
 * hold keeps boxes on moving faces better (bench:moving, BlazeFace: IoU >= 0.5 in ~96% of
 * moving face-frames against ~87%) but adds ~100 ms glass-to-glass, and with a slow detector
 * (500 ms a detection) it sent 19 fps of a 27 fps camera in test/e2e/detect-fps: the video
 * itself should never depend on the detector. The canvas path can only predict.
 */
export const DEFAULT_ALIGNMENT: Alignment = 'predict';

export class Pipeline {
  readonly compositor: FrameComposer;
  /** The composite stream and its video track (what gets published). */
  readonly stream: MediaStream;
  readonly track: MediaStreamTrack;
  detector: DetectorClient | null = null;
  detectorName: string;
  /** Latest raw detections (normalized). */
  faces: Face[] = [];
  private started = false;

  constructor(private readonly opts: PipelineOptions) {
    this.detectorName = opts.params.get('detector') || DEFAULT_DETECTOR;
    const hooks = {
      wants: () => this.detector?.idle ?? false,
      frame: ({ image, frame, ts, release }: { image: CanvasImageSource; frame: number; ts: number; release(): void }) => {
        if (this.detector) this.detector.submit(image as ImageBitmapSource, { frame, ts }, release);
        else release();
      },
    };
    const kind = captureKind(opts.params);
    const asked = opts.params.get('align');
    const align: Alignment = kind !== 'worker' ? 'predict' : asked === 'hold' || asked === 'predict' ? asked : DEFAULT_ALIGNMENT;
    const maxHoldMs = Math.min(1000, Math.max(0, this.numberParam('hold') ?? 250));
    this.compositor = kind === 'worker' ? new WorkerComposer(opts.canvas, hooks, (m) => opts.status('camera', m, true), { align, maxHoldMs }) : new Compositor(opts.canvas, hooks);
    opts.stats.capture = kind;
    opts.stats.align = align;
    this.compositor.mode = opts.mode ?? 'burned-in';
    this.compositor.startPlaceholder('starting');
    this.track = this.compositor.track;
    this.stream = new MediaStream([this.track]);
  }

  /** Starts the detector and the camera (once). */
  start(): this {
    if (this.started) return this;
    this.started = true;
    this.detector = this.createDetector();
    if (!this.detector) this.opts.stats.detector = 'none';
    void this.startCamera();
    return this;
  }

  /** New detection results (ts: capture time of their frame), or [] to clear. */
  setFaces(faces: Face[], ts?: number): void {
    if (ts === undefined) this.compositor.clearDetections();
    else this.compositor.setDetections(faces, ts);
    this.faces = faces;
    this.opts.stats.faces = faces.length;
  }

  /** Replaces the detector; false (and an error in the status) for an unknown name. */
  switchDetector(name: string): boolean {
    if (!isDetectorName(name)) {
      this.opts.status('detector', `unknown detector "${name}"`, true);
      return false;
    }
    this.detector?.stop();
    this.detector = null;
    this.detectorName = name;
    this.opts.stats.detector = name;
    this.opts.stats.backend = '';
    this.setFaces([]);
    this.opts.status('detector', null);
    this.detector = this.createDetector();
    return true;
  }

  /** Copies the compositor's frame counters into `counters` (call once per stats sample). */
  syncCounters(): void {
    const { opts } = this;
    const c = this.compositor.book;
    opts.counters.cameraFrames = c.cameraFrames;
    opts.counters.outputFrames = c.outputFrames;
    opts.counters.boxAgeMsTotal = c.age.sum;
    opts.counters.boxAgeFrames = c.age.count;
    opts.stats.boxAgeMaxMs = c.age.count ? Math.round(c.age.max) : null;
    c.age.max = 0;
  }

  private numberParam(name: string): number | undefined {
    const v = this.opts.params.get(name);
    if (v === null || v === '') return undefined;
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }

  private createDetector(): DetectorClient | null {
    const { params, stats, counters, status } = this.opts;
    const detectorName = this.detectorName;
    if (detectorName === 'none') return null;
    const info = DETECTORS[detectorName];
    const options: DetectorOptions = {
      modelBaseUrl: params.get('modelBase') || info?.modelBaseUrl || '/models/',
      wasmBaseUrl: '/wasm/tfjs/',
    };
    const inputSize = this.numberParam('inputSize');
    const threshold = this.numberParam('threshold');
    const threads = this.numberParam('threads');
    const delay = this.numberParam('detectDelay') ?? info?.delayMs;
    if (inputSize !== undefined) options.inputSize = inputSize;
    if (threshold !== undefined) options.scoreThreshold = threshold;
    if (delay !== undefined) options.delayMs = delay;
    // Leave cores for the compositor and the encoder: half of them, 1..4 tfjs threads.
    options.threads = threads ?? Math.max(1, Math.min(4, Math.floor((navigator.hardwareConcurrency || 2) / 2)));

    status('detector', `loading detector ${detectorName}…`);
    const client: DetectorClient = new DetectorClient(detectorName, options, {
      ready: (name, backend, loadMs) => {
        stats.detector = name;
        stats.backend = backend;
        status('detector', null);
        this.opts.render?.();
        console.info(`facecast: detector ${name} ready on ${backend} in ${Math.round(loadMs)} ms`);
      },
      loadError: (name, message) => {
        if (client !== this.detector) return;
        this.setFaces([]);
        status('detector', `face detector ${name} failed to load: ${message} — sending video without boxes`, true);
      },
      faces: (faces, ms, tag) => {
        if (client !== this.detector) return;
        counters.detections++;
        counters.detectMsTotal += ms;
        counters.latencyMsTotal += performance.now() - tag.ts;
        this.setFaces(faces, tag.ts);
        this.opts.onDetection?.(faces, tag, detectorName);
      },
      crash: (message, retryMs) => {
        if (client !== this.detector) return;
        this.setFaces([]);
        status('detector', `detector worker crashed (${message}); restarting in ${(retryMs / 1000).toFixed(1)} s`, true);
      },
    });
    client.start();
    return client;
  }

  /**
   * Opens the camera again (another device, or the same one after it stopped) and draws
   * its frames; the published track stays the same.
   */
  async switchCamera(deviceId?: string): Promise<void> {
    await this.startCamera(deviceId);
  }

  /** Stops the camera, the compositor and the detector. */
  close(): void {
    this.detector?.stop();
    this.detector = null;
    for (const t of this.camera?.getTracks() ?? []) t.stop();
    this.camera = null;
    this.compositor.close();
  }

  private camera: MediaStream | null = null;

  private async startCamera(deviceId?: string): Promise<void> {
    const { status, source } = this.opts;
    const compositor = this.compositor;
    if (!navigator.mediaDevices?.getUserMedia) {
      status('camera', 'no camera API (needs a secure context) — sending a placeholder pattern', true);
      compositor.startPlaceholder('no camera');
      return;
    }
    status('camera', 'waiting for camera…');
    let cam: MediaStream;
    try {
      cam = await navigator.mediaDevices.getUserMedia({
        audio: false,
        video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: OUTPUT_FPS }, ...(deviceId ? { deviceId: { exact: deviceId } } : {}) },
      });
    } catch (err) {
      status('camera', `${describeMediaError(err, 'camera')} — sending a placeholder pattern`, true);
      if (!this.camera) compositor.startPlaceholder('no camera');
      return;
    }
    const previous = this.camera;
    this.camera = cam;
    const [track] = cam.getVideoTracks();
    if (!track) {
      status('camera', 'the camera gave no video track — sending a placeholder pattern', true);
      compositor.startPlaceholder('no camera');
      return;
    }
    track.addEventListener('ended', () => {
      if (this.camera !== cam) return;
      status('camera', 'camera stopped — sending a placeholder pattern', true);
      this.setFaces([]);
      compositor.startPlaceholder('camera stopped');
    });
    source.srcObject = cam;
    try {
      await source.play();
    } catch (err) {
      console.warn('facecast: source.play() failed', err);
    }
    compositor.useCamera(source, track);
    this.setFaces([]);
    for (const t of previous?.getTracks() ?? []) t.stop();
    status('camera', null);
  }
}

/** Creates the pipeline and starts its detector and camera. */
export function startPipeline(opts: PipelineOptions): Pipeline {
  return new Pipeline(opts).start();
}

/** A getUserMedia failure in words ("camera permission denied", "no microphone found", ...). */
export function describeMediaError(err: unknown, device: 'camera' | 'microphone'): string {
  const e = err as DOMException;
  return e.name === 'NotAllowedError' || e.name === 'SecurityError'
    ? `${device} permission denied`
    : e.name === 'NotFoundError' || e.name === 'OverconstrainedError'
      ? `no ${device} found`
      : `${device} unavailable (${e.name}: ${e.message})`;
}
