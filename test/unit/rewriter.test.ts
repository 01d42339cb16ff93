import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RtpRewriter } from '../../src/sfu/subscriptions/rewriter.js';
import { diff16, SeqUnwrapper } from '../../src/sfu/subscriptions/seq.js';

const A = { name: 'A' };
const B = { name: 'B' };

describe('RtpRewriter', () => {
  it('maps a source onto the chosen start, keeping deltas', () => {
    const r = new RtpRewriter(90000, 1000, 5000);
    assert.deepEqual(r.rewrite(A, 40000, 123456, 0), { seq: 1000, timestamp: 5000 });
    assert.deepEqual(r.rewrite(A, 40001, 126456, 33), { seq: 1001, timestamp: 8000 });
  });

  it('wraps sequence numbers and timestamps around', () => {
    const r = new RtpRewriter(90000, 0xfffe, 0xfffffff0);
    const out = [0, 1, 2, 3].map((i) => r.rewrite(A, 10 + i, 100 + i * 3000, i * 33)!);
    assert.deepEqual(
      out.map((o) => o.seq),
      [0xfffe, 0xffff, 0, 1],
    );
    assert.deepEqual(
      out.map((o) => o.timestamp),
      [0xfffffff0, 2984, 5984, 8984],
    );
  });

  it('handles the source itself wrapping', () => {
    const r = new RtpRewriter(90000, 500, 0);
    const seqs = [65534, 65535, 0, 1].map((s) => r.rewrite(A, s, 0, 0)!.seq);
    assert.deepEqual(seqs, [500, 501, 502, 503]);
  });

  it('preserves gaps (so the receiver can NACK) and reordering within a source', () => {
    const r = new RtpRewriter(90000, 100, 0);
    assert.equal(r.rewrite(A, 10, 0, 0)!.seq, 100);
    assert.equal(r.rewrite(A, 13, 0, 0)!.seq, 103); // 11, 12 lost
    assert.equal(r.rewrite(A, 12, 0, 0)!.seq, 102); // late arrival keeps its place
    assert.equal(r.lastSeq, 103);
  });

  it('continues seq and timestamp across a source switch, using elapsed time', () => {
    const r = new RtpRewriter(90000, 100, 1000);
    r.rewrite(A, 7, 50, 0);
    r.rewrite(A, 8, 3050, 33); // out ts 4000 at t=33ms
    const first = r.rewrite(B, 60000, 999999, 133)!; // 100 ms later
    assert.equal(first.seq, 102);
    assert.equal(first.timestamp, 4000 + 9000);
    const next = r.rewrite(B, 60001, 999999 + 3000, 166)!;
    assert.deepEqual(next, { seq: 103, timestamp: 16000 });
  });

  it('drops packets of the new source older than its first forwarded one', () => {
    const r = new RtpRewriter(90000, 0, 0);
    r.rewrite(A, 1, 0, 0);
    r.rewrite(B, 500, 0, 10);
    assert.equal(r.rewrite(B, 499, 0, 11), undefined);
    assert.equal(r.rewrite(B, 501, 0, 12)!.seq, 2);
  });

  it('a switch back to an earlier source continues too', () => {
    const r = new RtpRewriter(90000, 0, 0);
    r.rewrite(A, 10, 0, 0);
    r.rewrite(B, 20, 0, 0);
    assert.equal(r.rewrite(A, 11, 0, 0)!.seq, 2);
  });
});

describe('sequence helpers', () => {
  it('restart(): the same source after a pause continues at the next seq, no gap for what was left out', () => {
    const r = new RtpRewriter(90000, 1000, 5000);
    r.rewrite(A, 40000, 0, 0);
    r.rewrite(A, 40001, 3000, 33);
    r.restart();
    // 300 packets (about 10 s) were not forwarded: the stream goes on at 1002, its timestamp by the time elapsed.
    assert.deepEqual(r.rewrite(A, 40301, 903000, 10_033), { seq: 1002, timestamp: 5000 + 3000 + 900_000 });
    assert.deepEqual(r.rewrite(A, 40302, 906000, 10_066), { seq: 1003, timestamp: 5000 + 3000 + 903_000 });
  });

  it('diff16 is signed on the circle', () => {
    assert.equal(diff16(65535, 0), 1);
    assert.equal(diff16(0, 65535), -1);
    assert.equal(diff16(100, 100), 0);
  });
  it('unwraps across 0xffff and tolerates reordering', () => {
    const u = new SeqUnwrapper();
    const a = u.unwrap(65535);
    assert.equal(u.unwrap(0), a + 1);
    assert.equal(u.unwrap(65534), a - 1);
    assert.equal(u.unwrap(1), a + 2);
  });
});
