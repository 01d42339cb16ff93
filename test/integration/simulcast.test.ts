import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RtcpPayloadSpecificFeedback, type RtpPacket } from 'werift';
import { PSFB_REMB, rembPacket } from '../../src/sfu/werift/rtcp.js';
import type { FacecastServer } from '../../src/server/facecast.js';
import { startTestServer, waitFor } from '../helpers/server.js';
import { LAYERS, publishSimulcast, type SimulcastPublisher } from '../helpers/simulcast.js';
import { TestClient } from '../helpers/werift-client.js';

/** Width in a VP8 keyframe's first packet (S bit, key-frame bit clear, start code 9d 01 2a), else 0. */
const frameWidth = (p: RtpPacket) => {
  const b = p.payload;
  const keyframeStart = b.length >= 12 && (b[0]! & 0x10) !== 0 && (b[4]! & 0x01) === 0 && b[7] === 0x9d && b[8] === 0x01 && b[9] === 0x2a;
  return keyframeStart ? b.readUInt16LE(10) & 0x3fff : 0;
};

describe('simulcast: three rid layers, one chosen per subscriber by tile size, switched on keyframes', () => {
  let server: FacecastServer;
  let publisher: SimulcastPublisher;
  let pub: TestClient;
  let viewer: TestClient;

  before(async () => {
    server = await startTestServer();
    publisher = await publishSimulcast(server.url, 'sim', 'alice');
    pub = publisher.client;
    viewer = new TestClient(server.url);
    await viewer.join('sim', 'bob');
    await viewer.connect('recvonly');
  });

  after(async () => {
    publisher?.stop();
    await pub?.close();
    await viewer?.close();
    await server?.close();
  });

  it('the SFU receives all three layers as one published track', async () => {
    await waitFor(async () => (await server.state()).peers.find((p) => p.name === 'alice')?.tracks.length === 3, 5000, 'three layers');
    const alice = (await server.state()).peers.find((p) => p.name === 'alice')!;
    assert.deepEqual(
      alice.tracks.map((t) => t.packetsIn > 0),
      [true, true, true],
    );
    const bob = (await server.state()).peers.find((p) => p.name === 'bob')!;
    assert.equal(bob.subscriptions.length, 1, 'one subscription for the three layers');
  });

  it('forwards the highest layer by default, then the one that fits a small tile, with seq continuous', async () => {
    await waitFor(async () => (await server.state()).peers.find((p) => p.name === 'bob')?.subscriptions[0]?.layer === 'f', 5000, 'layer f');
    // The forwarder may start on another layer and switch to f at f's keyframe: packets from
    // before that can still be on their way (or be resent) after the state says f. So the
    // window is by sequence number: from the layer f keyframe on, not from a packet count.
    const fKeyframe = () => viewer.received.find((p) => frameWidth(p) === 640);
    await waitFor(() => fKeyframe() !== undefined, 4000, 'a layer f keyframe at the viewer');
    const base = fKeyframe()!.header.sequenceNumber;
    const offset = (p: RtpPacket) => (p.header.sequenceNumber - base) & 0xffff;
    /** Packets from the f keyframe on, one per sequence number (a resent one counts once), in order. */
    const window = () => {
      const bySeq = new Map<number, RtpPacket>();
      for (const p of viewer.received) if (offset(p) < 0x8000) bySeq.set(offset(p), p);
      return [...bySeq.entries()].sort((a, b) => a[0] - b[0]).map(([, p]) => p);
    };
    viewer.send({ type: 'tile', name: 'alice', width: 160, height: 120 });
    await waitFor(async () => (await server.state()).peers.find((p) => p.name === 'bob')?.subscriptions[0]?.layer === 'q', 4000, 'layer q');
    const qKeyframeAt = () => window().findIndex((p) => frameWidth(p) === 160);
    await waitFor(async () => qKeyframeAt() >= 0 && window().length > qKeyframeAt() + 40, 6000, 'a layer q keyframe and 40 packets after it').catch(async (e: Error) => {
      throw new Error(
        `${e.message}: ${window().length} packets from the f keyframe of ${viewer.received.length}; transceivers ${JSON.stringify(viewer.pc.getTransceivers().map((t) => [t.mid, t.direction, t.currentDirection]))}; remote ${viewer.pc.remoteDescription?.sdp
          .split('\r\n')
          .filter((l) => /^(m=|a=mid|a=extmap|a=ssrc:.*cname|a=send|a=recv)/.test(l))
          .join(' ')}; state ${JSON.stringify((await server.state()).peers.find((p) => p.name === 'bob')!.subscriptions)}`,
      );
    });
    const got = window();
    // Loopback can drop a packet in a burst; the viewer NACKs and the SFU resends it. So: no gap
    // once retransmissions are counted, and no jump at the switch.
    const span = offset(got.at(-1)!);
    for (let d = 0; d <= span; d++)
      assert.ok(
        got.some((p) => offset(p) === d),
        `seq ${(base + d) & 0xffff} received (continuous across the switch)`,
      );
    assert.equal(span + 1, got.length, 'one packet per sequence number, no jump');
    const widths = got.map(frameWidth).filter((w) => w > 0);
    assert.ok(widths.includes(160), `keyframes of layer q arrive after the switch: ${[...new Set(widths)]}`);
    // Frame by frame, in sequence order: layer f up to the q keyframe, nothing but q from it on.
    // A keyframe says its layer by its width; a delta frame by its size (layers differ in bitrate).
    const frames: { layer: string; seq: number }[] = [];
    let bytes = 0;
    let width = 0;
    for (const p of got) {
      if (bytes === 0) width = frameWidth(p);
      bytes += p.payload.length;
      if (!p.header.marker) continue;
      const delta = (bitrate: number) => Math.abs(bytes - (bitrate / 8 / 30) * 0.9) < 200;
      const layer = width ? LAYERS.find((l) => l.width === width)?.rid : LAYERS.find((l) => delta(l.bitrate))?.rid;
      frames.push({ layer: `${layer ?? '?'}${width ? ' key' : ''}`, seq: p.header.sequenceNumber });
      bytes = 0;
    }
    const firstQ = frames.findIndex((f) => f.layer === 'q key');
    const shown = frames.map((f) => `${f.seq}:${f.layer}`).join(' ');
    assert.ok(
      frames.slice(0, firstQ).every((f) => f.layer.startsWith('f')),
      `layer f before the q keyframe: ${shown}`,
    );
    assert.ok(
      frames.slice(firstQ).every((f) => f.layer.startsWith('q')),
      `nothing but layer q from its keyframe on: ${shown}`,
    );
    const sub = (await server.state()).peers.find((p) => p.name === 'bob')!.subscriptions[0]!;
    assert.ok(sub.layerSwitches >= 2, `switches: ${sub.layerSwitches}`);
    console.log(`simulcast: f -> q on a 120 px tile; ${sub.layerSwitches} switches, seq continuous over ${got.length} packets`);
  });

  it('switches up again for a big tile', async () => {
    viewer.send({ type: 'tile', name: 'alice', width: 640, height: 480 });
    await waitFor(async () => (await server.state()).peers.find((p) => p.name === 'bob')?.subscriptions[0]?.layer === 'f', 4000, 'layer f again');
  });

  it("a subscriber's REMB estimate picks its layer, and the publisher gets a REMB summary", async () => {
    const rembsAtPublisher: number[] = [];
    const { unSubscribe } = pub.pc.dtlsTransports[0]!.onRtcp.subscribe((packet) => {
      if (packet instanceof RtcpPayloadSpecificFeedback && packet.feedback.count === PSFB_REMB) {
        rembsAtPublisher.push(Number((packet.feedback as { bitrate: bigint }).bitrate));
      }
    });
    try {
      const bob = async () => (await server.state()).peers.find((p) => p.name === 'bob')!.subscriptions[0]!;
      await waitFor(async () => (await bob()).layer === 'f', 4000, 'layer f for the big tile');
      const sendRemb = async (bps: number) => void viewer.pc.dtlsTransports[0]!.sendRtcp([rembPacket(1, bps, [(await bob()).ssrc])]);
      // 100 kbps fits none of the layers (each is several hundred kbps here): the video is paused
      // and the viewer told; 450 kbps fits the lowest layer (300 kbps): it resumes there.
      const from = viewer.messages.length;
      await sendRemb(100_000);
      const paused = await viewer.nextMessage((m) => m.type === 'track-paused', 4000, from);
      assert.deepEqual(paused, { type: 'track-paused', name: 'alice', kind: 'video', reason: 'bandwidth' });
      assert.equal((await bob()).paused, true);
      assert.equal((await bob()).estimateBps, 100_000);
      const before = (await bob()).packetsOut;
      await new Promise((r) => setTimeout(r, 500));
      assert.ok((await bob()).packetsOut - before < 5, 'nothing forwarded while paused (a packet already queued at most)');
      await sendRemb(450_000);
      await viewer.nextMessage((m) => m.type === 'track-resumed', 4000, from);
      await waitFor(async () => (await bob()).layer === 'q' && !(await bob()).paused, 4000, 'resumed on layer q under a 450 kbps estimate');
      await sendRemb(100_000);
      // The publisher hears what its subscriber can take (never below 150 kbps).
      await waitFor(() => rembsAtPublisher.at(-1) === 150_000, 3000, 'a REMB of 150 kbps at the publisher');
      assert.ok((await bob()).nackMisses < 5, `no sequence gap for what the pause left out (viewer NACKed ${(await bob()).nackMisses} packets the SFU never had)`);
      const alice = (await server.state()).peers.find((p) => p.name === 'alice')!;
      assert.ok(
        alice.tracks.some((t) => t.rembSentBps === 150_000),
        'state shows the REMB sent',
      );
      // Plenty of bandwidth: back up to the tile's layer, and the summary follows.
      await sendRemb(20_000_000);
      // Up for bandwidth waits until the last switch is 4 s old (no flapping near a layer's bitrate).
      await sendRemb(20_000_000);
      await waitFor(async () => (await bob()).layer === 'f', 9000, 'layer f under a 20 Mbps estimate').catch(async (e) => {
        throw new Error(e.message + JSON.stringify(await bob()));
      });
      await waitFor(() => rembsAtPublisher.at(-1)! > 10_000_000, 3000, 'the publisher told about 20 Mbps');
      console.log(`# REMB: 100 kbps -> paused, 450 kbps -> layer q, publisher told 150 kbps; 20 Mbps -> layer f, publisher told ${rembsAtPublisher.at(-1)} bps`);
    } finally {
      unSubscribe();
    }
  });
});
