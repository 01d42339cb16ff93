import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { KeyframeRequester } from '../../src/sfu/publications/keyframe-requester.js';

describe('KeyframeRequester', () => {
  it('sends at most one request per 500 ms however many come in', () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    try {
      let now = 0;
      let sent = 0;
      const k = new KeyframeRequester({ send: () => sent++, now: () => now });
      for (let t = 0; t < 2000; t += 50) {
        now = t;
        k.request();
        mock.timers.tick(50);
        if (t % 400 === 0) k.keyframeReceived();
      }
      assert.ok(sent <= 5, `2 s of requests every 50 ms sent ${sent}`);
      assert.ok(sent >= 3, `still sends regularly (${sent})`);
      k.close();
    } finally {
      mock.timers.reset();
    }
  });

  it('sends the first request at once, then retries every second until a keyframe arrives', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      let now = 0;
      let sent = 0;
      const k = new KeyframeRequester({ send: () => sent++, now: () => now });
      k.request();
      assert.equal(sent, 1);
      now = 1000;
      mock.timers.tick(1000);
      assert.equal(sent, 2, 'retried after 1 s');
      now = 2000;
      mock.timers.tick(1000);
      assert.equal(sent, 3, 'retried again');
      k.keyframeReceived();
      now = 5000;
      mock.timers.tick(3000);
      assert.equal(sent, 3, 'no retry once the keyframe came');
      assert.equal(k.pending, false);
    } finally {
      mock.timers.reset();
    }
  });

  it('a request inside the interval is deferred, not lost', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      let now = 0;
      let sent = 0;
      const k = new KeyframeRequester({ send: () => sent++, now: () => now });
      k.request();
      k.keyframeReceived();
      now = 100;
      k.request();
      assert.equal(sent, 1, 'not yet: only 100 ms since the last');
      now = 500;
      mock.timers.tick(400);
      assert.equal(sent, 2, 'sent when the interval allowed');
      k.close();
      now = 3000;
      mock.timers.tick(3000);
      assert.equal(sent, 2, 'close stops retries');
    } finally {
      mock.timers.reset();
    }
  });
});
