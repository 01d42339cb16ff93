import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RtpHeader, RtpPacket } from 'werift';
import { installFastRtpParser, parseRtpHeader, weriftDeSerialize } from '../../src/sfu/rtp-parse.js';

/** Same object or both throw. */
function same(buf: Buffer): void {
  let theirs: RtpHeader | Error;
  let ours: RtpHeader | Error;
  try {
    theirs = weriftDeSerialize(buf);
  } catch (e) {
    theirs = e as Error;
  }
  try {
    ours = parseRtpHeader(buf);
  } catch (e) {
    ours = e as Error;
  }
  if (theirs instanceof Error || ours instanceof Error) {
    assert.ok(theirs instanceof Error && ours instanceof Error, `one threw, the other did not: ${buf.toString('hex')}`);
    return;
  }
  assert.ok(ours instanceof RtpHeader);
  assert.deepStrictEqual(ours, theirs, buf.toString('hex'));
  assert.deepStrictEqual(Object.keys(ours), Object.keys(theirs));
}

/** An RTP packet as senders write them: fields, CSRCs, an extension block (any profile), payload, padding. */
const packet = fc
  .record({
    b0: fc.integer({ min: 0, max: 255 }),
    b1: fc.integer({ min: 0, max: 255 }),
    seq: fc.integer({ min: 0, max: 0xffff }),
    ts: fc.integer({ min: 0, max: 0xffffffff }),
    ssrc: fc.integer({ min: 0, max: 0xffffffff }),
    profile: fc.constantFrom(0xbede, 0x1000, 0x1001, 0xabcd),
    extBody: fc.uint8Array({ maxLength: 40 }),
    extWords: fc.integer({ min: 0, max: 12 }),
    payload: fc.uint8Array({ maxLength: 64 }),
    cut: fc.option(fc.nat(), { nil: undefined }),
  })
  .map((p) => {
    const cc = p.b0 & 0x0f;
    const head = Buffer.alloc(12 + cc * 4);
    head[0] = p.b0;
    head[1] = p.b1;
    head.writeUInt16BE(p.seq, 2);
    head.writeUInt32BE(p.ts >>> 0, 4);
    head.writeUInt32BE(p.ssrc >>> 0, 8);
    for (let i = 0; i < cc; i++) head.writeUInt32BE((p.ssrc + i) >>> 0, 12 + i * 4);
    const ext = Buffer.alloc(4);
    ext.writeUInt16BE(p.profile, 0);
    ext.writeUInt16BE(p.extWords, 2);
    const full = Buffer.concat([head, (p.b0 & 0x10) !== 0 ? Buffer.concat([ext, Buffer.from(p.extBody)]) : Buffer.alloc(0), Buffer.from(p.payload)]);
    return p.cut === undefined ? full : full.subarray(0, p.cut % (full.length + 1));
  });

describe('fast RTP header parser (werift receive path)', () => {
  it('builds exactly what werift builds, or throws where werift throws (random and truncated packets)', () => {
    fc.assert(fc.property(packet, (buf) => same(buf)), { numRuns: 20_000 });
  });

  it('agrees on arbitrary bytes too', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => same(Buffer.from(bytes))), { numRuns: 20_000 });
  });

  it('round-trips what werift serializes, and once installed, RtpPacket.deSerialize uses it', () => {
    const h = new RtpHeader({ payloadType: 96, sequenceNumber: 65535, timestamp: 0xfffffff0, ssrc: 0xdeadbeef, marker: true });
    h.extensions.push({ id: 2, payload: Buffer.from([1, 2, 3]) }, { id: 9, payload: Buffer.from('0') });
    const bytes = new RtpPacket(h, Buffer.from('payload')).serialize();
    installFastRtpParser();
    assert.equal(RtpHeader.deSerialize, parseRtpHeader);
    const back = RtpPacket.deSerialize(bytes);
    assert.equal(back.header.ssrc, 0xdeadbeef);
    assert.equal(back.header.sequenceNumber, 65535);
    assert.deepEqual(back.header.extensions.map((e) => [e.id, [...e.payload]]), [[2, [1, 2, 3]], [9, [0x30]]]);
    assert.equal(back.payload.toString(), 'payload');
  });
});
