import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_MESSAGE_BYTES, parseClientMessage, ServerMessage } from '../../src/protocol/messages.js';

describe('signaling schema', () => {
  it('accepts every client message type', () => {
    for (const m of [
      { type: 'offer', sdp: 'v=0\r\n' },
      { type: 'answer', sdp: 'v=0\r\n' },
      { type: 'ice', candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 } },
      { type: 'ice', candidate: null },
      { type: 'negotiate' },
    ]) {
      const r = parseClientMessage(JSON.stringify(m));
      assert.ok(r.ok, JSON.stringify(m));
      assert.deepEqual(r.message, m);
    }
  });

  it('rejects malformed JSON, unknown types and wrong field types with a code and a sentence', () => {
    const cases: [string, string][] = [
      ['{not json', 'bad-json'],
      ['{"type":"hello"}', 'bad-message'],
      ['{"type":"offer","sdp":42}', 'bad-message'],
      ['{"type":"offer","sdp":""}', 'bad-message'],
      ['{"type":"ice"}', 'bad-message'],
      ['[]', 'bad-message'],
      ['null', 'bad-message'],
      ['"offer"', 'bad-message'],
    ];
    for (const [raw, code] of cases) {
      const r = parseClientMessage(raw);
      assert.equal(r.ok, false, raw);
      if (!r.ok) {
        assert.equal(r.code, code, raw);
        assert.ok(r.message.length > 10, `a readable message for ${raw}`);
      }
    }
  });

  it('names the offending field', () => {
    const r = parseClientMessage('{"type":"ice","candidate":{"candidate":5}}');
    assert.ok(!r.ok && r.message.includes('candidate.candidate'), JSON.stringify(r));
  });

  it('rejects messages over 64 KiB, counting UTF-8 bytes', () => {
    const big = JSON.stringify({ type: 'offer', sdp: 'é'.repeat(MAX_MESSAGE_BYTES / 2) });
    const r = parseClientMessage(big);
    assert.ok(!r.ok && r.code === 'too-large');
    const ok = parseClientMessage(JSON.stringify({ type: 'offer', sdp: 'a'.repeat(1000) }));
    assert.ok(ok.ok);
  });

  it('server messages validate with the shared schema', () => {
    assert.ok(ServerMessage.safeParse({ type: 'error', code: 'bad-sdp', message: 'x' }).success);
    assert.ok(!ServerMessage.safeParse({ type: 'error', code: 'nope', message: 'x' }).success);
    assert.ok(ServerMessage.safeParse({ type: 'welcome', peerId: 'abc' }).success);
  });
});
