import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { createFacecast, FacecastError, type Facecast, type FacecastEventMap } from '../../src/index.js';
import { TEST_WORKERS, startTestServer, waitFor } from '../helpers/server.js';
import { TestClient } from '../helpers/werift-client.js';

type Seen = { name: keyof FacecastEventMap; data: unknown }[];

function record(f: Facecast): Seen {
  const seen: Seen = [];
  for (const name of ['room-created', 'room-closed', 'participant-joined', 'participant-left', 'track-published', 'track-unpublished'] as const) {
    f.on(name, (data: unknown) => seen.push({ name, data }));
  }
  return seen;
}

/** A raw signaling socket: resolves with the HTTP status when the upgrade is refused, else the open socket and its messages. */
function open(url: string): Promise<{ status: number; body?: string } | { ws: WebSocket; messages: { type: string; code?: string; name?: string }[] }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    const messages: { type: string }[] = [];
    ws.on('message', (d) => messages.push(JSON.parse(String(d)) as { type: string }));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('open', () => resolve({ ws, messages }));
    ws.on('error', () => undefined);
  });
}

// The same API in both modes: rooms on room workers (the CLI's default) and in this thread.
for (const workers of [TEST_WORKERS, 0]) {
  describe(`library API (workers: ${workers})`, () => {
    let f: Facecast;
    let seen: Seen;
    const clients: TestClient[] = [];
    before(async () => {
      f = await startTestServer({ workers, reconnectGrace: 100 });
      seen = record(f);
    });
    after(async () => {
      for (const c of clients) await c.close();
      await f.close();
    });

    it('typed events: a room, a participant and a published track come and go', async () => {
      const alice = new TestClient(f.url);
      clients.push(alice);
      await alice.join('lib', 'alice');
      await alice.connect();
      const pub = await waitFor(() => seen.find((e) => e.name === 'track-published'), 10_000, 'track-published');
      assert.deepEqual(pub.data, {
        room: 'lib',
        track: {
          key: 'alice/video/0',
          kind: 'video',
          codec: 'video/VP8',
          publisher: { id: (pub.data as { track: { publisher: { id: string } } }).track.publisher.id, name: 'alice' },
        },
      });
      assert.deepEqual(
        seen.slice(0, 2).map((e) => [e.name, e.data]),
        [
          ['room-created', { room: 'lib' }],
          ['participant-joined', { room: 'lib', participant: { id: (pub.data as { track: { publisher: { id: string } } }).track.publisher.id, name: 'alice' } }],
        ],
      );
      const rooms = await f.rooms();
      assert.deepEqual(
        rooms.map((r) => [r.name, r.participants.map((p) => [p.name, p.tracks.map((t) => t.kind)])]),
        [['lib', [['alice', ['video']]]]],
      );
      assert.equal(await f.removeParticipant('lib', 'alice'), true);
      await waitFor(() => seen.some((e) => e.name === 'room-closed'), 5000, 'room-closed');
      assert.deepEqual(seen.map((e) => e.name).slice(2), ['track-published', 'track-unpublished', 'participant-left', 'room-closed']);
      assert.equal(await f.removeParticipant('lib', 'alice'), false, 'nobody by that name any more');
    });

    it('closeRoom ends every call in it; an unknown room is false', async () => {
      const a = await open(`${f.url.replace('http', 'ws')}/ws`);
      const b = await open(`${f.url.replace('http', 'ws')}/ws`);
      assert.ok('ws' in a && 'ws' in b);
      a.ws.send(JSON.stringify({ type: 'join', room: 'shut', name: 'a' }));
      b.ws.send(JSON.stringify({ type: 'join', room: 'shut', name: 'b' }));
      await waitFor(() => a.messages.some((m) => m.type === 'joined') && b.messages.some((m) => m.type === 'joined'), 5000, 'both joined');
      assert.equal(await f.closeRoom('shut'), true);
      await waitFor(() => a.ws.readyState === WebSocket.CLOSED && b.ws.readyState === WebSocket.CLOSED, 5000, 'both sockets closed');
      await waitFor(() => seen.some((e) => e.name === 'room-closed' && (e.data as { room: string }).room === 'shut'), 5000, 'room-closed shut');
      assert.equal(await f.closeRoom('shut'), false, 'gone once empty (after the reconnect grace)');
      assert.equal(await f.closeRoom('never-was'), false);
    });

    it('recording calls without a record directory: FacecastError 409', async () => {
      const a = await open(`${f.url.replace('http', 'ws')}/ws`);
      assert.ok('ws' in a);
      a.ws.send(JSON.stringify({ type: 'join', room: 'rec', name: 'r' }));
      await waitFor(() => a.messages.some((m) => m.type === 'joined'), 5000, 'joined');
      await assert.rejects(f.startRecording('rec', 'r'), (e: unknown) => e instanceof FacecastError && e.status === 409);
      a.ws.close();
    });
  });
}

describe('authorize hook', () => {
  let f: Facecast;
  before(async () => {
    f = await startTestServer({
      authorize: ({ kind, req, room }) => {
        const who = new URL(req.url ?? '/', 'http://x').searchParams.get('who') ?? req.headers.authorization?.replace(/^Bearer /, '');
        if (who === 'mallory') return { allow: false, reason: 'mallory is banned' };
        if (kind === 'whip' && room !== 'stage') return { allow: false, reason: 'publish on stage only', status: 403 };
        return who
          ? { allow: true, identity: who, room: kind === 'websocket' ? 'club' : undefined, canPublish: who !== 'viewer' }
          : { allow: false, reason: 'who are you?', status: 401 };
      },
    });
  });
  after(() => f.close());

  it('WebSocket: refused with its status and reason; allowed with the identity and room it grants', async () => {
    const base = `${f.url.replace('http', 'ws')}/ws`;
    assert.deepEqual(await open(`${base}?who=mallory`), { status: 403, body: 'mallory is banned\n' });
    assert.deepEqual(await open(base), { status: 401, body: 'who are you?\n' });
    const dave = await open(`${base}?who=dave`);
    assert.ok('ws' in dave);
    dave.ws.send(JSON.stringify({ type: 'join', room: 'club', name: 'someone-else' }));
    await waitFor(() => dave.messages.some((m) => m.type === 'error'), 5000, 'refused name');
    assert.equal(dave.messages.find((m) => m.type === 'error')?.code, 'forbidden');
    dave.ws.send(JSON.stringify({ type: 'join', room: 'club' }));
    await waitFor(() => dave.messages.some((m) => m.type === 'joined'), 5000, 'joined');
    assert.equal(dave.messages.find((m) => m.type === 'joined')?.name, 'dave', 'the granted identity');
    dave.ws.close();
  });

  it('WHIP: the hook sees the room; a refusal is the HTTP answer', async () => {
    const post = (room: string, who: string) =>
      fetch(`${f.url}/whip/${room}`, { method: 'POST', headers: { 'content-type': 'application/sdp', authorization: `Bearer ${who}` }, body: 'v=0\r\n' });
    const elsewhere = await post('lobby', 'erin');
    assert.equal(elsewhere.status, 403);
    assert.equal(await elsewhere.text(), 'publish on stage only\n');
    assert.equal((await post('stage', 'mallory')).status, 403);
    // Allowed: the offer itself is then checked (this one is no SDP with media: 422/400, not 401/403).
    assert.ok([400, 422].includes((await post('stage', 'erin')).status));
  });

  it('a throwing hook refuses (403) and the server serves on', async () => {
    const g = createFacecast({
      host: '127.0.0.1',
      port: 0,
      logLevel: 'silent',
      workers: 0,
      authorize: () => {
        throw new Error('database down');
      },
    });
    try {
      await g.listen();
      const r = await open(`${g.url.replace('http', 'ws')}/ws`);
      assert.deepEqual(r, { status: 403, body: 'not authorized\n' });
      assert.equal((await fetch(`${g.url}/healthz`)).status, 200);
    } finally {
      await g.close();
    }
  });
});
