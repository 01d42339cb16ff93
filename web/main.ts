/**
 * facecast browser app: camera -> face detection (worker) -> composite canvas
 * -> WebRTC to the SFU -> echo video.
 *
 * URL parameters:
 *   ?detector=<name>|none   detector from web/detect/registry.ts (default tiny-face-detector)
 *   ?inputSize=416          detector input size
 *   ?threshold=0.4          detector score threshold
 *   ?threads=N              tfjs wasm threads (default: half the cores, 1..4)
 */
import type { ServerMessage } from '../src/protocol/messages.js';
import { Compositor } from './compositor.js';
import { DetectorClient } from './detect/client.js';
import { DEFAULT_DETECTOR, type DetectorOptions, type Face } from './detect/detector.js';
import { Publisher } from './publish.js';
import { Signaling } from './signaling.js';
import { StatsSampler, renderStats, type Counters, type FacecastStats } from './stats.js';

const OUTPUT_FPS = 30;

export interface FacecastDebug {
  stats: FacecastStats;
  faces: Face[];
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
const detectorName = params.get('detector') || DEFAULT_DETECTOR;

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
  backend: '',
  sentFps: null,
  sentSize: null,
  qualityLimitation: null,
  availableKbps: null,
  echoDecodedFps: null,
  faces: 0,
};
const facecast: FacecastDebug = {
  stats,
  faces: [],
  pc: null,
  status: '',
  errors: [],
  detectorState: () => detector?.state ?? 'none',
  crashDetector: () => detector?.crashForTest(),
};
window.facecast = facecast;

const counters: Counters = { cameraFrames: 0, outputFrames: 0, detections: 0, detectMsTotal: 0, echoFrames: 0 };

function setFaces(faces: Face[]): void {
  compositor.faces = faces;
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
  const options: DetectorOptions = {
    modelBaseUrl: '/models/face-api/',
    wasmBaseUrl: '/wasm/tfjs/',
  };
  const inputSize = numberParam('inputSize');
  const threshold = numberParam('threshold');
  const threads = numberParam('threads');
  if (inputSize !== undefined) options.inputSize = inputSize;
  if (threshold !== undefined) options.scoreThreshold = threshold;
  // Leave cores for the compositor and the encoder: half of them, 1..4 tfjs threads.
  options.threads = threads ?? Math.max(1, Math.min(4, Math.floor((navigator.hardwareConcurrency || 2) / 2)));

  setStatus('detector', `loading detector ${detectorName}…`);
  const client = new DetectorClient(detectorName, options, {
    ready(name, backend, loadMs) {
      stats.detector = name;
      stats.backend = backend;
      setStatus('detector', null);
      console.info(`facecast: detector ${name} ready on ${backend} in ${Math.round(loadMs)} ms`);
    },
    loadError(name, message) {
      setFaces([]);
      setStatus('detector', `face detector ${name} failed to load: ${message} — sending video without boxes`, true);
    },
    faces(faces, ms) {
      counters.detections++;
      counters.detectMsTotal += ms;
      setFaces(faces);
    },
    crash(message, retryMs) {
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

let detector: DetectorClient | null = null;
const compositor = new Compositor(canvas, ({ video }) => {
  detector?.submit(video);
});

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

  detector = createDetector();
  if (!detector) stats.detector = 'none';
  void startCamera();
  countEchoFrames();
  startSignaling(stream, track);

  const sampler = new StatsSampler(stats);
  setInterval(() => {
    counters.cameraFrames = compositor.cameraFrames;
    counters.outputFrames = compositor.outputFrames;
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
