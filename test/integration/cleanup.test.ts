import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { MediaStreamTrack } from 'werift';
import { describe, it } from 'node:test';
import { startTestServer, waitFor } from '../helpers/server.js';
import { Vp8Source } from '../helpers/vp8-source.js';
import { TestClient } from '../helpers/werift-client.js';

/** Live handles by type (UDP sockets, TCP sockets, timers...). */
function resources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}

/**
 * Waits (up to 10 s, for closing sockets and cancelled timers) until no more UDP sockets and
 * at most 2 more timers are live than at `baseline`, then asserts it; returns what is live.
 */
async function backToBaseline(baseline: Record<string, number>): Promise<Record<string, number>> {
  const settled = await waitFor(
    () => {
      const now = resources();
      return (now.UDPWrap ?? 0) <= (baseline.UDPWrap ?? 0) && (now.Timeout ?? 0) <= (baseline.Timeout ?? 0) + 2 ? now : undefined;
    },
    10_000,
    'handles back to baseline',
  ).catch(() => resources());
  assert.ok((settled.UDPWrap ?? 0) <= (baseline.UDPWrap ?? 0), `UDP sockets: ${JSON.stringify(baseline)} -> ${JSON.stringify(settled)}`);
  assert.ok((settled.Timeout ?? 0) <= (baseline.Timeout ?? 0) + 2, `timers: ${JSON.stringify(baseline)} -> ${JSON.stringify(settled)}`);
  return settled;
}

describe('connect/disconnect cycles leave nothing behind', () => {
  it('20 echo calls, each closed by the client: no peers, UDP sockets or timers left', async () => {
    // Counts this thread's UDP sockets, timers and Participant objects: rooms in this thread (workers: 0).
    const server = await startTestServer({ workers: 0 });
    try {
      const baseline = resources();
      for (let i = 0; i < 20; i++) {
        const client = new TestClient(server.url);
        await client.connect();
        const source = new Vp8Source();
        for (let f = 0; f < 3; f++) for (const p of source.nextFrame()) client.sendRtp(p);
        await waitFor(async () => (await server.state()).peers[0]?.packetsIn, 2000, 'packets in');
        // Alternate between a clean close and a vanished client.
        if (i % 2) client.ws.terminate();
        await client.close();
        await waitFor(async () => (await server.state()).peers.length === 0, 10_000, `peer ${i} removed`);
      }
      const settled = await backToBaseline(baseline);
      assert.equal(server.participants.size, 0);
      console.log(`resources before ${JSON.stringify(baseline)} after ${JSON.stringify(settled)}`);
    } finally {
      await server.close();
    }
  });
});

describe('calls with several m-lines (two videos and a data channel, like a room page) leave nothing behind', () => {
  it('10 such calls in a room, each closed by the client: no UDP sockets or timers left, client side or server side', async () => {
    // Rooms in this thread (workers: 0): the count covers the server's sockets and the clients'.
    const server = await startTestServer({ workers: 0 });
    try {
      const baseline = resources();
      for (let i = 0; i < 10; i++) {
        const client = new TestClient(server.url);
        client.pc.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' });
        client.openDataChannel();
        await client.join('multi', `m${i}`);
        await client.connect();
        await client.close();
        await waitFor(async () => (await server.state()).peers.length === 0, 10_000, `peer ${i} removed`);
      }
      await backToBaseline(baseline);
    } finally {
      await server.close();
    }
  });
});

describe('room churn', () => {
  it('200 join/leave cycles next to a live call leave no peers, tracks, timers or sockets behind', async () => {
    const server = await startTestServer({ reconnectGrace: 200 });
    const baseline = resources();
    const resident = new TestClient(server.url);
    try {
      await resident.join('churn', 'resident');
      await resident.connect();
      const source = new Vp8Source();
      const t0 = performance.now();
      for (let i = 0; i < 200; i++) {
        const c = new TestClient(server.url);
        await c.join('churn', `visitor-${i % 7}`);
        await c.connect();
        for (const p of source.nextFrame()) c.sendRtp(p);
        if (i % 3 === 0) c.ws.terminate(); // some vanish without a goodbye
        await c.close();
      }
      const took = performance.now() - t0;
      await waitFor(async () => (await server.state()).peers.length === 1, 10_000, 'only the resident left');
      await waitFor(
        async () => resident.pc.signalingState === 'stable' && (await server.state()).peers[0]!.subscriptions.length === 0,
        10_000,
        'the resident unsubscribed from every visitor',
      );
      const state = await server.state();
      assert.deepEqual(
        state.rooms.map((r) => ({ name: r.name, participants: r.participants })),
        [{ name: 'churn', participants: [state.peers[0]!.id] }],
      );
      assert.equal(state.peers[0]!.name, 'resident');
      await resident.close();
      await waitFor(async () => (await server.state()).peers.length === 0 && (await server.state()).rooms.length === 0, 10_000, 'an empty server');
      const settled = await backToBaseline(baseline);
      console.log(`churn: 200 cycles in ${(took / 1000).toFixed(1)} s; resources before ${JSON.stringify(baseline)} after ${JSON.stringify(settled)}`);
    } finally {
      await resident.close();
      await server.close();
    }
  });
});

describe('departed participants are garbage', () => {
  it('after 40 join/leave cycles at most the last couple of participants are still reachable (WeakRef + full GC)', async () => {
    v8.setFlagsFromString('--expose_gc');
    const gc = vm.runInNewContext('gc') as () => void;
    // Holds WeakRefs to the Participant objects: rooms in this thread (workers: 0).
    const server = await startTestServer({ reconnectGrace: 200, workers: 0 });
    const resident = new TestClient(server.url, { keep: false });
    const refs: WeakRef<object>[] = [];
    try {
      await resident.join('gc', 'resident');
      await resident.connect();
      const source = new Vp8Source();
      for (let i = 0; i < 40; i++) {
        const c = new TestClient(server.url, { keep: false });
        await c.join('gc', `visitor-${i % 5}`);
        await c.connect();
        for (const p of server.participants.values()) if (p.name === `visitor-${i % 5}`) refs.push(new WeakRef(p));
        for (const p of source.nextFrame()) c.sendRtp(p);
        if (i % 3 === 0) c.ws.terminate();
        await c.close();
      }
      await waitFor(async () => (await server.state()).peers.length === 1, 10_000, 'only the resident left');
      await new Promise((r) => setTimeout(r, 1500)); // the departure grace, then the last close
      for (let i = 0; i < 4; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 100));
      }
      const alive = refs.filter((r) => r.deref() !== undefined).length;
      console.log(`# ${refs.length} departed participants, ${alive} still reachable after GC`);
      assert.ok(alive <= 3, `${alive} of ${refs.length} departed participants are still reachable`);
    } finally {
      await resident.close();
      await server.close();
    }
  });
});
