/**
 * The page-side logic that needs no browser: the box tracker (web/capture/tracker.ts)
 * and the frame code's bit layout and decoder (web/capture/framecode.ts), run in Node.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Face } from '../../web/capture/detect/detector.js';
import { crc8, decodeFrameCode, FRAME_CODE_LAYOUT, frameCodeBits, frameCodeRect } from '../../web/capture/framecode.js';
import { FaceTracker, interpolateFaces } from '../../web/capture/tracker.js';

/** Deterministic pseudo-random numbers in [-1, 1]. */
function noise(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return (s / 0x7fffffff) * 2 - 1;
  };
}

const face = (x: number, y: number, w = 0.25, h = 0.33): Face => ({ box: { x, y, w, h }, score: 0.9 });

describe('FaceTracker', () => {
  it('holds a still face steady through detector jitter and a missed detection', () => {
    const t = new FaceTracker();
    const rnd = noise(1);
    const xs: number[] = [];
    let ts = 0;
    for (let i = 0; i < 40; i++) {
      ts += 66;
      // ±3 px of jitter at 640 px wide; detection 25 is missed.
      if (i !== 25) t.update([face(0.4 + (rnd() * 3) / 640, 0.3 + (rnd() * 3) / 480)], ts);
      else t.update([], ts);
      for (let f = 0; f < 2; f++) {
        const drawn = t.facesAt(ts + f * 33);
        assert.equal(drawn.length, 1, `a box on every frame (detection ${i})`);
        if (i >= 10) xs.push(drawn[0]!.box.x * 640);
      }
    }
    const spread = Math.max(...xs) - Math.min(...xs);
    assert.ok(spread < 2.5, `drawn box moves ${spread.toFixed(2)} px for ±3 px of jitter`);
  });

  it('follows a moving face between detections, ahead of the last detection', () => {
    const t = new FaceTracker();
    const speed = 0.3 / 1000; // a third of the frame width per second
    const truth = (ts: number) => 0.1 + speed * ts;
    let errTracker = 0;
    let errHold = 0;
    let n = 0;
    for (let ts = 0; ts < 2000; ts += 33) {
      // A detection every 4th frame (about 8 per second), for that frame's time.
      const frame = Math.round(ts / 33);
      if (frame % 4 === 0) t.update([face(truth(ts), 0.3)], ts);
      if (ts < 600) continue; // let it converge
      const drawn = t.facesAt(ts)[0]!;
      const lastDetection = truth(Math.floor(frame / 4) * 4 * 33);
      errTracker += Math.abs(drawn.box.x - truth(ts)) * 640;
      errHold += Math.abs(lastDetection - truth(ts)) * 640;
      n++;
    }
    assert.ok(errTracker / n < 2, `tracker error ${(errTracker / n).toFixed(2)} px per frame`);
    assert.ok(errTracker < errHold / 3, `tracker ${(errTracker / n).toFixed(2)} px vs holding the last box ${(errHold / n).toFixed(2)} px`);
  });

  it('drops a face after it has been missing for a few detections, and starts new ones at once', () => {
    const t = new FaceTracker();
    t.update([face(0.1, 0.1)], 0);
    t.update([face(0.1, 0.1), face(0.6, 0.5)], 66);
    assert.equal(t.facesAt(70).length, 2);
    for (let i = 2; i < 6; i++) t.update([face(0.6, 0.5)], i * 66);
    assert.equal(t.facesAt(400).length, 1);
  });

  it('interpolates matched faces linearly', () => {
    const [mid] = interpolateFaces([face(0.1, 0.2)], [face(0.14, 0.26)], 0.5);
    assert.ok(Math.abs(mid!.box.x - 0.12) < 1e-9 && Math.abs(mid!.box.y - 0.23) < 1e-9, JSON.stringify(mid));
  });
});

describe('frame code', () => {
  /** Renders the code's blocks into an RGBA buffer of `cell` px per block, with noise. */
  function render(value: number, cell: number, amp: number, seed: number): Uint8ClampedArray {
    const { cols, rows } = FRAME_CODE_LAYOUT;
    const bits = frameCodeBits(value);
    const w = cols * cell;
    const out = new Uint8ClampedArray(w * rows * cell * 4);
    const rnd = noise(seed);
    for (let y = 0; y < rows * cell; y++) {
      for (let x = 0; x < w; x++) {
        const bit = bits[Math.floor(y / cell) * cols + Math.floor(x / cell)]!;
        const v = (bit ? 235 : 16) + rnd() * amp;
        out.set([v, v, v, 255], (y * w + x) * 4);
      }
    }
    return out;
  }

  it('reads back every value it writes, through heavy noise', () => {
    for (const [i, v] of [0, 1, 2, 255, 256, 65535, 0x123456, 0xabcdef, 0xffffff].entries()) {
      assert.equal(decodeFrameCode(render(v, 8, 80, i + 1), 8).value, v);
    }
  });

  it('never returns a wrong number for a damaged code or no code', () => {
    const bad = render(0x123456, 8, 0, 7);
    // Flip one payload block (row 0, col 5) to the other colour.
    for (let y = 0; y < 8; y++) for (let x = 40; x < 48; x++) bad.fill(235 - bad[(y * 136 + x) * 4]! + 16, (y * 136 + x) * 4, (y * 136 + x) * 4 + 3);
    const r = decodeFrameCode(bad, 8);
    assert.equal(r.value, null);
    assert.equal(r.error, 'crc');
    const grey = new Uint8ClampedArray(136 * 16 * 4).fill(128);
    assert.equal(decodeFrameCode(grey, 8).error, 'no-contrast');
  });

  it('sits in the bottom-left corner on 16 px macroblock boundaries at 640x480, and carries a CRC-8', () => {
    assert.deepEqual(frameCodeRect(640, 480), { x: 0, y: 464, w: 136, h: 16, block: 8 });
    assert.equal(crc8(0), 0);
    assert.notEqual(crc8(1), crc8(2));
  });
});
