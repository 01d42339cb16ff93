/** Once-a-second stats: rates from counters plus RTCPeerConnection.getStats(). */

export interface FacecastStats {
  cameraFps: number;
  outputFps: number;
  detectFps: number;
  /** Mean inference time in the worker over the last second (last known value if none ran). */
  detectMs: number | null;
  echoFps: number;
  /** Outbound video bitrate, kbps. */
  bitrateKbps: number;
  /** Selected candidate pair currentRoundTripTime, ms. */
  rttMs: number | null;
  connection: string;
  detector: string;
  /** Extras */
  backend: string;
  sentFps: number | null;
  /** outbound-rtp frameWidth x frameHeight, e.g. '640x480'. */
  sentSize: string | null;
  /** outbound-rtp qualityLimitationReason ('none', 'cpu', 'bandwidth', ...). */
  qualityLimitation: string | null;
  /** candidate-pair availableOutgoingBitrate, kbps (the sender's bandwidth estimate). */
  availableKbps: number | null;
  echoDecodedFps: number | null;
  faces: number;
  /** Overlay mode: burned-in | metadata. */
  overlay: string;
  /** Capture path: worker (MediaStreamTrackProcessor, any visibility) | canvas (fallback). */
  capture: string;
  /** Where the boxes come from: predict (tracker) | hold (frames held for their detection; worker path only). */
  align: string;
  /** Mean time from a frame's capture to its detection result arriving on the page (ms). */
  detectLatencyMs: number | null;
  /** Mean age of the boxes drawn on a frame: frame capture time minus the detection's frame capture time (ms). */
  boxAgeMs: number | null;
  /** Largest such age in the last second (ms). */
  boxAgeMaxMs: number | null;
  /** Echo frames per second whose frame code read back (metadata mode). */
  echoCodeFps: number | null;
  /** Glass-to-glass latency of the echo, median of the last ~2 s (ms; glass.ts). */
  glassMs: number | null;
}

export interface Counters {
  cameraFrames: number;
  outputFrames: number;
  detections: number;
  detectMsTotal: number;
  echoFrames: number;
  /** Sum over detections of (result arrival - frame capture), ms. */
  latencyMsTotal: number;
  /** Sum over drawn frames with boxes of the boxes' age, ms; and that frame count. */
  boxAgeMsTotal: number;
  boxAgeFrames: number;
  /** Echo frames whose frame code was read. */
  echoCodes: number;
}

/** Every counter at zero (a page's start). */
export function initialCounters(): Counters {
  return { cameraFrames: 0, outputFrames: 0, detections: 0, detectMsTotal: 0, echoFrames: 0, latencyMsTotal: 0, boxAgeMsTotal: 0, boxAgeFrames: 0, echoCodes: 0 };
}

interface RtpSample {
  at: number;
  bytesSent: number | null;
  framesDecoded: number | null;
}

/** Stats before anything was measured. */
export function initialStats(detector: string, overlay: string): FacecastStats {
  return {
    cameraFps: 0,
    outputFps: 0,
    detectFps: 0,
    detectMs: null,
    echoFps: 0,
    bitrateKbps: 0,
    rttMs: null,
    connection: 'not started',
    detector,
    overlay,
    capture: '',
    align: '',
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
    glassMs: null,
  };
}

export class StatsSampler {
  private last: Counters | null = null;
  private lastAt = 0;
  private rtp: RtpSample | null = null;

  constructor(private readonly stats: FacecastStats) {}

  /** Updates the rate fields from counter deltas. */
  sampleCounters(now: Counters): void {
    const t = performance.now();
    if (this.last) {
      const dt = (t - this.lastAt) / 1000;
      if (dt > 0) {
        const s = this.stats;
        s.cameraFps = round1((now.cameraFrames - this.last.cameraFrames) / dt);
        s.outputFps = round1((now.outputFrames - this.last.outputFrames) / dt);
        s.echoFps = round1((now.echoFrames - this.last.echoFrames) / dt);
        const n = now.detections - this.last.detections;
        s.detectFps = round1(n / dt);
        if (n > 0) s.detectMs = round1((now.detectMsTotal - this.last.detectMsTotal) / n);
        if (n > 0) s.detectLatencyMs = round1((now.latencyMsTotal - this.last.latencyMsTotal) / n);
        const f = now.boxAgeFrames - this.last.boxAgeFrames;
        s.boxAgeMs = f > 0 ? round1((now.boxAgeMsTotal - this.last.boxAgeMsTotal) / f) : null;
        s.echoCodeFps = round1((now.echoCodes - this.last.echoCodes) / dt);
      }
    }
    this.last = { ...now };
    this.lastAt = t;
  }

  /** Updates bitrate, RTT, sent/decoded fps from the peer connection. */
  async sampleRtc(pc: RTCPeerConnection | null): Promise<void> {
    const s = this.stats;
    s.connection = pc ? pc.connectionState : 'not started';
    if (!pc || pc.connectionState === 'closed') return;
    const report = await pc.getStats();
    const at = performance.now();
    let bytesSent: number | null = null;
    let framesDecoded: number | null = null;
    let sentFps: number | null = null;
    let sentSize: string | null = null;
    let qualityLimitation: string | null = null;
    let selectedPairId: string | undefined;
    const pairs = new Map<string, Record<string, unknown>>();
    report.forEach((raw) => {
      const r = raw as Record<string, unknown> & { type: string; id: string };
      if (r.type === 'outbound-rtp' && r.kind === 'video') {
        bytesSent = (bytesSent ?? 0) + num(r.bytesSent);
        if (typeof r.framesPerSecond === 'number') sentFps = r.framesPerSecond;
        if (typeof r.frameWidth === 'number' && typeof r.frameHeight === 'number') sentSize = `${r.frameWidth}x${r.frameHeight}`;
        if (typeof r.qualityLimitationReason === 'string') qualityLimitation = r.qualityLimitationReason;
      } else if (r.type === 'inbound-rtp' && r.kind === 'video') {
        framesDecoded = (framesDecoded ?? 0) + num(r.framesDecoded);
      } else if (r.type === 'transport' && typeof r.selectedCandidatePairId === 'string') {
        selectedPairId = r.selectedCandidatePairId;
      } else if (r.type === 'candidate-pair') {
        pairs.set(r.id, r);
      }
    });
    let pair = selectedPairId ? pairs.get(selectedPairId) : undefined;
    pair ??= [...pairs.values()].find((p) => p.nominated === true && p.state === 'succeeded');
    s.rttMs = pair && typeof pair.currentRoundTripTime === 'number' ? round1(pair.currentRoundTripTime * 1000) : null;
    s.availableKbps = pair && typeof pair.availableOutgoingBitrate === 'number' ? Math.round(pair.availableOutgoingBitrate / 1000) : null;
    s.sentFps = sentFps;
    s.sentSize = sentSize;
    s.qualityLimitation = qualityLimitation;
    const prev = this.rtp;
    if (prev) {
      const dt = (at - prev.at) / 1000;
      if (dt > 0 && bytesSent !== null && prev.bytesSent !== null) {
        s.bitrateKbps = Math.max(0, Math.round(((bytesSent - prev.bytesSent) * 8) / dt / 1000));
      }
      if (dt > 0 && framesDecoded !== null && prev.framesDecoded !== null) {
        s.echoDecodedFps = round1((framesDecoded - prev.framesDecoded) / dt);
      }
    }
    this.rtp = { at, bytesSent, framesDecoded };
  }
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}

/** Writes the stats into the `stat-*` elements. */
export function renderStats(s: FacecastStats): void {
  const fmt = (v: number | null, unit = '') => (v === null ? '–' : `${v}${unit}`);
  const set = (id: string, text: string) => {
    const el = document.getElementById(id);
    if (el && el.textContent !== text) el.textContent = text;
  };
  set('stat-camera-fps', fmt(s.cameraFps));
  set('stat-output-fps', fmt(s.outputFps));
  set('stat-detect-fps', fmt(s.detectFps));
  set('stat-detect-ms', fmt(s.detectMs));
  set('stat-echo-fps', fmt(s.echoFps));
  set('stat-bitrate', fmt(s.bitrateKbps));
  set('stat-rtt', fmt(s.rttMs));
  set('stat-connection', s.connection);
  set('stat-detector', s.backend ? `${s.detector} (${s.backend})` : s.detector);
  set('stat-overlay', s.overlay);
  set('stat-capture', s.capture === 'worker' ? `worker · ${s.align}` : s.capture || '–');
  set('stat-latency', fmt(s.detectLatencyMs));
  set('stat-faces', String(s.faces));
  set('stat-glass', fmt(s.glassMs));
}
