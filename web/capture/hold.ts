/**
 * Boxes for frames held back until the detection after them is in (the `hold` alignment,
 * see composer.ts): the detector's results by frame time, and the boxes of any frame
 * between two of them: exact on a frame the detector analysed, linearly interpolated
 * between the two detections around it otherwise. Pure: no clock, no DOM.
 */
import type { Face } from './detect/detector.js';
import { interpolateFaces } from './tracker.js';

const KEEP = 32;

export class DetectionHistory {
  private readonly items: { ts: number; faces: Face[] }[] = [];

  /** The detector's faces for the frame captured at `ts`. */
  add(faces: Face[], ts: number): void {
    let i = this.items.length;
    while (i > 0 && this.items[i - 1]!.ts > ts) i--;
    if (this.items[i - 1]?.ts === ts) this.items[i - 1] = { ts, faces };
    else this.items.splice(i, 0, { ts, faces });
    if (this.items.length > KEEP) this.items.splice(0, this.items.length - KEEP);
  }

  clear(): void {
    this.items.length = 0;
  }

  /** Frame time of the newest detection (-1: none). */
  get latestTs(): number {
    return this.items.at(-1)?.ts ?? -1;
  }

  /** Frame time of the newest detection at or before `ts` (-1: none). */
  atOrBefore(ts: number): number {
    for (let i = this.items.length - 1; i >= 0; i--) if (this.items[i]!.ts <= ts) return this.items[i]!.ts;
    return -1;
  }

  /**
   * The boxes of the frame captured at `ts` from the detections around it, or null when
   * no detection at or after `ts` is in yet (then only a prediction can place them).
   */
  facesAt(ts: number): Face[] | null {
    const j = this.items.findIndex((d) => d.ts >= ts);
    if (j < 0) return null;
    const b = this.items[j]!;
    const a = this.items[j - 1];
    if (b.ts === ts || !a) return b.faces;
    return interpolateFaces(a.faces, b.faces, (ts - a.ts) / (b.ts - a.ts));
  }
}
