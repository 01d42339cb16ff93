import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServerState } from '../../src/server/facecast.js';
import { renderStateTable } from '../../src/server/state-table.js';

const peer = (id: string, name: string, subscriptions: ServerState['peers'][number]['subscriptions']): ServerState['peers'][number] => ({
  id,
  name,
  room: 'lobby',
  echo: false,
  connectionState: 'connected',
  iceConnectionState: 'connected',
  dtlsState: 'connected',
  signalingState: 'stable',
  codec: 'video/VP8',
  tracks: [],
  subscriptions,
  faces: null,
  data: { messagesIn: 0, messagesDropped: 0, messagesOut: 0 },
  packetsIn: 12345,
  bytesIn: 2_500_000,
  packetsOut: 10,
  bytesOut: 1000,
  keyframeRequestsForwarded: 3,
  keyframeRequestsReceived: 4,
  nacksReceived: 0,
  nacksAnswered: 2,
  retransmissions: 5,
  retransmissionsRefused: 0,
  ageMs: 61_000,
});

describe('facecast state table', () => {
  it('shows every peer, its subscriptions with layer and estimate, and the totals', () => {
    const sub = {
      trackId: 't1',
      publisherId: 'bbbb',
      kind: 'video',
      ssrc: 42,
      layer: 'h',
      layerSwitches: 2,
      paused: false,
      packetsOut: 20_000,
      bytesOut: 1,
      keyframeRequestsIn: 0,
      nacksIn: 0,
      nacksAnswered: 0,
      retransmissions: 1,
      nackMisses: 0,
      rtxRefusedTooOld: 0,
      rtxRefusedTooMany: 0,
      rtxRefusedTooSoon: 0,
      rtxRefusedOverBudget: 0,
      rtxCongestion: 0,
      keyframesForLoss: 0,
      estimateBps: 512_000,
    };
    const text = renderStateTable({ uptimeMs: 5_000, rooms: [{ name: 'lobby', participants: ['aaaa', 'bbbb'] }], peers: [peer('aaaa', 'alice', [sub]), peer('bbbb', 'bob', [])] });
    const lines = text.split('\n');
    assert.match(lines[0]!, /^PEER\s+NAME\s+ROOM/);
    assert.match(lines[1]!, /^aaaa\s+alice\s+lobby\s+connected/);
    assert.match(lines[1]!, /12\.3k/, 'packet counts are humanized');
    assert.ok(lines.includes('  aaaa <- bbbb video layer h (2 switches) ssrc 42: 20.0k pkts, 1 rtx, estimate 512 kbps'), text);
    assert.equal(lines.at(-1), '1 room(s), 2 peer(s), up 5s');
  });
});
