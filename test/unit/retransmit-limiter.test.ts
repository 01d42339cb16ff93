import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_RETRANSMIT_LIMITS, RetransmitLimiter, type SentRecord } from '../../src/sfu/subscriptions/retransmit-limiter.js';

const sent = (sentAt: number): SentRecord => ({ sentAt, resends: 0, lastResentAt: 0 });

describe('RetransmitLimiter', () => {
  it('resends a packet at most three times, and not again within one RTT of its last resend', () => {
    const limiter = new RetransmitLimiter();
    const p = sent(1000);
    assert.equal(limiter.admit(p, 1010, 50), null);
    assert.equal(limiter.admit(p, 1040, 50), 'too-soon', '30 ms after a resend, RTT 50 ms');
    assert.equal(limiter.admit(p, 1060, 50), null);
    assert.equal(limiter.admit(p, 1110, 50), null);
    assert.equal(limiter.admit(p, 1200, 50), 'too-many');
    assert.equal(p.resends, 3);
  });

  it('bounds the RTT window: 10 ms at least, 500 ms at most, 100 ms before any receiver report', () => {
    const limiter = new RetransmitLimiter();
    const a = sent(0);
    assert.equal(limiter.admit(a, 1, 0.1), null);
    assert.equal(limiter.admit(a, 8, 0.1), 'too-soon');
    assert.equal(limiter.admit(a, 12, 0.1), null);
    const b = sent(0);
    assert.equal(limiter.admit(b, 1, 5000), null);
    assert.equal(limiter.admit(b, 502, 5000), null);
    const c = sent(0);
    assert.equal(limiter.admit(c, 1, undefined), null);
    assert.equal(limiter.admit(c, 90, undefined), 'too-soon');
    assert.equal(limiter.admit(c, 102, undefined), null);
  });

  it('ignores NACKs for packets sent more than a second ago', () => {
    const limiter = new RetransmitLimiter();
    assert.equal(limiter.admit(sent(0), 1001, 20), 'too-old');
    assert.equal(limiter.admit(sent(0), 999, 20), null);
  });

  it('spends a budget of 10% of the forwarded packets, after a burst of 64', () => {
    const limiter = new RetransmitLimiter();
    let resent = 0;
    for (let i = 0; i < 100; i++) if (limiter.admit(sent(0), 1, 20) === null) resent++;
    assert.equal(resent, 64, 'the saved-up burst');
    assert.equal(limiter.admit(sent(0), 1, 20), 'over-budget');
    for (let i = 0; i < 100; i++) limiter.forwarded();
    resent = 0;
    for (let i = 0; i < 100; i++) if (limiter.admit(sent(0), 2, 20) === null) resent++;
    assert.equal(resent, 10, '100 forwarded earn 10');
  });

  it('says congested only when over budget in two consecutive seconds', () => {
    const limiter = new RetransmitLimiter({ ...DEFAULT_RETRANSMIT_LIMITS, budgetBurst: 1 });
    assert.equal(limiter.admit(sent(5000), 5000, 20), null);
    assert.equal(limiter.admit(sent(5000), 5000, 20), 'over-budget');
    assert.equal(limiter.congested(5000), false, 'one second over');
    assert.equal(limiter.admit(sent(6100), 6100, 20), 'over-budget');
    assert.equal(limiter.congested(6100), true, 'two seconds in a row');
    assert.equal(limiter.congested(7200), false, 'a second without refusals');
    assert.equal(limiter.admit(sent(9500), 9500, 20), 'over-budget');
    assert.equal(limiter.congested(9500), false, 'over again, but not in the second before');
  });

  it('property: resends never exceed the burst plus 10% of what was forwarded, nor 3 per packet', () => {
    const event = fc.oneof(
      fc.record({ kind: fc.constant('forward' as const), gap: fc.integer({ min: 0, max: 30 }) }),
      fc.record({
        kind: fc.constant('nack' as const),
        back: fc.integer({ min: 0, max: 400 }),
        gap: fc.integer({ min: 0, max: 30 }),
        rtt: fc.option(fc.integer({ min: 0, max: 800 }), { nil: undefined }),
      }),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 400 }), (events) => {
        const limiter = new RetransmitLimiter();
        const packets: SentRecord[] = [];
        let now = 0;
        let forwarded = 0;
        let resent = 0;
        for (const e of events) {
          now += e.gap;
          if (e.kind === 'forward') {
            packets.push(sent(now));
            limiter.forwarded();
            forwarded++;
            continue;
          }
          const p = packets[packets.length - 1 - e.back];
          if (!p) continue;
          const before = p.resends;
          const lastResentAt = p.lastResentAt;
          const verdict = limiter.admit(p, now, e.rtt);
          if (verdict === null) {
            resent++;
            assert.ok(now - p.sentAt <= 1000, 'never older than a second');
            if (before > 0) assert.ok(now - lastResentAt >= 10, 'never within the smallest RTT window');
          } else assert.equal(p.resends, before, 'a refusal changes nothing');
        }
        assert.ok(resent <= 64 + forwarded * 0.1 + 1e-9, `${resent} resends for ${forwarded} forwarded`);
        assert.ok(packets.every((p) => p.resends <= 3));
      }),
    );
  });
});
