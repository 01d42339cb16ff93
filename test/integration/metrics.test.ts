/**
 * GET /metrics: Prometheus text from a per-server registry. A call through the
 * SFU (werift peers on 127.0.0.1) moves the packet, keyframe and NACK counters;
 * the gauges follow participants; counters stay monotonic when peers leave.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GenericNack, RtcpTransportLayerFeedback } from 'werift';
import type { FacecastServer } from '../../src/server/facecast.js';
import { startTestServer, waitFor } from '../helpers/server.js';
import { Vp8Source } from '../helpers/vp8-source.js';
import { TestClient } from '../helpers/werift-client.js';

interface Scrape {
  contentType: string;
  types: Map<string, string>;
  /** Sample value by `name` or `name{labels}` as printed. */
  values: Map<string, number>;
}

/** A small parser for the Prometheus text exposition format (what prom-client prints). */
async function scrape(server: FacecastServer): Promise<Scrape> {
  const res = await fetch(server.url + '/metrics');
  assert.equal(res.status, 200);
  const text = await res.text();
  const types = new Map<string, string>();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)(?: \d+)?$/.exec(line);
    assert.ok(sample, `a valid sample line: ${line}`);
    // Go's ParseFloat rules: prom-client prints NaN as "Nan".
    const value = /^nan$/i.test(sample[3]!) ? NaN : Number(sample[3] === '+Inf' ? Infinity : sample[3] === '-Inf' ? -Infinity : sample[3]);
    assert.ok(!Number.isNaN(value) || /^nan$/i.test(sample[3]!), `a number in: ${line}`);
    values.set(sample[1]! + (sample[2] ?? ''), value);
  }
  return { contentType: res.headers.get('content-type') ?? '', types, values };
}

const get = (s: Scrape, key: string): number => {
  const v = s.values.get(key);
  assert.ok(v !== undefined, `metric ${key} is present`);
  return v;
};

describe('/metrics (Prometheus, werift peers on 127.0.0.1)', () => {
  let server: FacecastServer;
  let other: FacecastServer;
  let alice: TestClient;
  let bob: TestClient;

  before(async () => {
    server = await startTestServer();
    other = await startTestServer();
  });

  after(async () => {
    await alice?.close();
    await bob?.close();
    await server?.close();
    await other?.close();
  });

  it('starts at zero, with the default process metrics', async () => {
    const s = await scrape(server);
    assert.match(s.contentType, /^text\/plain; version=0\.0\.4/);
    assert.equal(get(s, 'facecast_participants'), 0);
    assert.equal(get(s, 'facecast_rooms'), 0);
    assert.equal(get(s, 'facecast_rtp_packets_received_total'), 0);
    assert.equal(s.types.get('facecast_rtp_packets_received_total'), 'counter');
    assert.equal(s.types.get('facecast_participants'), 'gauge');
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      assert.ok(s.types.has(name), `default metric ${name}`);
    }
  });

  it('counts a call: packets, bytes, keyframes, NACKs and the participant gauges', async () => {
    alice = new TestClient(server.url);
    await alice.join('metrics', 'alice');
    await alice.connect();
    bob = new TestClient(server.url);
    await bob.join('metrics', 'bob');
    await bob.subscribeOnly();

    const source = new Vp8Source({ keyframeEvery: 30 });
    alice.pliListeners.push(() => source.requestKeyframe());
    for (let frame = 0; frame < 45; frame++) {
      for (const p of source.nextFrame()) alice.sendRtp(p);
      await new Promise((r) => setTimeout(r, 33));
    }
    await waitFor(() => bob.received.length >= 50, 5000, 'bob to receive packets');

    // A NACK from bob for a packet it got: answered from the SFU's cache.
    const target = bob.received.at(-10)!;
    const countOf = () => bob.received.filter((p) => p.header.sequenceNumber === target.header.sequenceNumber).length;
    const copies = countOf();
    await bob.pc.dtlsTransports[0]!.sendRtcp([
      new RtcpTransportLayerFeedback({
        feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: target.header.ssrc, lost: [target.header.sequenceNumber] }),
      }),
    ]);
    await waitFor(() => countOf() > copies, 2000, 'the retransmission');
    await new Promise((r) => setTimeout(r, 200)); // let the last packets land

    const s = await scrape(server);
    const state = await server.state();
    assert.equal(get(s, 'facecast_participants'), 2);
    assert.equal(get(s, 'facecast_participants_connected'), 2);
    assert.equal(get(s, 'facecast_rooms'), 1);
    assert.equal(get(s, 'facecast_room_members'), 2);
    assert.equal(get(s, 'facecast_published_tracks{kind="video"}'), 1);
    assert.equal(get(s, 'facecast_published_tracks{kind="audio"}'), 0);
    assert.equal(get(s, 'facecast_subscriptions{kind="video"}'), 1);

    const packetsIn = get(s, 'facecast_rtp_packets_received_total');
    const packetsOut = get(s, 'facecast_rtp_packets_sent_total');
    const distinct = new Set(bob.received.map((p) => p.header.sequenceNumber)).size;
    assert.ok(packetsIn >= distinct, `packets in (${packetsIn}) >= what bob got (${distinct})`);
    assert.equal(
      packetsIn,
      state.peers.reduce((n, p) => n + p.packetsIn, 0),
      'packets in match /api/state',
    );
    assert.ok(packetsOut >= 50, `packets out (${packetsOut})`);
    assert.equal(
      packetsOut,
      state.peers.reduce((n, p) => n + p.packetsOut, 0),
      'packets out match /api/state',
    );
    assert.ok(get(s, 'facecast_rtp_payload_bytes_received_total') > packetsIn * 100);
    assert.ok(get(s, 'facecast_rtp_payload_bytes_sent_total') > packetsOut * 100);
    assert.ok(get(s, 'facecast_keyframes_received_total') >= 1);
    assert.ok(get(s, 'facecast_nacks_received_total') >= 1, 'the NACK is counted');
    assert.ok(get(s, 'facecast_nacks_answered_total') >= 1, 'and answered');
    assert.ok(get(s, 'facecast_retransmissions_total') >= 1, 'one retransmission at least');
    assert.ok(s.values.has('facecast_keyframe_requests_forwarded_total'));
    assert.ok(s.values.has('facecast_subscriber_rtt_seconds_max'));

    // Another server in the same process has its own registry: still all zero.
    const o = await scrape(other);
    assert.equal(get(o, 'facecast_participants'), 0);
    assert.equal(get(o, 'facecast_rtp_packets_received_total'), 0);
    assert.equal(get(o, 'facecast_rtp_packets_sent_total'), 0);
  });

  it('counters stay monotonic and gauges drop when a participant leaves', async () => {
    const before = await scrape(server);
    await bob.close();
    await waitFor(async () => (await server.state()).peers.length === 1, 5000, 'bob gone');
    const s = await scrape(server);
    assert.equal(get(s, 'facecast_participants'), 1);
    assert.equal(get(s, 'facecast_subscriptions{kind="video"}'), 0);
    assert.equal(get(s, 'facecast_published_tracks{kind="video"}'), 1);
    for (const name of ['facecast_rtp_packets_sent_total', 'facecast_rtp_payload_bytes_sent_total', 'facecast_nacks_received_total', 'facecast_retransmissions_total']) {
      assert.ok(get(s, name) >= get(before, name), `${name} did not go down (${get(before, name)} -> ${get(s, name)})`);
      assert.ok(get(s, name) > 0, `${name} keeps bob's share`);
    }
    await alice.close();
    await waitFor(async () => (await server.state()).peers.length === 0, 5000, 'alice gone');
    const last = await scrape(server);
    assert.equal(get(last, 'facecast_participants'), 0);
    assert.ok(get(last, 'facecast_rtp_packets_received_total') >= get(before, 'facecast_rtp_packets_received_total'));
  });
});
