import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { leastLoaded, type NodeInfo, type NodeLoad, type NodeRecord, redactUrl } from '../../src/server/cluster/cluster.js';

const node = (id: string, load: Partial<NodeLoad>): NodeRecord => ({
  id,
  url: `http://127.0.0.1/${id}`,
  startedAt: 0,
  updatedAt: 0,
  load: { participants: 0, capacity: 10, rooms: 0, tracks: 0, packetsPerSecond: 0, cpu: 0, ...load },
  state: { rooms: [], peers: [] },
});
const info = (r: NodeRecord): NodeInfo => {
  const { state: _s, ...i } = r;
  return i;
};

describe('room placement: the least-loaded live node', () => {
  it('fewest participants; this node on a tie; CPU only by over half a core', () => {
    const self = node('self', { participants: 2 });
    assert.equal(leastLoaded([self, node('a', { participants: 1 }), node('b', { participants: 3 })], info(self)).id, 'a');
    assert.equal(leastLoaded([self, node('a', { participants: 2 })], info(self)).id, 'self', 'a tie stays here');
    assert.equal(leastLoaded([self, node('a', { participants: 2, cpu: -0.4 })], info(self)).id, 'self', 'CPU within half a core: a tie');
    const busy = node('self', { participants: 2, cpu: 1.2 });
    assert.equal(leastLoaded([busy, node('a', { participants: 2, cpu: 0.3 })], info(busy)).id, 'a', 'much less CPU wins a tie');
  });

  it('a full node gets no new room while another has room; all full: the least full', () => {
    const self = node('self', { participants: 10, capacity: 10 });
    assert.equal(leastLoaded([self, node('a', { participants: 30, capacity: 40 })], info(self)).id, 'a', 'a busier node that has room');
    const roomy = node('self', { participants: 5 });
    assert.equal(leastLoaded([roomy, node('a', { participants: 0, capacity: 0 })], info(roomy)).id, 'self', 'an empty node of capacity 0 is full');
    assert.equal(leastLoaded([self, node('a', { participants: 12, capacity: 10 })], info(self)).id, 'self');
  });

  it('Redis URLs in log lines hide the password', () => {
    assert.equal(redactUrl('redis://:hunter2@r.example:6379/1'), 'redis://:***@r.example:6379/1');
    assert.equal(redactUrl('rediss://user:pw@r.example'), 'rediss://user:***@r.example');
    assert.equal(redactUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
  });
});
