import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RTP_EXTENSION_URI, RtpHeader, serializeAbsSendTime, serializeTransportWideCC, type RTCRtpSender } from 'werift';
import { absSendTime, ntpFromUnixMs, RtpWriter } from '../../src/sfu/werift/rtp-writer.js';
import { SenderReportState } from '../../src/sfu/werift/sender.js';

/** A sender as werift has it after negotiation: the fields the writer reads. */
interface FakeSender {
  headerExtensions: { id: number; uri: string }[];
  mid: string;
  dtlsTransport: { transportSequenceNumber: number };
  ntpTimestamp?: bigint;
}
function fakeSender(mid: string, extensions: { id: number; uri: string }[]): FakeSender {
  return { headerExtensions: extensions, mid, dtlsTransport: { transportSequenceNumber: 100 } };
}
const asSender = (s: FakeSender) => s as unknown as RTCRtpSender;

const EXTS = [
  { id: 4, uri: RTP_EXTENSION_URI.sdesMid },
  { id: 2, uri: RTP_EXTENSION_URI.absSendTime },
  { id: 3, uri: RTP_EXTENSION_URI.transportWideCC },
];

describe('RtpWriter (the forwarding fast path)', () => {
  it('writes the same header bytes as werift for any fields, mid and extension set', () => {
    fc.assert(
      fc.property(
        fc.record({
          ssrc: fc.integer({ min: 0, max: 0xffffffff }),
          payloadType: fc.integer({ min: 0, max: 127 }),
          seq: fc.integer({ min: 0, max: 0xffff }),
          timestamp: fc.integer({ min: 0, max: 0xffffffff }),
          marker: fc.boolean(),
        }),
        fc.stringMatching(/^[0-9a-z]{1,16}$/),
        fc.subarray(EXTS),
        fc.double({ min: 1.6e12, max: 2.2e12, noNaN: true }),
        (f, mid, exts, ms) => {
          const sender = fakeSender(mid, exts);
          const ours = new RtpWriter(asSender(sender)).header(f, ms, false)!;
          const theirs = new RtpHeader({ ssrc: f.ssrc, payloadType: f.payloadType, sequenceNumber: f.seq, timestamp: f.timestamp, marker: f.marker });
          let twcc = 100;
          for (const ext of exts) {
            if (ext.uri === RTP_EXTENSION_URI.sdesMid) theirs.extensions.push({ id: ext.id, payload: Buffer.from(mid) });
            if (ext.uri === RTP_EXTENSION_URI.absSendTime) theirs.extensions.push({ id: ext.id, payload: serializeAbsSendTime(ntpFromUnixMs(ms)) });
            if (ext.uri === RTP_EXTENSION_URI.transportWideCC) theirs.extensions.push({ id: ext.id, payload: serializeTransportWideCC(++twcc) });
          }
          theirs.extension = theirs.extensions.length > 0;
          assert.deepEqual(ours, theirs.serialize(theirs.serializeSize));
          assert.equal(sender.dtlsTransport.transportSequenceNumber, twcc);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("abs-send-time from Unix ms equals werift's from NTP time (NTP's epoch offset is a multiple of 64 s)", () => {
    fc.assert(
      fc.property(fc.double({ min: 1.6e12, max: 2.2e12, noNaN: true }), (ms) => {
        assert.equal(absSendTime(ms), serializeAbsSendTime(ntpFromUnixMs(ms)).readUIntBE(0, 3));
      }),
    );
    // 2026-01-01T00:00:00.5Z: NTP seconds 3976214400, fraction 2^31.
    assert.equal(ntpFromUnixMs(Date.UTC(2026, 0, 1) + 500), (3_976_214_400n << 32n) | (1n << 31n));
  });

  it("hands werift's sender reports the NTP time of the last packet sent, not of a retransmission", () => {
    const sender = { ...fakeSender('0', EXTS), rtpTimestamp: 0, packetCount: 0, octetCount: 0, rtcpRunning: true };
    const reports = new SenderReportState(asSender(sender));
    const at = Date.UTC(2026, 0, 1) + 500;
    reports.sent(1234, 100, at, false);
    assert.equal(sender.ntpTimestamp, (3_976_214_400n << 32n) | (1n << 31n));
    sender.ntpTimestamp = 5n; // werift's own assignment is ignored
    assert.equal(sender.ntpTimestamp, (3_976_214_400n << 32n) | (1n << 31n));
    reports.sent(1000, 100, at + 5000, true);
    assert.deepEqual([sender.rtpTimestamp, sender.packetCount, sender.octetCount, reports.lastSentMs], [1234, 1, 100, at]);
  });

  it('writes the two-byte form (RFC 8285) like werift when an id is over 14, and sets the padding bit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 15, max: 255 }), fc.stringMatching(/^[0-9a-z]{1,20}$/), fc.boolean(), (id, mid, padding) => {
        const exts = [
          { id, uri: RTP_EXTENSION_URI.absSendTime },
          { id: 1, uri: RTP_EXTENSION_URI.sdesMid },
        ];
        const ms = Date.UTC(2026, 0, 1) + 123;
        const ours = new RtpWriter(asSender(fakeSender(mid, exts))).header({ ssrc: 7, payloadType: 96, seq: 9, timestamp: 11, marker: true }, ms, padding);
        const theirs = new RtpHeader({ ssrc: 7, payloadType: 96, sequenceNumber: 9, timestamp: 11, marker: true, padding, extensionProfile: 0x1000 });
        theirs.extensions.push({ id, payload: serializeAbsSendTime(ntpFromUnixMs(ms)) }, { id: 1, payload: Buffer.from(mid) });
        theirs.extension = true;
        assert.deepEqual(ours, theirs.serialize(theirs.serializeSize));
      }),
    );
  });

  it('follows a renegotiation: new extensions or a new mid change the next header (the layout is cached per set)', () => {
    const sender = fakeSender('0', [{ id: 4, uri: RTP_EXTENSION_URI.sdesMid }]);
    const writer = new RtpWriter(asSender(sender));
    const f = { ssrc: 7, payloadType: 96, seq: 9, timestamp: 11, marker: false };
    const first = writer.header(f, 0);
    assert.equal(first.subarray(16, 18).toString('latin1'), '\x400', 'mid "0" with id 4');
    sender.mid = '12';
    assert.equal(writer.header(f, 0).subarray(17, 19).toString('latin1'), '12', 'the new mid');
    sender.headerExtensions = [{ id: 3, uri: RTP_EXTENSION_URI.transportWideCC }];
    const twcc = writer.header(f, 0);
    assert.equal(twcc[16], (3 << 4) | 1, 'transport-cc alone now');
    assert.equal(twcc.readUInt16BE(17), 101, 'and its sequence advanced');
    sender.headerExtensions = [];
    assert.equal(writer.header(f, 0).length, 12, 'no extensions: a bare header');
  });
});
