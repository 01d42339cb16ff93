/**
 * A subscriber that NACKs everything gets its retransmission budget and no more
 * (retransmit-limiter.ts): at most 64 saved up plus 10% of what is forwarded to it,
 * a packet resent at most 3 times and not within an RTT of its last resend; what is
 * refused is counted by reason in /api/state and /metrics, and the stream goes on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GenericNack, RtcpTransportLayerFeedback } from 'werift';
import type { FacecastServer } from '../../src/server/facecast.js';
import { startTestServer, waitFor } from '../helpers/server.js';
import { Vp8Source } from '../helpers/vp8-source.js';
import { TestClient } from '../helpers/werift-client.js';

describe('a NACK flood (werift echo call, room workers)', () => {
  let server: FacecastServer;
  let client: TestClient;
  const source = new Vp8Source();
  let timer: NodeJS.Timeout | undefined;

  before(async () => {
    server = await startTestServer();
    client = new TestClient(server.url);
    await client.connect();
    client.pliListeners.push(() => source.requestKeyframe());
    let frames = 0;
    timer = setInterval(() => {
      if (frames++ > 900) return; // bounded: ~30 s
      for (const p of source.nextFrame()) client.sendRtp(p);
    }, 33);
    await waitFor(() => client.received.length > 60, 5000, 'the echo flowing');
  });

  after(async () => {
    clearInterval(timer);
    await client?.close();
    await server?.close();
  });

  const sub = async () => (await server.state()).peers[0]!.subscriptions.find((s) => s.kind === 'video')!;

  it('NACKing its last 200 packets every 10 ms for 2 s: the budget, no more; refusals counted by reason', async () => {
    const before = await sub();
    const received = client.received.length;
    const ssrc = client.received.at(-1)!.header.ssrc;
    const transport = client.pc.dtlsTransports[0]!;
    const start = performance.now();
    let nacks = 0;
    while (performance.now() - start < 2000 && nacks < 250) {
      const last = client.received.at(-1)!.header.sequenceNumber;
      const lost = Array.from({ length: 200 }, (_, i) => (last - i) & 0xffff);
      await transport.sendRtcp([new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: ssrc, lost }) })]);
      nacks++;
      await new Promise((r) => setTimeout(r, 10));
    }
    await waitFor(async () => (await sub()).nacksIn - before.nacksIn >= nacks * 0.9, 3000, 'the NACKs counted');
    const afterFlood = await sub();
    const resent = afterFlood.retransmissions - before.retransmissions;
    const forwarded = afterFlood.packetsOut - afterFlood.retransmissions - (before.packetsOut - before.retransmissions);
    const asked = nacks * 200;
    console.log(`# ${nacks} NACKs for ${asked} packets; ${forwarded} forwarded meanwhile, ${resent} resent`);
    assert.ok(resent > 0, 'some were resent');
    assert.ok(resent <= 64 + Math.ceil(forwarded * 0.1) + 2, `resent ${resent}: at most 64 + 10% of ${forwarded}`);
    assert.ok(afterFlood.rtxRefusedOverBudget > before.rtxRefusedOverBudget, 'over-budget refusals');
    assert.ok(afterFlood.rtxRefusedTooSoon + afterFlood.rtxRefusedTooMany > 0, 'repeat NACKs of one packet refused');
    assert.ok(afterFlood.rtxCongestion >= 1, 'over budget for 2 s: congested');
    assert.ok(client.received.length - received > forwarded * 0.9, 'the stream went on');

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const overBudget = Number(/facecast_retransmissions_refused_total\{reason="over-budget"\} (\d+)/.exec(metrics)?.[1]);
    assert.ok(overBudget >= afterFlood.rtxRefusedOverBudget, `/metrics over-budget ${overBudget}`);
    assert.match(metrics, /facecast_retransmission_congestion_total [1-9]/);
    const peer = (await server.state()).peers[0]!;
    assert.ok(peer.retransmissionsRefused > 0, '/api/state: retransmissionsRefused');
  });
});
