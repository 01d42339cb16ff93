import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GenericNack, RtcpTransportLayerFeedback, type RtpPacket } from 'werift';
import type { FacecastServer } from '../../src/server/facecast.js';
import { startTestServer, waitFor } from '../helpers/server.js';
import { Vp8Source } from '../helpers/vp8-source.js';
import { TestClient } from '../helpers/werift-client.js';

const SUBSCRIBERS = 20;
/** The payload minus its VP8 picture id (bytes 2-3 of Vp8Source's descriptor), which the SFU may rewrite. */
const key = (p: RtpPacket) => {
  const b = Buffer.from(p.payload);
  b[2] = 0;
  b[3] = 0;
  return b.toString('base64');
};
const pictureId = (p: RtpPacket) => p.payload.readUInt16BE(2) & 0x7fff;

/** Publishes a Vp8Source at 30 fps (bounded) and remembers every payload in send order. */
class Publisher {
  readonly sent: string[] = [];
  /** Original payloads by key. */
  readonly raw = new Map<string, Buffer>();
  private timer: NodeJS.Timeout | undefined;
  constructor(
    readonly client: TestClient,
    readonly source = new Vp8Source({ keyframeEvery: 60 }),
  ) {
    client.pliListeners.push(() => source.requestKeyframe());
  }
  start(maxFrames: number): void {
    this.stop();
    let frames = 0;
    const timer = setInterval(() => {
      if (frames++ >= maxFrames) return clearInterval(timer);
      for (const p of this.source.nextFrame()) {
        this.sent.push(key(p));
        this.raw.set(key(p), Buffer.from(p.payload));
        this.client.sendRtp(p);
      }
    }, 33);
    this.timer = timer;
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

/** Asserts a subscriber's packets are a contiguous run of what was sent, once each, with continuous seq. */
function assertContiguous(packets: RtpPacket[], sent: string[], who: string): void {
  assert.ok(packets.length > 0, `${who} received packets`);
  const keys = packets.map(key);
  assert.equal(new Set(keys).size, keys.length, `${who}: no packet twice`);
  const start = sent.indexOf(keys[0]!);
  assert.ok(start >= 0, `${who}: first packet is one we sent`);
  assert.deepEqual(keys, sent.slice(start, start + keys.length), `${who}: every packet, in order, payload identical`);
  for (let i = 1; i < packets.length; i++) {
    assert.equal(packets[i]!.header.sequenceNumber, (packets[i - 1]!.header.sequenceNumber + 1) & 0xffff, `${who}: seq continuous at ${i}`);
  }
}

describe(`fan-out: 1 publisher -> ${SUBSCRIBERS} subscribers (werift peers on 127.0.0.1)`, () => {
  let server: FacecastServer;
  const subscribers: TestClient[] = [];
  let publisher: Publisher;

  before(async () => {
    server = await startTestServer({ maxRoomSize: 32 });
    const pub = new TestClient(server.url);
    await pub.join('fanout', 'alice');
    await pub.connect();
    publisher = new Publisher(pub);
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const s = new TestClient(server.url);
      await s.join('fanout', `viewer-${i}`);
      await s.subscribeOnly();
      subscribers.push(s);
    }
  });

  after(async () => {
    publisher?.stop();
    await Promise.all([publisher?.client.close(), ...subscribers.map((s) => s.close())]);
    await server?.close();
  });

  it('every subscriber receives every packet exactly once, payload identical, seq continuous', async () => {
    publisher.start(90); // 3 s
    await waitFor(() => subscribers.every((s) => s.received.length > 0), 5000, 'every subscriber to start');
    await new Promise((r) => setTimeout(r, 3300));
    const ssrcs = new Set<number>();
    for (const [i, s] of subscribers.entries()) {
      const tracks = s.bySsrc();
      assert.equal(tracks.size, 1, `viewer-${i} receives one track`);
      const [ssrc, packets] = [...tracks][0]!;
      ssrcs.add(ssrc);
      assertContiguous(packets, publisher.sent, `viewer-${i}`);
      assert.ok(
        packets.every((p) => p.payload.equals(Buffer.from(publisher.raw.get(key(p))!))),
        `viewer-${i}: payloads byte-identical before any switch`,
      );
      // Each started at a keyframe within the first second.
      assert.equal(packets[0]!.payload[4], 0x10, `viewer-${i} starts on a keyframe`);
    }
    const state = await server.state();
    assert.equal(state.rooms.length, 1);
    assert.equal(state.rooms[0]!.participants.length, SUBSCRIBERS + 1);
    const alice = state.peers.find((p) => p.name === 'alice')!;
    assert.equal(alice.tracks[0]!.subscribers, SUBSCRIBERS);
  });

  it('a publisher reconnecting under the same name continues the same subscriber tracks', async () => {
    const before = subscribers.map((s) => s.received.length);
    const ssrcBefore = subscribers.map((s) => s.received.at(-1)!.header.ssrc);
    const old = publisher;
    await old.client.close();
    const again = new TestClient(server.url);
    await again.join('fanout', 'alice');
    await again.connect();
    publisher = new Publisher(again, new Vp8Source({ keyframeEvery: 60 }));
    publisher.start(60);
    await waitFor(() => subscribers.every((s, i) => s.received.length > before[i]! + 50), 6000, 'packets from the new publisher');
    for (const [i, s] of subscribers.entries()) {
      const after = s.received.slice(before[i]!);
      assert.ok(
        after.every((p) => p.header.ssrc === ssrcBefore[i]),
        `viewer-${i}: same SSRC after the reconnect`,
      );
      const boundary = s.received[before[i]! - 1]!;
      assert.equal(after[0]!.header.sequenceNumber, (boundary.header.sequenceNumber + 1) & 0xffff, `viewer-${i}: seq continues across the reconnect`);
      assert.equal(pictureId(after[0]!), (pictureId(boundary) + 1) & 0x7fff, `viewer-${i}: VP8 picture id continues across the reconnect`);
      assertContiguous(after, publisher.sent, `viewer-${i} after reconnect`);
    }
    assert.equal((await server.state()).rooms[0]!.participants.length, SUBSCRIBERS + 1);
  });

  it('PLI storm: 20 subscribers x PLI every 50 ms -> the publisher sees at most one per 500 ms', async () => {
    publisher.start(150);
    await waitFor(() => subscribers.every((s) => s.received.length > 0), 3000, 'flowing');
    const pub = publisher.client;
    const before = pub.pliReceived;
    const t0 = performance.now();
    const storm = setInterval(() => {
      for (const s of subscribers) {
        const ssrc = s.received.at(-1)!.header.ssrc;
        void s.pc.getTransceivers()[0]!.receiver.sendRtcpPLI(ssrc);
      }
    }, 50);
    await new Promise((r) => setTimeout(r, 3000));
    clearInterval(storm);
    const seconds = (performance.now() - t0) / 1000;
    const perSecond = (pub.pliReceived - before) / seconds;
    console.log(
      `PLI storm: ${SUBSCRIBERS * Math.round(seconds * 20)} PLIs sent by subscribers, publisher saw ${pub.pliReceived - before} in ${seconds.toFixed(1)} s (${perSecond.toFixed(2)}/s)`,
    );
    assert.ok(pub.pliReceived - before >= 1, 'keyframes are still requested');
    // At most one per 500 ms: in a window of S seconds that is at most 1 + S/0.5. The times are
    // taken where the PLIs arrive (the publisher shares this process with the SFU and 20
    // subscribers), so one late delivery shortens one gap and lengthens the one before: no gap
    // under 250 ms (no burst), and every two gaps in a row at least 900 ms (one per 500 ms).
    const times = pub.pliTimes.slice(before);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    const shown = `PLI gaps at the publisher: ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`;
    assert.ok(times.length <= 1 + Math.floor(seconds / 0.5), `publisher saw ${times.length} PLIs in ${seconds.toFixed(2)} s`);
    assert.ok(
      gaps.every((g) => g >= 250),
      shown,
    );
    assert.ok(
      gaps.slice(1).every((g, i) => g + gaps[i]! >= 900),
      shown,
    );
    const alice = (await server.state()).peers.find((p) => p.name === 'alice')!;
    assert.ok(alice.tracks[0]!.keyframeRequestsReceived >= SUBSCRIBERS * 20, 'the SFU counted the storm');
    publisher.stop();
  });

  it('NACK: a packet lost toward one subscriber is retransmitted to it alone', async () => {
    publisher.start(60);
    await new Promise((r) => setTimeout(r, 1000));
    const [victim, ...others] = subscribers;
    const lost = victim!.received.at(-20)!;
    const seq = lost.header.sequenceNumber;
    const count = (s: TestClient) => s.received.filter((p) => p.header.sequenceNumber === seq && p.header.ssrc === lost.header.ssrc).length;
    const othersBefore = others.map((s) => s.received.length);
    await victim!.pc.dtlsTransports[0]!.sendRtcp([
      new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: lost.header.ssrc, lost: [seq] }) }),
    ]);
    await waitFor(() => count(victim!) === 2, 2000, 'the retransmission');
    const rtx = victim!.received.filter((p) => p.header.sequenceNumber === seq).at(-1)!;
    assert.deepEqual(rtx.payload, lost.payload, 'identical payload');
    await new Promise((r) => setTimeout(r, 300));
    publisher.stop();
    for (const [i, s] of others.entries()) {
      const keys = s.received.slice(othersBefore[i]!).map(key);
      assert.equal(new Set(keys).size, keys.length, `viewer-${i + 1} got no duplicate`);
    }
    const state = await server.state();
    const victimState = state.peers.find((p) => p.name === 'viewer-0')!;
    assert.equal(victimState.retransmissions, 1);
    assert.ok(state.peers.filter((p) => p.name.startsWith('viewer-') && p.name !== 'viewer-0').every((p) => p.retransmissions === 0));
  });
});
