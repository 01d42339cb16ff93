import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FIRST_RETRY_MS, MAX_RETRY_MS, PAUSE_AFTER_MS, PausePolicy, RESTART_GRACE_MS } from '../../src/sfu/subscriptions/pause-policy.js';

describe('PausePolicy (fake clock)', () => {
  it('no pause during the grace after a start, nor before "no room" has lasted PAUSE_AFTER_MS', () => {
    const p = new PausePolicy(0);
    assert.equal(p.decide(false, 100), 'lowest', 'in the grace');
    assert.equal(p.decide(false, RESTART_GRACE_MS - 1), 'lowest');
    assert.equal(p.decide(false, RESTART_GRACE_MS + 1), 'paused', 'no room since 100 ms: past the patience too');
    assert.equal(p.paused, true);
    const q = new PausePolicy(0);
    assert.equal(q.decide(false, RESTART_GRACE_MS + 10), 'lowest', 'first "no room": patience');
    assert.equal(q.decide(true, RESTART_GRACE_MS + 500), 'allotted', 'room again: the patience starts over');
    assert.equal(q.decide(false, RESTART_GRACE_MS + 600), 'lowest');
    assert.equal(q.decide(false, RESTART_GRACE_MS + 600 + PAUSE_AFTER_MS), 'paused');
  });

  it('a paused video is tried again after 2 s, then 4, 8 ... up to 30 s; room resumes it at once', () => {
    const p = new PausePolicy(-RESTART_GRACE_MS);
    let t = 0;
    p.decide(false, t);
    t += PAUSE_AFTER_MS;
    assert.equal(p.decide(false, t), 'paused');
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      const pausedAt = t;
      while (p.decide(false, (t += 100)) === 'paused');
      waits.push(t - pausedAt);
      assert.equal(p.paused, false, 'the retry unpauses');
      p.restarted(t);
      t += RESTART_GRACE_MS; // the retry's grace passes with no room
      assert.equal(p.decide(false, t), 'paused', 'still no room after the grace: paused again');
    }
    assert.deepEqual(
      waits.map((w) => Math.round(w / 1000)),
      [FIRST_RETRY_MS, 4000, 8000, 16_000, MAX_RETRY_MS, MAX_RETRY_MS].map((w) => w / 1000),
    );
    assert.equal(p.decide(true, t + 1), 'allotted', 'room: resumed');
    assert.equal(p.paused, false);
  });

  it('after holding for a while, the next pause waits the first delay again', () => {
    const p = new PausePolicy(-RESTART_GRACE_MS);
    p.decide(false, 0);
    assert.equal(p.decide(false, PAUSE_AFTER_MS), 'paused');
    assert.equal(p.decide(false, PAUSE_AFTER_MS + FIRST_RETRY_MS), 'lowest', 'retried');
    p.restarted(PAUSE_AFTER_MS + FIRST_RETRY_MS);
    assert.equal(p.decide(true, 60_000), 'allotted', 'held for long');
    p.decide(false, 60_100);
    assert.equal(p.decide(false, 60_100 + PAUSE_AFTER_MS), 'paused');
    assert.equal(p.decide(false, 60_100 + PAUSE_AFTER_MS + FIRST_RETRY_MS - 1), 'paused');
    assert.equal(p.decide(false, 60_100 + PAUSE_AFTER_MS + FIRST_RETRY_MS), 'lowest', 'the first delay again');
  });
});
