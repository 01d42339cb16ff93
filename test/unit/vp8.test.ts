import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isH264Keyframe, isVp8Keyframe, parseVp8, vp8KeyframeSize } from '../../src/sfu/codecs/vp8.js';
import { Vp8Munger } from '../../src/sfu/codecs/vp8-munger.js';
import { PacketCache } from '../../src/sfu/subscriptions/packet-cache.js';

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

describe('VP8 keyframe size', () => {
  it('reads width and height from the keyframe header', () => {
    // descriptor (X=0,S=1) | frame tag (key) 3 bytes | 9d 01 2a | w=640 | h=480
    const p = Uint8Array.from([0x10, 0x10, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]);
    assert.deepEqual(vp8KeyframeSize(p), { width: 640, height: 480 });
    assert.equal(vp8KeyframeSize(Uint8Array.from([0x10, 0x11, 0, 0, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01])), undefined, 'delta frame');
    assert.equal(vp8KeyframeSize(Uint8Array.from([0x10, 0x10, 0, 0, 0x00, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01])), undefined, 'no start code');
  });
});

describe('Vp8Munger', () => {
  const packet = (pid: number, tl0: number) => Buffer.from([0x90, 0xc0, 0x80 | (pid >> 8), pid & 0xff, tl0, 0x10, 0xaa]);
  it('passes the source buffer through untouched until a switch', () => {
    const m = new Vp8Munger();
    const a = packet(100, 7);
    assert.equal(m.munge('A', a), a, 'same buffer, no copy');
  });
  it('continues picture id and TL0PICIDX across a source switch, copying instead of mutating', () => {
    const m = new Vp8Munger();
    m.munge('A', packet(100, 7));
    m.munge('A', packet(101, 8));
    const b = packet(32767, 250); // the new source is about to wrap
    const out = m.munge('B', b);
    assert.notEqual(out, b);
    assert.deepEqual(parseVp8(b)!.pictureId, 32767, 'source untouched');
    assert.equal(parseVp8(out)!.pictureId, 102);
    assert.equal(parseVp8(out)!.tl0PicIdx, 9);
    const next = m.munge('B', packet(0, 251)); // source wraps
    assert.equal(parseVp8(next)!.pictureId, 103);
    assert.equal(parseVp8(next)!.tl0PicIdx, 10);
  });
});
