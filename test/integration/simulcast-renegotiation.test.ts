/**
 * The server renegotiates with a publisher whenever its subscriptions change. Its offers
 * must repeat the receive rids of the m-line the publisher sends simulcast on: a browser
 * answering an offer without them keeps only its first encoding in getParameters() (JSEP),
 * and can no longer switch its other layers on and off (dynacast). werift writes them only
 * for transceivers it created itself (src/sfu/werift/sdp.ts, keepOfferedSimulcast).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ServerMessage } from '../../src/protocol/messages.js';
import type { FacecastServer } from '../../src/server/facecast.js';
import { startTestServer } from '../helpers/server.js';
import { LAYERS, publishSimulcast, type SimulcastPublisher } from '../helpers/simulcast.js';

/** The m-section of `sdp` with a=mid:`mid`. */
function section(sdp: string, mid: string): string {
  return sdp.split(/(?=^m=)/m).find((s) => new RegExp(`^a=mid:${mid}\\r?$`, 'm').test(s)) ?? '';
}

describe("the server's re-offers to a simulcast publisher keep its rids (room workers)", () => {
  let server: FacecastServer;
  const publishers: SimulcastPublisher[] = [];

  before(async () => {
    server = await startTestServer();
  });

  after(async () => {
    for (const p of publishers) {
      p.stop();
      await p.client.close();
    }
    await server?.close();
  });

  it('alice gets an offer when bob publishes; her m-line still says a=rid:q/h/f recv and a=simulcast:recv q;h;f', async () => {
    const alice = await publishSimulcast(server.url, 'renego', 'alice', 300);
    publishers.push(alice);
    const from = alice.client.messages.length;
    publishers.push(await publishSimulcast(server.url, 'renego', 'bob', 300));
    const offer = (await alice.client.nextMessage((m) => m.type === 'offer', 10_000, from)) as Extract<ServerMessage, { type: 'offer' }>;
    const mine = section(offer.sdp, alice.client.transceiver!.mid!);
    assert.ok(mine, `the offer has alice's m-line (mid ${alice.client.transceiver!.mid})`);
    for (const l of LAYERS) assert.match(mine, new RegExp(`^a=rid:${l.rid} recv\\r?$`, 'm'), `a=rid:${l.rid} recv in\n${mine}`);
    assert.match(mine, /^a=simulcast:recv q;h;f\s*$/m);
    // bob's video comes to alice on another m-line, without simulcast.
    const others = offer.sdp.split(/(?=^m=video)/m).filter((s) => s.startsWith('m=video') && s !== mine);
    assert.ok(others.length >= 1 && others.every((s) => !/^a=simulcast/m.test(s)), 'no simulcast on the m-lines alice receives on');
  });
});
