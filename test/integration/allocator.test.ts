/**
 * One bandwidth budget per subscriber (allocator.ts): a viewer of two simulcast videos whose
 * estimate fits one top layer does not get two; under a tighter estimate one video is paused
 * (the viewer is told) and it resumes when the estimate allows.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FacecastServer } from '../../src/server/facecast.js';
import { ESTIMATE_USE } from '../../src/sfu/subscriptions/layer-selector.js';
import { rembPacket } from '../../src/sfu/werift/rtcp.js';
import { startTestServer, waitFor } from '../helpers/server.js';
import { LAYERS, publishSimulcast, type SimulcastPublisher } from '../helpers/simulcast.js';
import { TestClient } from '../helpers/werift-client.js';

const bitrate = (rid: string | null) => LAYERS.find((l) => l.rid === rid)?.bitrate ?? 0;

describe('bandwidth allocator: two simulcast videos for one viewer (room workers)', () => {
  let server: FacecastServer;
  const publishers: SimulcastPublisher[] = [];
  let viewer: TestClient;
  let estimate = 0;
  let remb: NodeJS.Timeout | undefined;

  const subs = async () => {
    const bob = (await server.state()).peers.find((p) => p.name === 'bob')!;
    const named = (name: string) => bob.subscriptions.find((s) => s.kind === 'video' && ids.get(s.publisherId) === name)!;
    return { alice: named('alice'), carol: named('carol') };
  };
  const ids = new Map<string, string>();

  before(async () => {
    server = await startTestServer();
    publishers.push(await publishSimulcast(server.url, 'alloc', 'alice'), await publishSimulcast(server.url, 'alloc', 'carol'));
    for (const p of (await server.state()).peers) ids.set(p.id, p.name);
    viewer = new TestClient(server.url);
    await viewer.join('alloc', 'bob');
    await viewer.connect('recvonly');
    await waitFor(
      async () => (await server.state()).peers.find((p) => p.name === 'bob')?.subscriptions.filter((s) => s.kind === 'video' && s.packetsOut > 0).length === 2,
      8000,
      'both videos at the viewer',
    );
    for (const name of ['alice', 'carol']) viewer.send({ type: 'tile', name, width: 640, height: 480 });
    // Like a browser: a REMB every second for every SSRC it receives (the estimate lasts 5 s at the SFU).
    remb = setInterval(async () => {
      if (estimate <= 0) return;
      const bob = (await server.state()).peers.find((p) => p.name === 'bob');
      if (!bob) return;
      void viewer.pc.dtlsTransports[0]?.sendRtcp([
        rembPacket(
          1,
          estimate,
          bob.subscriptions.map((s) => s.ssrc),
        ),
      ]);
    }, 500);
  });

  after(async () => {
    clearInterval(remb);
    for (const p of publishers) {
      p.stop();
      await p.client.close();
    }
    await viewer?.close();
    await server?.close();
  });

  it('without an estimate both get the layer their tile needs (f)', async () => {
    await waitFor(
      async () => {
        const { alice, carol } = await subs();
        return alice.layer === 'f' && carol.layer === 'f';
      },
      6000,
      'f for both 480 px tiles',
    );
  });

  it('an estimate that fits one top layer, not two: neither gets f; their layers fit it together', async () => {
    // Usable: 1.35 Mbps. Two h (1.2 Mbps) fit; f (1.2) plus the other's q (0.3) do not.
    estimate = 1_350_000 / ESTIMATE_USE;
    await waitFor(
      async () => {
        const { alice, carol } = await subs();
        return alice.layer !== 'f' && carol.layer !== 'f';
      },
      6000,
      'neither on f',
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(await subs())}`);
    });
    await new Promise((r) => setTimeout(r, 1500)); // settled
    const { alice, carol } = await subs();
    console.log(`# 1.59 Mbps estimate for two 480 px tiles: alice ${alice.layer}, carol ${carol.layer}`);
    assert.notEqual(alice.layer, 'f');
    assert.notEqual(carol.layer, 'f');
    assert.ok(bitrate(alice.layer) + bitrate(carol.layer) <= 1_350_000, 'together within the usable estimate');
    assert.ok(alice.layer === 'h' || carol.layer === 'h', 'one above q: the budget is used');
    assert.equal(alice.paused || carol.paused, false);
  });

  it("an estimate that fits one lowest layer: carol's video is paused and the viewer told; it resumes when the estimate grows", async () => {
    const from = viewer.messages.length;
    // Usable 250 kbps: enough to keep one q (300 kbps) going (a forwarded video is paused only
    // under half its lowest layer), not two.
    estimate = 250_000 / ESTIMATE_USE;
    const paused = await viewer
      .nextMessage((m) => m.type === 'track-paused', 8000, from)
      .catch(async (e: Error) => {
        throw new Error(`${e.message}: no track-paused; ${JSON.stringify(await subs())}`);
      });
    assert.deepEqual(paused, { type: 'track-paused', name: 'carol', kind: 'video', reason: 'bandwidth' }, 'the later one in name order, tiles being equal');
    await waitFor(async () => (await subs()).alice.layer === 'q', 6000, 'alice on q');
    const { alice, carol } = await subs();
    assert.equal(carol.paused, true);
    assert.equal(alice.paused, false);
    const before = (await subs()).carol.packetsOut;
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok((await subs()).carol.packetsOut - before < 5, 'nothing of carol forwarded while paused');

    estimate = 5_000_000;
    await viewer.nextMessage((m) => m.type === 'track-resumed', 6000, from);
    assert.ok(viewer.messages.slice(from).some((m) => m.type === 'track-resumed' && m.name === 'carol'));
    await waitFor(
      async () => {
        const s = await subs();
        return !s.carol.paused && s.carol.packetsOut > before + 30;
      },
      6000,
      'carol flowing again',
    );
    await waitFor(
      async () => {
        const s = await subs();
        return s.alice.layer === 'f' && s.carol.layer === 'f';
      },
      10_000,
      'both back on f',
    );
  });
});
