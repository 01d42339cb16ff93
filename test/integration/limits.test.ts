/**
 * Limits on what one client controls: tracks per participant (--max-tracks) and
 * signaling messages per second (--max-message-rate).
 * (Message size, rooms, participants and data-channel size are covered in
 * bad-input, room and metadata tests.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MediaStreamTrack } from 'werift';
import { WebSocket } from 'ws';
import type { FacecastServer } from '../../src/server/facecast.js';
import { parseServeArgs, type ServerConfig } from '../../src/server/config.js';
import { startTestServer, waitFor } from '../helpers/server.js';
import { TestClient } from '../helpers/werift-client.js';

describe('tracks per participant', () => {
  let server: FacecastServer;
  let client: TestClient;
  before(async () => {
    server = await startTestServer({ maxTracks: 2 });
  });
  after(async () => {
    await client?.close();
    await server?.close();
  });

  it('a client offering 4 video tracks with --max-tracks 2 gets 2 published and one clear error', async () => {
    client = new TestClient(server.url);
    for (let i = 0; i < 3; i++) client.pc.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' });
    await client.join('limits', 'many');
    await client.connect();
    await waitFor(() => client.messages.some((m) => m.type === 'error' && m.code === 'too-many-tracks'), 5000, 'the too-many-tracks error');
    const refused = client.messages.filter((m) => m.type === 'error' && m.code === 'too-many-tracks');
    assert.equal(refused.length, 2, 'one error per refused track');
    assert.equal((await server.state()).peers.find((p) => p.name === 'many')!.tracks.length, 2);
    assert.equal(client.pc.connectionState, 'connected', 'the call itself goes on');
  });

  it('--max-tracks is a whole number from 1 to 100000, default 8', () => {
    assert.equal((parseServeArgs([]) as ServerConfig).maxTracks, 8);
    assert.equal((parseServeArgs(['--max-tracks', '3']) as ServerConfig).maxTracks, 3);
    assert.throws(() => parseServeArgs(['--max-tracks', '0']), /--max-tracks: "0" must be a whole number/);
  });
});

describe('signaling message rate per socket', () => {
  let server: FacecastServer;
  before(async () => {
    server = await startTestServer({ maxMessageRate: 20 });
  });
  after(async () => {
    await server?.close();
  });

  /** A raw signaling socket that records what it gets and how it ends. */
  async function open() {
    const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/ws`);
    const got: { type: string; code?: string; message?: string }[] = [];
    let closeCode: number | undefined;
    ws.on('message', (d) => got.push(JSON.parse(String(d)) as { type: string }));
    ws.on('close', (code) => (closeCode = code));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return { ws, got, closeCode: () => closeCode };
  }
  const limited = (got: { type: string; code?: string; message?: string }[]) => got.filter((m) => m.type === 'error' && m.code === 'rate-limited');

  it('a burst over the limit: the first 2 s worth are handled, the rest dropped with one rate-limited error; the socket stays usable', async () => {
    const c = await open();
    try {
      c.ws.send(JSON.stringify({ type: 'join', room: 'rate', name: 'bursty' }));
      // 120 tile messages at once against 20/s with a burst of 40: about 39 handled (tiles answer nothing), the rest dropped.
      for (let i = 0; i < 120; i++) c.ws.send(JSON.stringify({ type: 'tile', name: 'nobody', width: 160, height: 120 }));
      await waitFor(() => limited(c.got).length > 0, 5000, 'a rate-limited error');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(limited(c.got).length, 1, 'one warning per second, not one per dropped message');
      assert.match(limited(c.got)[0]!.message ?? '', /more than 20 messages per second/);
      assert.equal(c.closeCode(), undefined, 'still connected');
      // Tokens come back at 20/s: after a pause, messages are handled again.
      await new Promise((r) => setTimeout(r, 500));
      c.ws.send(JSON.stringify({ type: 'join', room: 'rate' }));
      await waitFor(() => c.got.some((m) => m.type === 'error' && m.code === 'already-joined'), 3000, 'the second join answered already-joined');
      assert.equal((await server.state()).peers.filter((p) => p.name === 'bursty').length, 1);
    } finally {
      c.ws.terminate();
    }
  });

  it('a flood (over 10 s worth dropped) closes that socket with 1008 and removes its peer; others are untouched', async () => {
    const calm = await open();
    const flood = await open();
    try {
      calm.ws.send(JSON.stringify({ type: 'join', room: 'rate2', name: 'calm' }));
      flood.ws.send(JSON.stringify({ type: 'join', room: 'rate2', name: 'flood' }));
      await waitFor(async () => (await server.state()).peers.filter((p) => p.room === 'rate2').length === 2, 3000, 'both joined');
      const frame = JSON.stringify({ type: 'tile', name: 'calm', width: 1, height: 1 });
      for (let i = 0; i < 400 && flood.ws.readyState === WebSocket.OPEN; i++) flood.ws.send(frame);
      await waitFor(() => flood.closeCode() !== undefined, 5000, 'the flooding socket closed');
      assert.equal(flood.closeCode(), 1008);
      assert.ok(
        limited(flood.got).some((m) => /disconnected/.test(m.message ?? '')),
        'told why',
      );
      await waitFor(async () => !(await server.state()).peers.some((p) => p.name === 'flood'), 3000, "the flooder's peer gone");
      calm.ws.send(JSON.stringify({ type: 'join', room: 'rate2' }));
      await waitFor(() => calm.got.some((m) => m.type === 'error' && m.code === 'already-joined'), 3000, 'the calm socket still answered');
      assert.equal(calm.closeCode(), undefined);
    } finally {
      calm.ws.terminate();
      flood.ws.terminate();
    }
  });

  it('--max-message-rate: default 50, a whole number from 1 to 100000', () => {
    assert.equal((parseServeArgs([]) as ServerConfig).maxMessageRate, 50);
    assert.equal((parseServeArgs(['--max-message-rate', '200']) as ServerConfig).maxMessageRate, 200);
    assert.throws(() => parseServeArgs(['--max-message-rate', 'lots']), /--max-message-rate: "lots" must be a whole number/);
  });
});
