/** DetectionHistory (web/capture/hold.ts): the boxes of a held frame from the detections around it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Face } from '../../web/capture/detect/detector.js';
import { DetectionHistory } from '../../web/capture/hold.js';

const face = (x: number, w = 0.2): Face => ({ box: { x, y: 0.3, w, h: w }, score: 0.9 });

describe('DetectionHistory', () => {
  it('is exact on an analysed frame, interpolates between two, and says null after the newest', () => {
    const h = new DetectionHistory();
    assert.equal(h.facesAt(100), null);
    h.add([face(0.1)], 100);
    h.add([face(0.16)], 200);
    assert.deepEqual(h.facesAt(100), [face(0.1)]);
    assert.deepEqual(h.facesAt(200), [face(0.16)]);
    const mid = h.facesAt(150)!;
    assert.equal(mid.length, 1);
    assert.ok(Math.abs(mid[0]!.box.x - 0.13) < 1e-9, `interpolated x ${mid[0]!.box.x}`);
    assert.equal(h.facesAt(201), null, 'no detection at or after this frame yet');
    // A frame before the first detection takes the first one.
    assert.deepEqual(h.facesAt(50), [face(0.1)]);
    assert.equal(h.latestTs, 200);
    assert.equal(h.atOrBefore(150), 100);
    assert.equal(h.atOrBefore(50), -1);
  });

  it('keeps detections in frame order when they arrive out of order, and the newest 32', () => {
    const h = new DetectionHistory();
    h.add([face(0.5)], 300);
    h.add([face(0.1)], 100);
    assert.equal(h.latestTs, 300);
    assert.deepEqual(h.facesAt(100), [face(0.1)]);
    for (let i = 0; i < 40; i++) h.add([face(0.2)], 1000 + i);
    assert.equal(h.atOrBefore(500), -1, 'the oldest were dropped');
    h.clear();
    assert.equal(h.latestTs, -1);
  });

  it('a face only one side has comes from the nearer detection', () => {
    const h = new DetectionHistory();
    h.add([face(0.1)], 0);
    h.add([face(0.1), face(0.7)], 100);
    assert.equal(h.facesAt(20)!.length, 1);
    assert.equal(h.facesAt(80)!.length, 2);
  });
});
