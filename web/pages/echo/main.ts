/**
 * The echo page, served at /: camera -> face detection (worker) -> composite
 * canvas -> WebRTC to the SFU -> echo video (+ overlay canvas in metadata mode).
 *
 * URL parameters:
 *   ?detector=<name>|none   detector from web/capture/detect/registry.ts (default blazeface)
 *   ?overlay=burned-in|metadata   boxes drawn into the sent video (default), or
 *                           sent as FacesUp on the data channel, frame-coded video
 *   ?inputSize=416          detector input size (tiny-face-detector)
 *   ?threshold=0.5          detector score threshold
 *   ?threads=N              tfjs wasm threads (default: half the cores, 1..4)
 *   ?modelBase=/path/       override the detector's model URL prefix (tests: a missing dir)
 *   ?detectDelay=MS         sleep MS after each detection (tests; `?detector=slow` = 500)
 *   ?relay=local            metadata mode: feed our own FacesUp to the echo overlay
 *                           directly, as if the SFU had relayed them (testing/debugging)
 *   ?loopback=direct        no SFU: the canvas goes to a second RTCPeerConnection in this
 *                           page and back into #echo (the glass-to-glass baseline)
 *   ?framecode=0            do not stamp the frame code in burned-in mode (no
 *                           glass-to-glass figure then)
 */
import type { OverlayMode } from '../../capture/composer.js';
import { DEFAULT_DETECTOR, type Face } from '../../capture/detect/detector.js';
import { DETECTORS, isDetectorName } from '../../capture/detect/registry.js';
import { GlassMeter, type GlassStats } from '../../stats/glass.js';
import { EchoOverlay, FacesSender, parseFacesDown, toFacesUp, type EchoOverlayStats, type FacesUp } from '../../capture/metadata.js';
import { Pipeline } from '../../capture/pipeline.js';
import type { Publisher } from '../../client/publisher.js';
import { Session } from '../../client/session.js';
import { watchFrames } from '../../stats/frames.js';
import { initialCounters, initialStats, StatsSampler, renderStats, type Counters, type FacecastStats } from '../../stats/stats.js';
import { StatusLine } from '../status-line.js';

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
  /** Glass-to-glass meter on #echo (see web/stats/glass.ts). */
  glass(): GlassStats;
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
  /** Opens the camera again (as a camera switch does); the published track stays. */
  switchCamera(deviceId?: string): Promise<void>;
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
let statusLine: StatusLine<StatusKey> | undefined;

function setStatus(key: StatusKey, text: string | null, error = false): void {
  statusLine ??= new StatusLine($('status'), ['server', 'camera', 'detector', 'signaling', 'connection'], facecast);
  statusLine.set(key, text, error);
}

// ---- state ---------------------------------------------------------------

const params = new URLSearchParams(location.search);
const initialDetector = params.get('detector') || DEFAULT_DETECTOR;
const overlayParam = params.get('overlay');
let overlayMode: OverlayMode = overlayParam === 'metadata' ? 'metadata' : 'burned-in';
const relayLocal = params.get('relay') === 'local';
const directLoopback = params.get('loopback') === 'direct';

const stats: FacecastStats = initialStats(initialDetector, overlayMode);
const facecast: FacecastDebug = {
  stats,
  get faces(): Face[] {
    return pipeline.faces;
  },
  drawnFaces: () => compositor.drawnFaces,
  overlay: () => overlayMode,
  setOverlay: (m) => setOverlay(m),
  setDetector: (n) => switchDetector(n),
  echoOverlay: () => echoOverlay.stats,
  sentFaces: () => [...facesSender.recent],
  frameNo: () => compositor.book.frameNo,
  glass: () => ({ ...glass.stats }),
  debugCounters: () => ({ cameraFrames: compositor.book.cameraFrames, outputFrames: compositor.book.outputFrames, detections: counters.detections }),
  pc: null,
  status: '',
  errors: [],
  detectorState: () => pipeline.detector?.state ?? 'none',
  crashDetector: () => pipeline.detector?.crashForTest(),
  switchCamera: (deviceId) => pipeline.switchCamera(deviceId),
};
window.facecast = facecast;

const counters: Counters = initialCounters();

// ---- compositor + camera -------------------------------------------------

const source = $<HTMLVideoElement>('source');
const echo = $<HTMLVideoElement>('echo');
const canvas = $<HTMLCanvasElement>('composite');

const echoCanvas = $<HTMLCanvasElement>('echo-overlay');

// The capture pipeline (camera -> detector -> compositor -> canvas stream); started in main().
const pipeline = new Pipeline({
  source,
  canvas,
  params,
  stats,
  counters,
  mode: overlayMode,
  status: setStatus,
  render: () => renderStats(stats),
  onDetection(faces, tag, detectorName) {
    if (overlayMode !== 'metadata') return;
    const msg = toFacesUp(faces, tag.frame, tag.ts, detectorName);
    facesSender.send(msg);
    if (relayLocal) echoOverlay.push(msg);
  },
});
const compositor = pipeline.compositor;
compositor.stampCodes = params.get('framecode') !== '0';
const glass = new GlassMeter((frame) => compositor.book.captureTimeOf(frame));
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
  const detectorName = pipeline.detectorName;
  const info = DETECTORS[detectorName];
  $('detector-label').textContent = `${detectorName === 'none' ? 'no detector' : (info?.label ?? detectorName)} · ${overlayMode}`;
  const from = directLoopback ? 'direct loopback, no SFU' : 'from SFU';
  $('echo-caption').textContent = overlayMode === 'metadata' ? `echo (${from}) + overlay from metadata` : `echo (${from})`;
}

function switchDetector(name: string): void {
  if (!pipeline.switchDetector(name)) return;
  replaceParam('detector', name);
  const select = $<HTMLSelectElement>('detector');
  if (select.value !== name) select.value = name;
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
  const detectorName = pipeline.detectorName;
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

// ---- echo fps ------------------------------------------------------------

function countEchoFrames(): void {
  watchFrames(echo, (n) => {
    counters.echoFrames += n;
  });
}

// ---- signaling + WebRTC --------------------------------------------------

let publisher: Publisher | null = null;

/**
 * `?loopback=direct`: the same canvas track through two RTCPeerConnections in
 * this page (VP8, host candidates on 127.0.0.1) into #echo, no server involved:
 * the baseline the SFU's glass-to-glass latency is compared with.
 */
async function startDirectLoopback(stream: MediaStream, track: MediaStreamTrack): Promise<void> {
  const a = new RTCPeerConnection({ iceServers: [] });
  const b = new RTCPeerConnection({ iceServers: [] });
  a.onicecandidate = (e) => void b.addIceCandidate(e.candidate ?? undefined).catch(() => {});
  b.onicecandidate = (e) => void a.addIceCandidate(e.candidate ?? undefined).catch(() => {});
  b.ontrack = (e) => {
    echo.srcObject = e.streams[0] ?? new MediaStream([e.track]);
    echo.play().catch(() => {});
  };
  const t = a.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
  const vp8 = RTCRtpSender.getCapabilities('video')?.codecs.filter((c) => c.mimeType.toLowerCase() === 'video/vp8');
  if (vp8?.length) t.setCodecPreferences(vp8);
  a.onconnectionstatechange = () => {
    stats.connection = a.connectionState;
    renderStats(stats);
  };
  facecast.pc = a;
  await a.setLocalDescription();
  await b.setRemoteDescription(a.localDescription!);
  await b.setLocalDescription();
  await a.setRemoteDescription(b.localDescription!);
  loopbackPc = a;
}
let loopbackPc: RTCPeerConnection | null = null;

function startSignaling(stream: MediaStream, track: MediaStreamTrack): void {
  if (directLoopback) {
    startDirectLoopback(stream, track).catch((err: unknown) => setStatus('connection', `direct loopback failed: ${String(err)}`, true));
    return;
  }
  setStatus('signaling', 'connecting to server…');
  const session: Session = new Session({
    onOpen: () => setStatus('signaling', 'waiting for welcome…'),
    onWelcome() {
      setStatus('signaling', null);
      // No join: the server makes the echo page a private room of one with echo on.
      publisher = startPublisher(session, stream, track);
    },
    onMessage(msg) {
      if (msg.type === 'error') setStatus('server', `server error ${msg.code}: ${msg.message}`, true);
    },
    onInvalid: (reason) => setStatus('server', `bad message from server: ${reason}`, true),
    onClose: (code, reason) => setStatus('signaling', `signaling connection closed (${code}${reason ? ` ${reason}` : ''})`, true),
  });
}

function startPublisher(s: Session, stream: MediaStream, track: MediaStreamTrack): Publisher {
  setStatus('connection', 'connecting…');
  const p = s.publish({
    track,
    stream,
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
  const { stream, track } = pipeline;

  setupControls();
  pipeline.start();
  countEchoFrames();
  echoOverlay.start();
  glass.start(echo);
  startSignaling(stream, track);

  const sampler = new StatsSampler(stats);
  setInterval(() => {
    pipeline.syncCounters();
    counters.echoCodes = echoOverlay.stats.codes;
    stats.glassMs = glass.stats.medianMs;
    sampler.sampleCounters(counters);
    sampler
      .sampleRtc(publisher?.pc ?? loopbackPc)
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
