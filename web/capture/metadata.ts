/**
 * Metadata overlay mode.
 *
 * Publisher side: each detection becomes a `FacesUp` message (schema:
 * src/protocol/detections.ts) sent on the `facecast` data channel, tagged with
 * the frame code of the frame the detection ran on.
 *
 * Subscriber side (the echo): `EchoOverlay` reads the frame code from every
 * decoded echo frame (requestVideoFrameCallback) and draws the detection that
 * belongs to that frame on a canvas laid over the <video>: the one with the same
 * frame number, else an interpolation between the nearest earlier and later
 * detections, else the nearest earlier one (held for at most HOLD_FRAMES).
 *
 * On loopback the echo often shows a frame before its detection has arrived
 * (the echo path is ~2-3 frames, detection ~55 ms), so many frames get the
 * nearest earlier detection. Holding the echo back with
 * RTCRtpReceiver.jitterBufferTarget (or playoutDelayHint) would let every
 * frame get its own; in Chromium 156 neither changed the delay of this stream
 * (measured), so the page does not try.
 */
import { FacesDown, FacesUp, MAX_DATA_MESSAGE_BYTES, type FaceBox } from '../../src/protocol/detections.js';
import type { Face } from './detect/detector.js';
import { drawFaces } from './draw.js';
import { FrameCodeReader } from './framecode.js';
import { interpolateFaces } from './tracker.js';

export type { FacesDown, FacesUp };

const round = (v: number) => Math.round(v * 10000) / 10000;
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** Builds a schema-valid FacesUp for a detection on frame `frame` captured at `ts`. */
export function toFacesUp(faces: readonly Face[], frame: number, ts: number, detector: string): FacesUp {
  const boxes: FaceBox[] = faces.slice(0, 64).map((f) => {
    const b: FaceBox = {
      x: round(clamp(f.box.x, -0.5, 1.5)),
      y: round(clamp(f.box.y, -0.5, 1.5)),
      w: round(clamp(f.box.w, 0, 1.5)),
      h: round(clamp(f.box.h, 0, 1.5)),
      score: round(clamp(f.score, 0, 1)),
    };
    if (f.keypoints?.length) b.keypoints = f.keypoints.slice(0, 16).map((p) => ({ x: round(clamp(p.x, -0.5, 1.5)), y: round(clamp(p.y, -0.5, 1.5)) }));
    return b;
  });
  return { type: 'faces', frame, ts: round(ts), detector: detector.slice(0, 64), faces: boxes };
}

export function fromFaceBoxes(boxes: readonly FaceBox[]): Face[] {
  return boxes.map((b) => {
    const face: Face = { box: { x: b.x, y: b.y, w: b.w, h: b.h }, score: b.score };
    if (b.keypoints) face.keypoints = b.keypoints.map((p) => ({ x: p.x, y: p.y }));
    return face;
  });
}

/** Sends FacesUp messages on the data channel (dropped while it is not open). */
export class FacesSender {
  sent = 0;
  dropped = 0;
  /** Last messages sent (tests and debugging). */
  readonly recent: FacesUp[] = [];

  constructor(private readonly channel: () => RTCDataChannel | null) {}

  send(msg: FacesUp): boolean {
    const ch = this.channel();
    const parsed = FacesUp.safeParse(msg);
    if (!parsed.success) {
      console.warn('facecast: not sending an invalid FacesUp', parsed.error.issues[0]);
      this.dropped++;
      return false;
    }
    const text = JSON.stringify(parsed.data);
    if (!ch || ch.readyState !== 'open' || text.length > MAX_DATA_MESSAGE_BYTES) {
      this.dropped++;
      return false;
    }
    // Latest wins: skip if the channel is backed up (e.g. the SFU is not reading).
    if (ch.bufferedAmount > 64 * 1024) {
      this.dropped++;
      return false;
    }
    ch.send(text);
    this.sent++;
    this.recent.push(parsed.data);
    if (this.recent.length > 50) this.recent.shift();
    return true;
  }
}

/** Parses a FacesDown message from the data channel; undefined when invalid. */
export function parseFacesDown(data: unknown): FacesDown | undefined {
  if (typeof data !== 'string' || data.length > MAX_DATA_MESSAGE_BYTES) return undefined;
  try {
    const r = FacesDown.safeParse(JSON.parse(data));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export interface EchoOverlayStats {
  /** Echo frames looked at. */
  frames: number;
  /** Frames whose code read back. */
  codes: number;
  /** Frames whose code did not read (no code in the frame, or damaged). */
  codeErrors: number;
  /** Frames drawn with the detection of exactly that frame. */
  exact: number;
  /** Frames drawn with an interpolation between two detections. */
  interpolated: number;
  /** Frames drawn with the nearest earlier detection. */
  held: number;
  /** Frames with a code but no detection close enough. */
  none: number;
  /** Detections received. */
  received: number;
  /** Last frame code read (-1: none). */
  lastFrame: number;
  /** Frame number of the detection used for the last drawn frame (-1: none). */
  lastDetectionFrame: number;
  /** Faces drawn on the last echo frame. */
  lastFaces: Face[];
  /** How many frames late the last detection arrived (echo frame shown minus its frame). */
  lateFrames: number;
}

/** How far (in frames) an earlier detection may be held or interpolated from. */
const HOLD_FRAMES = 30;
const BUFFER = 240;

export class EchoOverlay {
  enabled = false;
  readonly stats: EchoOverlayStats = {
    frames: 0,
    codes: 0,
    codeErrors: 0,
    exact: 0,
    interpolated: 0,
    held: 0,
    none: 0,
    received: 0,
    lastFrame: -1,
    lastDetectionFrame: -1,
    lastFaces: [],
    lateFrames: 0,
  };
  private readonly reader = new FrameCodeReader();
  private readonly ctx: CanvasRenderingContext2D;
  /** Detections by frame number, plus their frame numbers in ascending order. */
  private readonly byFrame = new Map<number, Face[]>();
  private frames: number[] = [];
  private running = false;

  constructor(
    readonly video: HTMLVideoElement,
    readonly canvas: HTMLCanvasElement,
  ) {
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('2d canvas context unavailable');
    this.ctx = ctx;
  }

  /** A detection relayed by the SFU (or looped back locally). */
  push(msg: Pick<FacesUp, 'frame' | 'faces'>): void {
    this.stats.received++;
    if (this.stats.lastFrame >= 0) this.stats.lateFrames = this.stats.lastFrame - msg.frame;
    if (!this.byFrame.has(msg.frame)) {
      // Usually in order: insert from the end.
      let i = this.frames.length;
      while (i > 0 && this.frames[i - 1]! > msg.frame) i--;
      this.frames.splice(i, 0, msg.frame);
    }
    this.byFrame.set(msg.frame, fromFaceBoxes(msg.faces));
    while (this.frames.length > BUFFER) this.byFrame.delete(this.frames.shift()!);
  }

  clear(): void {
    this.byFrame.clear();
    this.frames = [];
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.stats.lastFaces = [];
  }

  start(): void {
    if (this.running || typeof this.video.requestVideoFrameCallback !== 'function') return;
    this.running = true;
    const onFrame = (_now: number, md: VideoFrameCallbackMetadata) => {
      this.video.requestVideoFrameCallback(onFrame);
      if (this.enabled) this.onFrame(md.width, md.height);
    };
    this.video.requestVideoFrameCallback(onFrame);
  }

  /** Faces for the echo frame numbered `frame` (exported for tests through `select`). */
  select(frame: number): { faces: Face[]; kind: 'exact' | 'interpolated' | 'held' | 'none'; from: number } {
    const exact = this.byFrame.get(frame);
    if (exact) return { faces: exact, kind: 'exact', from: frame };
    let before = -1;
    let after = -1;
    for (const f of this.frames) {
      if (f < frame) before = f;
      else if (f > frame) {
        after = f;
        break;
      }
    }
    if (before >= 0 && frame - before <= HOLD_FRAMES) {
      const a = this.byFrame.get(before)!;
      if (after >= 0 && after - before <= HOLD_FRAMES) {
        const b = this.byFrame.get(after)!;
        return { faces: interpolateFaces(a, b, (frame - before) / (after - before)), kind: 'interpolated', from: before };
      }
      return { faces: a, kind: 'held', from: before };
    }
    return { faces: [], kind: 'none', from: -1 };
  }

  private onFrame(width: number, height: number): void {
    const s = this.stats;
    s.frames++;
    const w = width || this.video.videoWidth;
    const h = height || this.video.videoHeight;
    if (!w || !h) return;
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    const code = this.reader.read(this.video, w, h);
    this.ctx.clearRect(0, 0, w, h);
    if (code.value === null) {
      s.codeErrors++;
      s.lastFaces = [];
      return;
    }
    s.codes++;
    s.lastFrame = code.value;
    const pick = this.select(code.value);
    s[pick.kind]++;
    s.lastDetectionFrame = pick.from;
    s.lastFaces = pick.faces;
    drawFaces(this.ctx, pick.faces, w, h);
  }
}
