import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FacesDown, type FacesUp } from '../../src/protocol/detections.js';
import type { FacecastServer } from '../../src/server/facecast.js';
import { startTestServer, waitFor } from '../helpers/server.js';
import { TestClient } from '../helpers/werift-client.js';

const result = (frame: number, faces: number): FacesUp => ({
  type: 'faces',
  frame,
  ts: 1000 + frame * 33,
  detector: 'blazeface',
  faces: Array.from({ length: faces }, (_, i) => ({ x: 0.1 * i, y: 0.2, w: 0.3, h: 0.4, score: 0.9, keypoints: [{ x: 0.2, y: 0.3 }] })),
});

describe('metadata mode: detection results over the facecast data channel', () => {
  let server: FacecastServer;
  let alice: TestClient;
  let bob: TestClient;

  before(async () => {
    server = await startTestServer();
    alice = new TestClient(server.url);
    alice.openDataChannel();
    await alice.join('meta', 'alice', true);
    await alice.connect();
    bob = new TestClient(server.url);
    bob.openDataChannel();
    await bob.join('meta', 'bob');
    await bob.connect('recvonly');
    await waitFor(() => alice.dataChannel?.readyState === 'open' && bob.dataChannel?.readyState === 'open', 5000, 'channels open');
  });

  after(async () => {
    await alice?.close();
    await bob?.close();
    await server?.close();
  });

  it("answers a viewer's offer with the room's video on its recvonly m-line, and no offer after it", async () => {
    // A redundant server offer right after the answer raced the client's DTLS/SCTP start (werift's
    // client then never connected): the answer already carries the subscription.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(bob.messages.filter((m) => m.type === 'offer').length, 0);
    const answer = bob.messages.find((m) => m.type === 'answer');
    assert.ok(answer && answer.type === 'answer' && /a=sendonly\r\n[\s\S]*a=msid:alice /.test(answer.sdp), 'the answer sends alice on the viewer m-line');
  });

  it('relays each result to the subscribers and, with echo on, back to the publisher, tagged with its name', async () => {
    for (let f = 1; f <= 5; f++) alice.dataChannel!.send(JSON.stringify(result(f, 2)));
    await waitFor(() => bob.dataMessages.length >= 5 && alice.dataMessages.length >= 5, 3000, 'five relayed results each');
    for (const received of [bob.dataMessages, alice.dataMessages]) {
      const parsed = received.map((m) => FacesDown.parse(m));
      assert.deepEqual(
        parsed.map((m) => m.frame),
        [1, 2, 3, 4, 5],
      );
      assert.ok(parsed.every((m) => m.from === 'alice' && m.faces.length === 2));
      assert.deepEqual(parsed[0]!.faces[0], result(1, 2).faces[0]);
    }
  });

  it('keeps the face count in /api/state and drops invalid messages without harm', async () => {
    const before = bob.dataMessages.length;
    alice.dataChannel!.send('not json');
    alice.dataChannel!.send(JSON.stringify({ type: 'faces', frame: -1, ts: 0, detector: 'x', faces: [] }));
    alice.dataChannel!.send(JSON.stringify({ ...result(6, 1), faces: [{ x: 'a' }] }));
    alice.dataChannel!.send(JSON.stringify(result(7, 3)));
    await waitFor(() => bob.dataMessages.length > before, 3000, 'the valid result');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(
      bob.dataMessages.slice(before).map((m) => FacesDown.parse(m).frame),
      [7],
    );
    const a = (await server.state()).peers.find((p) => p.name === 'alice')!;
    assert.equal(a.faces?.count, 3);
    assert.equal(a.faces?.detector, 'blazeface');
    assert.equal(a.data.messagesDropped, 3);
    assert.equal(a.data.messagesIn, 6);
  });
});
