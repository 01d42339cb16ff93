import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageRateLimiter } from '../../src/server/rate-limit.js';

describe('MessageRateLimiter (token bucket, fake clock)', () => {
  it('takes a burst, then the rate; warns once a second; disconnects after 10 s worth of drops', () => {
    let now = 0;
    const limiter = new MessageRateLimiter(10, 20, () => now);
    const verdicts = Array.from({ length: 25 }, () => limiter.take());
    assert.equal(verdicts.filter((v) => v.accept).length, 20, 'the burst');
    assert.deepEqual(
      verdicts.slice(20).map((v) => v.warn),
      [true, false, false, false, false],
      'one warning',
    );
    now += 500; // 5 tokens back
    assert.equal(Array.from({ length: 8 }, () => limiter.take()).filter((v) => v.accept).length, 5);
    now += 600;
    const afterSecond = Array.from({ length: 10 }, () => limiter.take()).filter((v) => !v.accept);
    assert.equal(afterSecond.filter((v) => v.warn).length, 1, 'a new warning after a second');
    let disconnect = false;
    for (let i = 0; i < 200 && !disconnect; i++) disconnect = limiter.take().disconnect;
    assert.ok(disconnect, 'a flood is told to disconnect');
    assert.ok(limiter.dropped > 100);
  });

  it('rate 0 accepts everything', () => {
    const limiter = new MessageRateLimiter(0);
    assert.ok(Array.from({ length: 10_000 }, () => limiter.take()).every((v) => v.accept));
  });
});
