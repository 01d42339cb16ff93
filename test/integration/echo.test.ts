import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GenericNack, RtcpTransportLayerFeedback, type RtpPacket } from 'werift';
import type { FacecastServer } from '../../src/server/facecast.js';
import { startTestServer, waitFor } from '../helpers/server.js';
import { Vp8Source } from '../helpers/vp8-source.js';
import { TestClient } from '../helpers/werift-client.js';

const payloadKey = (p: RtpPacket) => p.payload.toString('base64');

describe('echo through the SFU (werift client, real signaling, 127.0.0.1)', () => {
  let server: FacecastServer;
  let client: TestClient;
  let source: Vp8Source;
  const sent = new Map<string, RtpPacket>();
  let timer: NodeJS.Timeout;
  let firstSentAt = 0;

  before(async () => {
    server = await startTestServer();
    client = new TestClient(server.url);
    await client.connect();
    source = new Vp8Source({ keyframeEvery: 1_000_000, startWithKeyframe: false });
    client.pliListeners.push(() => source.requestKeyframe());
    let frames = 0;
    firstSentAt = performance.now();
    timer = setInterval(() => {
      if (frames++ > 150) return; // bounded: ~5 s of video
      for (const p of source.nextFrame()) {
        sent.set(payloadKey(p), p.clone());
        client.sendRtp(p);
      }
    }, 33);
  });

  after(async () => {
    clearInterval(timer);
    await client?.close();
    await server?.close();
  });

  it('asks for a keyframe when the echo starts and echoes within a second', async () => {
    // The publisher starts with delta frames only: the echo can start only on a keyframe the server asked for.
    await waitFor(() => client.received.length > 0, 2000, 'first echoed packet');
    const firstEchoMs = performance.now() - firstSentAt;
    assert.ok(firstEchoMs < 1000, `echo started ${firstEchoMs.toFixed(0)} ms after publishing`);
    assert.ok(client.pliReceived >= 1, 'the server sent a PLI to the publisher at echo start');
    const first = client.received[0]!;
    assert.equal(first.payload[4], 0x10, 'the first echoed packet starts a keyframe');
  });

  it('echoes identical payloads with a rewritten SSRC and continuous sequence numbers', async () => {
    await waitFor(() => client.received.length >= 300, 8000, '300 echoed packets');
    const got = client.received.slice(0, 300);
    const publisherSsrc = client.transceiver.sender.ssrc;
    const echoSsrc = got[0]!.header.ssrc;
    assert.notEqual(echoSsrc, publisherSsrc, 'SSRC is rewritten');
    for (let i = 0; i < got.length; i++) {
      const p = got[i]!;
      assert.equal(p.header.ssrc, echoSsrc);
      assert.equal(p.header.payloadType, 96);
      assert.ok(sent.has(payloadKey(p)), `packet ${i} payload is byte-identical to one we sent`);
      if (i > 0) assert.equal(p.header.sequenceNumber, (got[i - 1]!.header.sequenceNumber + 1) & 0xffff, `seq continuous at ${i}`);
      const orig = sent.get(payloadKey(p))!;
      if (i > 0) {
        const prevOrig = sent.get(payloadKey(got[i - 1]!))!;
        const dIn = (orig.header.timestamp - prevOrig.header.timestamp) >>> 0;
        const dOut = (p.header.timestamp - got[i - 1]!.header.timestamp) >>> 0;
        assert.equal(dOut, dIn, 'timestamp deltas preserved');
      }
    }
  });

  it("forwards the subscriber's PLI to its own sender side, throttled", async () => {
    const before = client.pliReceived;
    const echoSsrc = client.received[0]!.header.ssrc;
    const receiver = client.transceiver.receiver;
    for (let i = 0; i < 10; i++) await receiver.sendRtcpPLI(echoSsrc); // a burst
    await waitFor(() => client.pliReceived > before, 2000, 'the PLI to reach the publisher');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(client.pliReceived - before <= 2, `a burst of 10 PLIs is coalesced (got ${client.pliReceived - before})`);
    const peer = (await server.state()).peers[0]!;
    assert.ok(peer.keyframeRequestsForwarded >= 2, 'state counts forwarded keyframe requests');
  });

  it('answers a NACK from its own cache with the identical packet', async () => {
    const target = client.received[client.received.length - 50]!;
    const seq = target.header.sequenceNumber;
    const countOf = () => client.received.filter((p) => p.header.sequenceNumber === seq).length;
    const before = countOf();
    const dtls = client.pc.dtlsTransports[0]!;
    await dtls.sendRtcp([
      new RtcpTransportLayerFeedback({
        feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: target.header.ssrc, lost: [seq] }),
      }),
    ]);
    await waitFor(() => countOf() > before, 2000, 'the retransmission');
    const rtx = client.received.filter((p) => p.header.sequenceNumber === seq).at(-1)!;
    assert.deepEqual(rtx.payload, target.payload);
    assert.equal(rtx.header.timestamp, target.header.timestamp);
    const peer = (await server.state()).peers[0]!;
    assert.ok(peer.nacksAnswered >= 1 && peer.retransmissions >= 1);
  });

  it('shows the peer in /api/state and forgets it when the socket closes', async () => {
    const res = await fetch(`${server.url}/api/state`);
    const state = (await res.json()) as Awaited<ReturnType<FacecastServer['state']>>;
    assert.equal(state.peers.length, 1);
    const peer = state.peers[0]!;
    assert.equal(peer.id, client.peerId);
    assert.equal(peer.connectionState, 'connected');
    assert.equal(peer.dtlsState, 'connected');
    assert.equal(peer.codec, 'video/VP8');
    assert.ok(peer.packetsIn > 100 && peer.packetsOut > 100 && peer.bytesOut > 0);
    assert.equal(peer.tracks.length, 1);
    client.ws.close();
    await waitFor(async () => (await server.state()).peers.length === 0, 10_000, 'peer removal');
  });
});

describe('server-initiated negotiation', () => {
  it("the client sends `negotiate`, answers the server's offer, and gets its echo", async () => {
    const server = await startTestServer();
    const client = new TestClient(server.url);
    try {
      await client.acceptServerOffer();
      const source = new Vp8Source();
      client.pliListeners.push(() => source.requestKeyframe());
      for (let f = 0; f < 60 && client.received.length < 20; f++) {
        for (const p of source.nextFrame()) client.sendRtp(p);
        await new Promise((r) => setTimeout(r, 33));
      }
      assert.ok(client.received.length >= 20, `echo packets: ${client.received.length}`);
      assert.equal((await server.state()).peers[0]!.signalingState, 'stable');
    } finally {
      await client.close();
      await server.close();
    }
  });
});
