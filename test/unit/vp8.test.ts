import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isH264Keyframe, isVp8Keyframe, parseVp8 } from '../../src/sfu/vp8.js';
import { PacketCache } from '../../src/sfu/packet-cache.js';

describe('VP8 payload descriptor', () => {
  it('parses a 15-bit picture id, TL0PICIDX and TID, and finds keyframes', () => {
    // X=1 S=1 PID=0 | I=1 L=1 T=1 | M=1 pid=0x1234 | tl0=7 | tid=2<<6 | VP8 header (key)
    const p = Uint8Array.from([0x90, 0xe0, 0x92, 0x34, 0x07, 0x80, 0x10, 0x02, 0x00]);
    const d = parseVp8(p)!;
    assert.equal(d.pictureId, 0x1234);
    assert.equal(d.pictureIdBits, 15);
    assert.equal(d.tl0PicIdx, 7);
    assert.equal(d.tid, 2);
    assert.equal(d.headerLength, 6);
    assert.equal(d.keyframe, true);
  });
  it('delta frames and continuation packets are not keyframes', () => {
    assert.equal(isVp8Keyframe(Uint8Array.from([0x90, 0x80, 0x81, 0x00, 0x11])), false); // inverse key bit set
    assert.equal(isVp8Keyframe(Uint8Array.from([0x80, 0x80, 0x81, 0x00, 0x10])), false); // S=0
    assert.equal(isVp8Keyframe(Uint8Array.from([0x10, 0x10])), true); // no extension, S=1, key
  });
  it('never throws on truncated input', () => {
    for (let n = 0; n < 6; n++) parseVp8(Uint8Array.from([0x90, 0xe0, 0x92, 0x34, 0x07, 0x80]).subarray(0, n));
    assert.equal(parseVp8(new Uint8Array(0)), undefined);
  });
  it('H264: IDR, SPS in STAP-A, FU-A start of IDR', () => {
    assert.equal(isH264Keyframe(Uint8Array.from([0x65, 0x88])), true);
    assert.equal(isH264Keyframe(Uint8Array.from([0x41, 0x9a])), false);
    assert.equal(isH264Keyframe(Uint8Array.from([0x18, 0x00, 0x02, 0x67, 0x42])), true);
    assert.equal(isH264Keyframe(Uint8Array.from([0x7c, 0x85, 0x00])), true);
    assert.equal(isH264Keyframe(Uint8Array.from([0x7c, 0x05, 0x00])), false);
  });
});

describe('PacketCache', () => {
  it('holds the last N packets by sequence number, across wrap-around', () => {
    const c = new PacketCache<number>(512);
    assert.equal(c.capacity, 512);
    for (let i = 0; i < 1000; i++) c.put((65000 + i) & 0xffff, i);
    assert.equal(c.get((65000 + 999) & 0xffff), 999);
    assert.equal(c.get((65000 + 488) & 0xffff), 488);
    assert.equal(c.get((65000 + 487) & 0xffff), undefined, 'evicted');
  });
});
