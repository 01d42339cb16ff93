import assert from 'node:assert/strict';
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

describe('connect/disconnect cycles leave nothing behind', () => {
  it('20 echo calls, each closed by the client: no peers, UDP sockets or timers left', async () => {
    const server = await startTestServer();
    try {
      const baseline = resources();
      for (let i = 0; i < 20; i++) {
        const client = new TestClient(server.url);
        await client.connect();
        const source = new Vp8Source();
        for (let f = 0; f < 3; f++) for (const p of source.nextFrame()) client.sendRtp(p);
        await waitFor(() => server.state().peers[0]?.packetsIn, 2000, 'packets in');
        // Alternate between a clean close and a vanished client.
        if (i % 2) client.ws.terminate();
        await client.close();
        await waitFor(() => server.state().peers.length === 0, 10_000, `peer ${i} removed`);
      }
      // Let closing sockets and cancelled timers settle.
      const settled = await waitFor(
        () => {
          const now = resources();
          return (now.UDPWRAP ?? 0) <= (baseline.UDPWRAP ?? 0) && (now.Timeout ?? 0) <= (baseline.Timeout ?? 0) + 2 ? now : undefined;
        },
        10_000,
        'handles back to baseline',
      ).catch(() => resources());
      assert.ok((settled.UDPWRAP ?? 0) <= (baseline.UDPWRAP ?? 0), `UDP sockets: ${JSON.stringify(baseline)} -> ${JSON.stringify(settled)}`);
      assert.ok((settled.Timeout ?? 0) <= (baseline.Timeout ?? 0) + 2, `timers: ${JSON.stringify(baseline)} -> ${JSON.stringify(settled)}`);
      assert.equal(server.participants.size, 0);
      console.log(`resources before ${JSON.stringify(baseline)} after ${JSON.stringify(settled)}`);
    } finally {
      await server.close();
    }
  });
});
