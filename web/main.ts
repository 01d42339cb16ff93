/**
 * facecast browser app: camera -> face detection (worker) -> composite canvas
 * -> WebRTC to the SFU -> echo video (+ overlay canvas in metadata mode).
 *
 * URL parameters:
 *   ?detector=<name>|none   detector from web/detect/registry.ts (default blazeface)
 *   ?overlay=burned-in|metadata   boxes drawn into the sent video (default), or
 *                           sent as FacesUp on the data channel, frame-coded video
 *   ?inputSize=416          detector input size (tiny-face-detector)
 *   ?threshold=0.5          detector score threshold
 *   ?threads=N              tfjs wasm threads (default: half the cores, 1..4)
 *   ?modelBase=/path/       override the detector's model URL prefix (tests: a missing dir)
 *   ?detectDelay=MS         sleep MS after each detection (tests; `?detector=slow` = 500)
 *   ?relay=local            metadata mode: feed our own FacesUp to the echo overlay
 *                           directly, as if the SFU had relayed them (testing/debugging)
 */
import type { ServerMessage } from '../src/protocol/messages.js';
import { Compositor, type OverlayMode } from './compositor.js';
import { DetectorClient } from './detect/client.js';
import { DEFAULT_DETECTOR, type DetectorOptions, type Face } from './detect/detector.js';
import { DETECTORS, isDetectorName } from './detect/registry.js';
import { EchoOverlay, FacesSender, parseFacesDown, toFacesUp, type EchoOverlayStats, type FacesUp } from './metadata.js';
import { Publisher } from './publish.js';
import { Signaling } from './signaling.js';
import { StatsSampler, renderStats, type Counters, type FacecastStats } from './stats.js';

const OUTPUT_FPS = 30;

export interface FacecastDebug {
  stats: FacecastStats;
  /** Latest raw detections (normalized). */
  faces: Face[];
  /** Boxes drawn on the last composite frame (burned-in mode; tracked/smoothed). */
  drawnFaces(): Face[];
  /** Overlay mode in force. */
  overlay(): OverlayMode;
  setOverlay(mode: OverlayMode): void;
  setDetector(name: string): void;
  /** Echo overlay (metadata mode) counters. */
  echoOverlay(): EchoOverlayStats;
  /** The last FacesUp messages sent on the data channel. */
  sentFaces(): FacesUp[];
  /** Frame number the compositor will give the next frame. */
  frameNo(): number;
  /** Cumulative frame and detection counts (tests compute their own rates). */
  debugCounters(): { cameraFrames: number; outputFrames: number; detections: number };
  pc: RTCPeerConnection | null;
  status: string;
  errors: string[];
  /** Detector worker state: loading | ready | failed | restarting | stopped | none. */
  detectorState(): string;
  /** Test hook: crash the detector worker (it is restarted automatically). */
  crashDetector(): void;
}

declare global {
  interface Window {
    facecast: FacecastDebug;
  }
}

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from the page`);
  return el as T;
}

// ---- status line ---------------------------------------------------------

type StatusKey = 'camera' | 'detector' | 'signaling' | 'server' | 'connection';
const statusParts = new Map<StatusKey, { text: string; error: boolean }>();

function setStatus(key: StatusKey, text: string | null, error = false): void {
  if (text === null) statusParts.delete(key);
  else statusParts.set(key, { text, error });
  if (error && text) {
    console.warn(`facecast: ${text}`);
    facecast.errors.push(text);
  }
  const order: StatusKey[] = ['server', 'camera', 'detector', 'signaling', 'connection'];
  const parts = order.flatMap((k) => {
    const p = statusParts.get(k);
    return p ? [p] : [];
  });
  // Errors first.
  parts.sort((a, b) => Number(b.error) - Number(a.error));
  const line = parts.map((p) => p.text).join(' · ') || 'ok';
  const el = $('status');
  el.textContent = line;
  el.classList.toggle('error', parts.some((p) => p.error));
  facecast.status = line;
}

// ---- state ---------------------------------------------------------------

const params = new URLSearchParams(location.search);
let detectorName = params.get('detector') || DEFAULT_DETECTOR;
const overlayParam = params.get('overlay');
let overlayMode: OverlayMode = overlayParam === 'metadata' ? 'metadata' : 'burned-in';
const relayLocal = params.get('relay') === 'local';

const stats: FacecastStats = {
  cameraFps: 0,
  outputFps: 0,
  detectFps: 0,
  detectMs: null,
  echoFps: 0,
  bitrateKbps: 0,
  rttMs: null,
  connection: 'not started',
  detector: detectorName,
  overlay: overlayMode,
  backend: '',
  sentFps: null,
  sentSize: null,
  qualityLimitation: null,
  availableKbps: null,
  echoDecodedFps: null,
  faces: 0,
  detectLatencyMs: null,
  boxAgeMs: null,
  boxAgeMaxMs: null,
  echoCodeFps: null,
};
const facecast: FacecastDebug = {
  stats,
  faces: [],
  drawnFaces: () => compositor.drawnFaces,
  overlay: () => overlayMode,
  setOverlay: (m) => setOverlay(m),
  setDetector: (n) => switchDetector(n),
  echoOverlay: () => echoOverlay.stats,
  sentFaces: () => [...facesSender.recent],
  frameNo: () => compositor.frameNo,
  debugCounters: () => ({ cameraFrames: compositor.cameraFrames, outputFrames: compositor.outputFrames, detections: counters.detections }),
  pc: null,
  status: '',
  errors: [],
  detectorState: () => detector?.state ?? 'none',
  crashDetector: () => detector?.crashForTest(),
};
window.facecast = facecast;

const counters: Counters = {
  cameraFrames: 0,
  outputFrames: 0,
  detections: 0,
  detectMsTotal: 0,
  echoFrames: 0,
  latencyMsTotal: 0,
  boxAgeMsTotal: 0,
  boxAgeFrames: 0,
  echoCodes: 0,
};

/** New detection results (ts: capture time of their frame), or [] to clear. */
function setFaces(faces: Face[], ts?: number): void {
  if (ts === undefined) compositor.clearDetections();
  else compositor.setDetections(faces, ts);
  facecast.faces = faces;
  stats.faces = faces.length;
}

// ---- detector ------------------------------------------------------------

function numberParam(name: string): number | undefined {
  const v = params.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function createDetector(): DetectorClient | null {
  if (detectorName === 'none') return null;
  const info = DETECTORS[detectorName];
  const options: DetectorOptions = {
    modelBaseUrl: params.get('modelBase') || info?.modelBaseUrl || '/models/',
    wasmBaseUrl: '/wasm/tfjs/',
  };
  const inputSize = numberParam('inputSize');
  const threshold = numberParam('threshold');
  const threads = numberParam('threads');
  const delay = numberParam('detectDelay') ?? info?.delayMs;
  if (inputSize !== undefined) options.inputSize = inputSize;
  if (threshold !== undefined) options.scoreThreshold = threshold;
  if (delay !== undefined) options.delayMs = delay;
  // Leave cores for the compositor and the encoder: half of them, 1..4 tfjs threads.
  options.threads = threads ?? Math.max(1, Math.min(4, Math.floor((navigator.hardwareConcurrency || 2) / 2)));

  setStatus('detector', `loading detector ${detectorName}…`);
  const client: DetectorClient = new DetectorClient(detectorName, options, {
    ready(name, backend, loadMs) {
      stats.detector = name;
      stats.backend = backend;
      setStatus('detector', null);
      renderStats(stats);
      console.info(`facecast: detector ${name} ready on ${backend} in ${Math.round(loadMs)} ms`);
    },
    loadError(name, message) {
      if (client !== detector) return;
      setFaces([]);
      setStatus('detector', `face detector ${name} failed to load: ${message} — sending video without boxes`, true);
    },
    faces(faces, ms, tag) {
      if (client !== detector) return;
      counters.detections++;
      counters.detectMsTotal += ms;
      counters.latencyMsTotal += performance.now() - tag.ts;
      setFaces(faces, tag.ts);
      if (overlayMode === 'metadata') {
        const msg = toFacesUp(faces, tag.frame, tag.ts, detectorName);
        facesSender.send(msg);
        if (relayLocal) echoOverlay.push(msg);
      }
    },
    crash(message, retryMs) {
      if (client !== detector) return;
      setFaces([]);
      setStatus('detector', `detector worker crashed (${message}); restarting in ${(retryMs / 1000).toFixed(1)} s`, true);
    },
  });
  client.start();
  return client;
}

// ---- compositor + camera -------------------------------------------------

const source = $<HTMLVideoElement>('source');
const echo = $<HTMLVideoElement>('echo');
const canvas = $<HTMLCanvasElement>('composite');

const echoCanvas = $<HTMLCanvasElement>('echo-overlay');

let detector: DetectorClient | null = null;
const compositor = new Compositor(canvas, ({ video, frame, ts }) => {
  detector?.submit(video, { frame, ts });
});
compositor.mode = overlayMode;
const echoOverlay = new EchoOverlay(echo, echoCanvas);
echoOverlay.enabled = overlayMode === 'metadata';
const facesSender = new FacesSender(() => publisher?.channel ?? null);

// ---- page controls -------------------------------------------------------

function replaceParam(name: string, value: string): void {
  const url = new URL(location.href);
  url.searchParams.set(name, value);
  history.replaceState(null, '', url);
}

function showChoice(): void {
  const info = DETECTORS[detectorName];
  $('detector-label').textContent = `${detectorName === 'none' ? 'no detector' : (info?.label ?? detectorName)} · ${overlayMode}`;
  $('echo-caption').textContent = overlayMode === 'metadata' ? 'echo (from SFU) + overlay from metadata' : 'echo (from SFU)';
}

function switchDetector(name: string): void {
  if (!isDetectorName(name)) {
    setStatus('detector', `unknown detector "${name}"`, true);
    return;
  }
  detector?.stop();
  detector = null;
  detectorName = name;
  stats.detector = name;
  stats.backend = '';
  setFaces([]);
  setStatus('detector', null);
  replaceParam('detector', name);
  const select = $<HTMLSelectElement>('detector');
  if (select.value !== name) select.value = name;
  detector = createDetector();
  showChoice();
  renderStats(stats);
}

function setOverlay(mode: OverlayMode): void {
  overlayMode = mode;
  compositor.mode = mode;
  stats.overlay = mode;
  echoOverlay.enabled = mode === 'metadata';
  echoOverlay.clear();
  replaceParam('overlay', mode);
  const select = $<HTMLSelectElement>('overlay');
  if (select.value !== mode) select.value = mode;
  showChoice();
  renderStats(stats);
}

function setupControls(): void {
  const select = $<HTMLSelectElement>('detector');
  const names = Object.keys(DETECTORS).filter((n) => !DETECTORS[n]!.testOnly || n === detectorName);
  if (!isDetectorName(detectorName)) names.push(detectorName); // shown, fails to load with a message
  for (const n of [...names, 'none']) {
    const opt = document.createElement('option');
    opt.value = n;
    opt.textContent = n === 'none' ? 'none (no detection)' : (DETECTORS[n]?.label ?? n);
    select.append(opt);
  }
  select.value = detectorName;
  select.addEventListener('change', () => switchDetector(select.value));
  const overlay = $<HTMLSelectElement>('overlay');
  overlay.value = overlayMode;
  overlay.addEventListener('change', () => setOverlay(overlay.value === 'metadata' ? 'metadata' : 'burned-in'));
  showChoice();
}

async function startCamera(): Promise<void> {
  if (!navigator.mediaDevices?.getUserMedia) {
    setStatus('camera', 'no camera API (needs a secure context) — sending a placeholder pattern', true);
    compositor.startPlaceholder('no camera');
    return;
  }
  setStatus('camera', 'waiting for camera…');
  let cam: MediaStream;
  try {
    cam = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: OUTPUT_FPS } },
    });
  } catch (err) {
    const e = err as DOMException;
    const why =
      e.name === 'NotAllowedError' || e.name === 'SecurityError'
        ? 'camera permission denied'
        : e.name === 'NotFoundError' || e.name === 'OverconstrainedError'
          ? 'no camera found'
          : `camera unavailable (${e.name}: ${e.message})`;
    setStatus('camera', `${why} — sending a placeholder pattern`, true);
    compositor.startPlaceholder('no camera');
    return;
  }
  const [track] = cam.getVideoTracks();
  track?.addEventListener('ended', () => {
    setStatus('camera', 'camera stopped — sending a placeholder pattern', true);
    setFaces([]);
    compositor.startPlaceholder('camera stopped');
  });
  source.srcObject = cam;
  try {
    await source.play();
  } catch (err) {
    console.warn('facecast: source.play() failed', err);
  }
  compositor.useCamera(source);
  setStatus('camera', null);
}

// ---- echo fps ------------------------------------------------------------

function countEchoFrames(): void {
  if (typeof echo.requestVideoFrameCallback !== 'function') return;
  let last = -1;
  const onFrame = (_now: number, md: VideoFrameCallbackMetadata) => {
    if (last >= 0) counters.echoFrames += Math.max(0, md.presentedFrames - last);
    last = md.presentedFrames;
    echo.requestVideoFrameCallback(onFrame);
  };
  echo.requestVideoFrameCallback(onFrame);
}

// ---- signaling + WebRTC --------------------------------------------------

let publisher: Publisher | null = null;
const early: ServerMessage[] = [];

function startSignaling(stream: MediaStream, track: MediaStreamTrack): void {
  setStatus('signaling', 'connecting to server…');
  const signaling = new Signaling({
    open() {
      setStatus('signaling', 'waiting for welcome…');
    },
    message(msg) {
      switch (msg.type) {
        case 'welcome': {
          if (publisher) return;
          setStatus('signaling', null);
          // The server's --ice-server list (empty by default: host candidates only).
          const iceServers: RTCIceServer[] = msg.iceServers;
          setStatus('connection', 'connecting…');
          publisher = startPublisher(signaling, stream, track, iceServers);
          for (const m of early.splice(0)) route(m);
          break;
        }
        case 'error':
          setStatus('server', `server error ${msg.code}: ${msg.message}`, true);
          break;
        default:
          route(msg);
      }
    },
    invalid(reason) {
      setStatus('server', `bad message from server: ${reason}`, true);
    },
    close(code, reason) {
      setStatus('signaling', `signaling connection closed (${code}${reason ? ` ${reason}` : ''})`, true);
    },
  });
}

function route(msg: ServerMessage): void {
  if (msg.type !== 'offer' && msg.type !== 'answer' && msg.type !== 'ice') return;
  if (!publisher) {
    early.push(msg);
    return;
  }
  void publisher.handle(msg);
}

function startPublisher(
  signaling: Signaling,
  stream: MediaStream,
  track: MediaStreamTrack,
  iceServers: RTCIceServer[],
): Publisher {
  const p = new Publisher({
    track,
    stream,
    iceServers,
    send: (m) => signaling.send(m),
    onTrack(remote) {
      if (echo.srcObject !== remote) {
        echo.srcObject = remote;
        echo.play().catch(() => {});
      }
    },
    onConnectionState(state) {
      stats.connection = state;
      if (state === 'failed') setStatus('connection', 'WebRTC connection failed', true);
      else if (state === 'disconnected') setStatus('connection', 'WebRTC connection interrupted…', true);
      else if (state === 'connected') setStatus('connection', null);
      renderStats(stats);
    },
    onError(context, err) {
      const text = err instanceof Error ? err.message : String(err);
      setStatus('connection', `WebRTC ${context} failed: ${text}`, true);
    },
    onData(data) {
      const msg = parseFacesDown(data);
      if (msg && !relayLocal) echoOverlay.push(msg);
    },
  });
  facecast.pc = p.pc;
  stats.connection = p.pc.connectionState;
  return p;
}

// ---- boot ----------------------------------------------------------------

function main(): void {
  compositor.startPlaceholder('starting');
  const stream = canvas.captureStream(OUTPUT_FPS);
  const [track] = stream.getVideoTracks();
  if (!track) throw new Error('canvas.captureStream produced no video track');

  setupControls();
  detector = createDetector();
  if (!detector) stats.detector = 'none';
  void startCamera();
  countEchoFrames();
  echoOverlay.start();
  startSignaling(stream, track);

  const sampler = new StatsSampler(stats);
  setInterval(() => {
    counters.cameraFrames = compositor.cameraFrames;
    counters.outputFrames = compositor.outputFrames;
    counters.boxAgeMsTotal = compositor.age.sum;
    counters.boxAgeFrames = compositor.age.count;
    counters.echoCodes = echoOverlay.stats.codes;
    stats.boxAgeMaxMs = compositor.age.count ? Math.round(compositor.age.max) : null;
    compositor.age.max = 0;
    sampler.sampleCounters(counters);
    sampler
      .sampleRtc(publisher?.pc ?? null)
      .catch(() => {})
      .finally(() => renderStats(stats));
  }, 1000);
  renderStats(stats);
}

try {
  main();
} catch (err) {
  setStatus('server', `facecast failed to start: ${err instanceof Error ? err.message : String(err)}`, true);
  throw err;
}
