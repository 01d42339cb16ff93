/**
 * Room worker threads (--workers 2): rooms spread over the workers, calls work
 * through them (echo, a room, WHIP), /api/state and /metrics gather every worker,
 * and a crashing worker takes only its own rooms down.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FacecastServer } from '../../src/server/facecast.js';
import { fakeVideoOffer } from '../helpers/sdp.js';
import { startTestServer, waitFor } from '../helpers/server.js';
import { Vp8Source } from '../helpers/vp8-source.js';
import { TestClient } from '../helpers/werift-client.js';

/** A publisher that sends a bounded VP8 stream into room `room` (its own echo on). */
class EchoCall {
  readonly client: TestClient;
  private readonly source = new Vp8Source({ keyframeEvery: 60 });
  private timer: NodeJS.Timeout | undefined;
  constructor(url: string) {
    this.client = new TestClient(url);
  }
  async start(room: string, name: string): Promise<void> {
    await this.client.join(room, name, true);
    await this.client.connect();
    this.client.pliListeners.push(() => this.source.requestKeyframe());
    let frames = 0;
    this.timer = setInterval(() => {
      if (frames++ > 900) return; // bounded: ~30 s
      for (const p of this.source.nextFrame()) this.client.sendRtp(p);
    }, 33);
  }
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.client.close();
  }
}

describe('room worker threads (--workers 2)', () => {
  let server: FacecastServer;
  const calls: EchoCall[] = [];
  before(async () => {
    server = await startTestServer({ workers: 2 });
  });
  after(async () => {
    for (const c of calls) await c.close();
    await server?.close();
  });

  it('two rooms land on the two workers and each echoes through its own', async () => {
    const a = new EchoCall(server.url);
    const b = new EchoCall(server.url);
    calls.push(a, b);
    await a.start('wa', 'alice');
    await b.start('wb', 'bob');
    assert.deepEqual(new Set([server.workers!.workerOf('wa'), server.workers!.workerOf('wb')]), new Set([0, 1]), 'one room per worker');
    await waitFor(() => a.client.received.length > 50 && b.client.received.length > 50, 8000, 'both echoes');
    const state = await server.state();
    assert.deepEqual(state.rooms.map((r) => r.name).sort(), ['wa', 'wb']);
    assert.equal(state.peers.length, 2);
    assert.ok(
      state.peers.every((p) => p.packetsIn > 0 && p.packetsOut > 0),
      'packets in and out on both',
    );
  });

  it("a second participant of a room goes to that room's worker", async () => {
    const viewer = new TestClient(server.url);
    try {
      await viewer.join('wa', 'carol');
      await viewer.connect('recvonly');
      await waitFor(() => viewer.received.length > 30, 8000, "alice's video at carol");
      const state = await server.state();
      assert.deepEqual(state.rooms.find((r) => r.name === 'wa')?.participants.length, 2, 'both in one room (one worker)');
    } finally {
      await viewer.close();
    }
  });

  it("/metrics sums the workers and shows each worker's load", async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(text, /facecast_worker_busy_seconds_total\{worker="0"\} [\d.e-]+/);
    assert.match(text, /facecast_worker_busy_seconds_total\{worker="1"\} [\d.e-]+/);
    assert.match(text, /facecast_worker_event_loop_utilization\{worker="1"\} [\d.e-]+/);
    const received = Number(/^facecast_rtp_packets_received_total (\d+)/m.exec(text)?.[1]);
    const state = await server.state();
    const inState = state.peers.reduce((n, p) => n + p.packetsIn, 0);
    assert.ok(received > 100 && Math.abs(received - inState) < inState * 0.5 + 200, `packets received ${received} ~ state ${inState}`);
    assert.match(text, /^facecast_participants 2$/m, 'gauges summed over workers');
    assert.match(text, /^process_cpu_seconds_total /m, "the main process's own metrics too");
  });

  it('WHIP through a worker: 201 with an answer, DELETE ends it', async () => {
    const res = await fetch(`${server.url}/whip/wc?name=cam`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: fakeVideoOffer('sendonly') });
    assert.equal(res.status, 201, await res.clone().text());
    assert.match(await res.text(), /^v=0/);
    const location = res.headers.get('location')!;
    assert.match(location, /^\/whip\/wc\//);
    assert.equal(server.workers!.workerOf('wc') !== undefined, true);
    assert.equal((await fetch(`${server.url}${location}`, { method: 'DELETE' })).status, 200);
    assert.equal((await fetch(`${server.url}/whip/wc`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' })).status, 415);
    const malformed = await fetch(`${server.url}/whip/%E0%A4%A`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: fakeVideoOffer('sendonly') });
    assert.equal(malformed.status, 400, 'a malformed room name: 400 from a worker, not a 500');
  });

  it('a crashing worker takes only its rooms: its clients are told and disconnected, the other room goes on, a new worker serves the next join', async () => {
    const [a, b] = calls as [EchoCall, EchoCall];
    const crashed = server.workers!.workerOf('wa')!;
    server.workers!.crashWorkerForTest(crashed);
    await waitFor(() => a.client.messages.some((m) => m.type === 'error' && m.code === 'internal'), 5000, 'alice told');
    await waitFor(() => a.client.ws.readyState === a.client.ws.CLOSED, 5000, 'alice disconnected');
    const bBefore = b.client.received.length;
    await waitFor(() => b.client.received.length > bBefore + 60, 5000, "bob's echo going on");
    assert.equal(server.workers!.crashes, 1);
    // The room can be joined again: on the replacement worker.
    const again = new EchoCall(server.url);
    calls.push(again);
    await again.start('wa', 'alice2');
    await waitFor(() => again.client.received.length > 30, 8000, 'the echo on the new worker');
    const state = await server.state();
    assert.deepEqual(state.peers.map((p) => p.name).sort(), ['alice2', 'bob']);
  });
});
