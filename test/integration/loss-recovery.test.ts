/**
 * Losses NACKs cannot repair: the SFU asks the publisher for a keyframe itself,
 * instead of leaving the subscriber frozen until its decoder gives up (Chromium: 3 s).
 *  - a packet lost on the way in that the subscriber keeps NACKing;
 *  - an outage: the publisher's packets stop, then resume with a jump in sequence numbers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GenericNack, RtcpTransportLayerFeedback } from 'werift';
import type { FacecastServer } from '../../src/server/facecast.js';
import { startTestServer, waitFor } from '../helpers/server.js';
import { Vp8Source } from '../helpers/vp8-source.js';
import { TestClient } from '../helpers/werift-client.js';

describe('keyframes for losses NACKs cannot repair (werift echo call)', () => {
  let server: FacecastServer;
  let client: TestClient;
  const source = new Vp8Source({ keyframeEvery: 1_000_000 });
  let timer: NodeJS.Timeout | undefined;
  /** Input sequence numbers not to send (lost before the SFU), and a pause. */
  const drop = new Set<number>();
  let paused = false;

  before(async () => {
    server = await startTestServer();
    client = new TestClient(server.url);
    await client.connect();
    client.pliListeners.push(() => source.requestKeyframe());
    let frames = 0;
    timer = setInterval(() => {
      if (frames++ > 600) return; // bounded: ~20 s
      for (const p of source.nextFrame()) {
        if (paused || drop.has(p.header.sequenceNumber)) continue; // lost on the way in
        client.sendRtp(p);
      }
    }, 33);
    await waitFor(() => client.received.length > 60, 5000, 'the echo flowing');
    await new Promise((r) => setTimeout(r, 1200)); // start-up keyframe requests settled
  });

  after(async () => {
    clearInterval(timer);
    await client?.close();
    await server?.close();
  });

  const me = async () => (await server.state()).peers[0]!;

  it('a packet the SFU never received, NACKed again after 250 ms: one keyframe request to the publisher', async () => {
    const plisBefore = client.pliReceived;
    const echoSsrc = client.received.at(-1)!.header.ssrc;
    // Drop one input packet a few frames ahead (its input seq: 10 after the frame made here);
    // on the echo it shows as a gap after `probe`, the last packet received so far.
    const seen = new Set(client.received.map((p) => p.header.sequenceNumber));
    const probe = client.received.at(-1)!.header.sequenceNumber;
    const frame = source.nextFrame();
    for (const p of frame) client.sendRtp(p);
    drop.add((frame.at(-1)!.header.sequenceNumber + 10) & 0xffff);
    await waitFor(
      () => client.received.some((p) => ((p.header.sequenceNumber - probe) & 0xffff) > 40 && ((p.header.sequenceNumber - probe) & 0xffff) < 0x8000),
      4000,
      'packets past the loss',
    );
    const got = new Set(client.received.map((p) => p.header.sequenceNumber));
    let missing = -1;
    for (let d = 1; d < 40; d++) {
      const s = (probe + d) & 0xffff;
      if (!got.has(s) && !seen.has(s)) missing = s;
    }
    assert.ok(missing >= 0, 'the dropped packet left a gap on the echo');
    const nack = () =>
      client.pc.dtlsTransports[0]!.sendRtcp([new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: echoSsrc, lost: [missing] }) })]);
    await nack();
    await new Promise((r) => setTimeout(r, 300));
    await nack();
    await waitFor(() => client.pliReceived > plisBefore, 2000, 'a keyframe request at the publisher');
    const sub = (await me()).subscriptions[0]!;
    assert.ok(sub.nackMisses >= 2, `misses ${sub.nackMisses}`);
    assert.equal(sub.keyframesForLoss, 1);
  });

  it('an outage (no packets for 1.5 s, then a jump in sequence numbers): a keyframe request as soon as packets resume', async () => {
    await new Promise((r) => setTimeout(r, 600)); // past the last request's 500 ms spacing
    const plisBefore = client.pliReceived;
    const gapsBefore = (await me()).tracks[0]!.gapsIn;
    paused = true;
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(client.pliReceived, plisBefore, 'nothing asked during the outage');
    paused = false;
    const resumedAt = performance.now();
    await waitFor(() => client.pliReceived > plisBefore, 2000, 'a keyframe request after the outage');
    const ms = performance.now() - resumedAt;
    console.log(`# outage: keyframe requested ${ms.toFixed(0)} ms after the publisher's packets resumed`);
    assert.ok(ms < 1000, `asked at once (${ms.toFixed(0)} ms), not by a retry timer`);
    assert.equal((await me()).tracks[0]!.gapsIn, gapsBefore + 1);
  });
});
