/**
 * Keeps face boxes steady and moving between detections.
 *
 * Detections arrive a few times a second, each for the frame captured at `ts`.
 * The compositor draws every camera frame, asking for the boxes at that frame's
 * capture time. Each face is a track: detections are matched to tracks by IoU
 * (greedy, best first) against the track's prediction for the detection's
 * frame time; a matched track is corrected with an alpha-beta filter
 * (constant-velocity model). When the track is not moving and the residual is
 * below a dead band of a few per cent of the face size (detector jitter on a
 * still face), it is smoothed heavily and the velocity decays, so a still
 * face's box does not shimmer; otherwise the measurement is followed closely
 * and the velocity learnt. Between detections the box moves on with
 * its velocity (extrapolation capped at MAX_EXTRAPOLATE_MS). A track that
 * misses MAX_MISSES detections in a row is dropped, so one missed detection
 * does not make the box blink.
 */
import type { Box, Face, Point } from './detect/detector.js';

export interface TrackerOptions {
  /** Minimum IoU between a detection and a track's prediction to match. */
  matchIou: number;
  /** Consecutive misses after which a track is dropped. */
  maxMisses: number;
  /** A track not seen for this long is dropped whatever the miss count. */
  maxAgeMs: number;
  /** Largest extrapolation in time beyond the last detection. */
  maxExtrapolateMs: number;
  /** Residual (fraction of the face width) below which the face counts as still. */
  deadBand: number;
}

export const DEFAULT_TRACKER_OPTIONS: Readonly<TrackerOptions> = Object.freeze({
  matchIou: 0.2,
  maxMisses: 2,
  maxAgeMs: 1500,
  maxExtrapolateMs: 400,
  deadBand: 0.04,
});

interface Track {
  id: number;
  /** Centre and size, normalized. */
  cx: number;
  cy: number;
  w: number;
  h: number;
  /** Centre velocity, normalized units per ms. */
  vx: number;
  vy: number;
  score: number;
  /** Keypoints relative to the box: (p - centre) / size. */
  kp?: Point[];
  ts: number;
  misses: number;
  hits: number;
}

export function iou(a: Box, b: Box): number {
  const x0 = Math.max(a.x, b.x);
  const y0 = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.w, b.x + b.w);
  const y1 = Math.min(a.y + a.h, b.y + b.h);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}

function relKeypoints(face: Face): Point[] | undefined {
  const { box } = face;
  if (!face.keypoints?.length || box.w <= 0 || box.h <= 0) return undefined;
  const cx = box.x + box.w / 2;
  const cy = box.y + box.h / 2;
  return face.keypoints.map((p) => ({ x: (p.x - cx) / box.w, y: (p.y - cy) / box.h }));
}

/** Greedy IoU matching: pairs [aIndex, bIndex], best overlap first. */
export function matchByIou(a: Box[], b: Box[], minIou: number): [number, number][] {
  const pairs: { i: number; j: number; v: number }[] = [];
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < b.length; j++) {
      const v = iou(a[i]!, b[j]!);
      if (v >= minIou) pairs.push({ i, j, v });
    }
  }
  pairs.sort((p, q) => q.v - p.v);
  const usedA = new Set<number>();
  const usedB = new Set<number>();
  const out: [number, number][] = [];
  for (const p of pairs) {
    if (usedA.has(p.i) || usedB.has(p.j)) continue;
    usedA.add(p.i);
    usedB.add(p.j);
    out.push([p.i, p.j]);
  }
  return out;
}

export class FaceTracker {
  private tracks: Track[] = [];
  private nextId = 1;
  readonly options: TrackerOptions;

  constructor(options: Partial<TrackerOptions> = {}) {
    this.options = { ...DEFAULT_TRACKER_OPTIONS, ...options };
  }

  get size(): number {
    return this.tracks.length;
  }

  clear(): void {
    this.tracks = [];
  }

  /** Feeds the detections for the frame captured at `ts` (ms). */
  update(faces: Face[], ts: number): void {
    const o = this.options;
    const predicted = this.tracks.map((t) => this.boxAt(t, ts));
    const matches = matchByIou(
      predicted,
      faces.map((f) => f.box),
      o.matchIou,
    );
    const matchedTracks = new Set<number>();
    const matchedFaces = new Set<number>();
    for (const [ti, fi] of matches) {
      matchedTracks.add(ti);
      matchedFaces.add(fi);
      this.correct(this.tracks[ti]!, faces[fi]!, ts);
    }
    const kept: Track[] = [];
    this.tracks.forEach((t, i) => {
      if (!matchedTracks.has(i)) {
        if (ts < t.ts) {
          kept.push(t); // an out-of-order (older) detection says nothing about this track
          return;
        }
        t.misses++;
        // Stop drifting while unseen.
        t.vx *= 0.5;
        t.vy *= 0.5;
        if (t.misses > o.maxMisses || ts - t.ts > o.maxAgeMs) return;
      }
      kept.push(t);
    });
    faces.forEach((f, i) => {
      if (matchedFaces.has(i)) return;
      const kp = relKeypoints(f);
      kept.push({
        id: this.nextId++,
        cx: f.box.x + f.box.w / 2,
        cy: f.box.y + f.box.h / 2,
        w: f.box.w,
        h: f.box.h,
        vx: 0,
        vy: 0,
        score: f.score,
        ...(kp ? { kp } : {}),
        ts,
        misses: 0,
        hits: 1,
      });
    });
    this.tracks = kept;
  }

  /** The faces to draw on the frame captured at `ts`. */
  facesAt(ts: number): Face[] {
    return this.tracks.map((t) => {
      const box = this.boxAt(t, ts);
      const face: Face = { box, score: t.score };
      if (t.kp) {
        const cx = box.x + box.w / 2;
        const cy = box.y + box.h / 2;
        face.keypoints = t.kp.map((p) => ({ x: cx + p.x * box.w, y: cy + p.y * box.h }));
      }
      return face;
    });
  }

  private boxAt(t: Track, ts: number): Box {
    const dt = Math.max(0, Math.min(this.options.maxExtrapolateMs, ts - t.ts));
    const cx = t.cx + t.vx * dt;
    const cy = t.cy + t.vy * dt;
    return { x: cx - t.w / 2, y: cy - t.h / 2, w: t.w, h: t.h };
  }

  private correct(t: Track, f: Face, ts: number): void {
    if (ts < t.ts) return; // stale result for an older frame
    const dt = Math.max(1, ts - t.ts);
    const pred = this.boxAt(t, ts);
    const pcx = pred.x + pred.w / 2;
    const pcy = pred.y + pred.h / 2;
    const mcx = f.box.x + f.box.w / 2;
    const mcy = f.box.y + f.box.h / 2;
    const rx = mcx - pcx;
    const ry = mcy - pcy;
    const scale = Math.max(1e-6, t.w);
    const residual = Math.hypot(rx, ry) / scale;
    const sizeResidual = Math.abs(f.box.w - t.w) / scale;
    // Still: the track is not moving and the detection is within the jitter dead band.
    const expected = (Math.hypot(t.vx, t.vy) * dt) / scale;
    const still = residual < this.options.deadBand && expected < this.options.deadBand;
    if (still) {
      // Damp jitter; let any leftover velocity die out.
      t.cx = pcx + 0.15 * rx;
      t.cy = pcy + 0.15 * ry;
      t.vx *= 0.5;
      t.vy *= 0.5;
    } else {
      // Moving: follow the measurement closely and learn the velocity (alpha-beta filter).
      const alpha = Math.min(0.85, 0.5 + residual);
      const beta = 0.4;
      t.cx = pcx + alpha * rx;
      t.cy = pcy + alpha * ry;
      t.vx += (beta * rx) / dt;
      t.vy += (beta * ry) / dt;
    }
    const sizeAlpha = sizeResidual < this.options.deadBand ? 0.1 : 0.5;
    t.w += sizeAlpha * (f.box.w - t.w);
    t.h += sizeAlpha * (f.box.h - t.h);
    t.score += 0.5 * (f.score - t.score);
    const kp = relKeypoints(f);
    if (kp && t.kp && kp.length === t.kp.length) {
      const a = still ? 0.3 : 0.7;
      t.kp = t.kp.map((p, i) => ({ x: p.x + a * (kp[i]!.x - p.x), y: p.y + a * (kp[i]!.y - p.y) }));
    } else if (kp) {
      t.kp = kp;
    }
    t.ts = ts;
    t.misses = 0;
    t.hits++;
  }
}

/** Linear interpolation between two detections' faces (matched by IoU), t in 0..1. */
export function interpolateFaces(a: Face[], b: Face[], t: number, minIou = 0.1): Face[] {
  const pairs = matchByIou(
    a.map((f) => f.box),
    b.map((f) => f.box),
    minIou,
  );
  const lerp = (p: number, q: number) => p + (q - p) * t;
  // Faces only one side has (appearing or leaving) come from the nearer detection.
  const alone = t < 0.5 ? a.filter((_, i) => !pairs.some(([pi]) => pi === i)) : b.filter((_, j) => !pairs.some(([, pj]) => pj === j));
  const matched = pairs.map(([i, j]) => {
    const fa = a[i]!;
    const fb = b[j]!;
    const face: Face = {
      box: { x: lerp(fa.box.x, fb.box.x), y: lerp(fa.box.y, fb.box.y), w: lerp(fa.box.w, fb.box.w), h: lerp(fa.box.h, fb.box.h) },
      score: lerp(fa.score, fb.score),
    };
    if (fa.keypoints && fb.keypoints && fa.keypoints.length === fb.keypoints.length) {
      face.keypoints = fa.keypoints.map((p, k) => ({ x: lerp(p.x, fb.keypoints![k]!.x), y: lerp(p.y, fb.keypoints![k]!.y) }));
    }
    return face;
  });
  return [...matched, ...alone];
}
