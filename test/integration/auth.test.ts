/**
 * Room tokens (--auth-secret): HS256 JWTs with room, identity, canPublish,
 * canSubscribe and exp, required on /ws and on WHIP/WHEP when auth is on.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { mintToken, verifyToken } from '../../src/server/auth.js';
import { parseServeArgs } from '../../src/server/config.js';
import type { FacecastServer } from '../../src/server/facecast.js';
import { fakeVideoOffer } from '../helpers/sdp.js';
import { startTestServer, waitFor } from '../helpers/server.js';
import { TestClient } from '../helpers/werift-client.js';
import { Vp8Source } from '../helpers/vp8-source.js';

const SECRET = 'test-secret-0123456789abcdef0123456789';

/** Opens /ws with `token`; resolves to the welcome, or the HTTP status and body of a refusal. */
function open(url: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/ws' + (token === undefined ? '' : `?token=${encodeURIComponent(token)}`));
    ws.once('message', (data) => {
      resolve({ status: 101, body: String(data) });
      ws.close();
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += String(d)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });
}

describe('room tokens (auth on)', () => {
  let server: FacecastServer;
  const clients: TestClient[] = [];
  before(async () => {
    server = await startTestServer({ authSecret: SECRET });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server?.close();
  });
  const token = (claims: { room: string; identity: string; canPublish?: boolean; canSubscribe?: boolean }, ttl = 600) => mintToken(SECRET, claims, ttl);

  it('a WebSocket without a valid token is refused with 401 and a reason; no peer is made', async () => {
    assert.deepEqual(await open(server.url), { status: 401, body: 'a room token is required (auth is on)\n' });
    const forged = await mintToken('another-secret-0123456789abcdef0123456789', { room: 'r', identity: 'a' }, 600);
    assert.match((await open(server.url, forged)).body, /not signed with this server's secret/);
    const expired = await new SignJWT({ room: 'r', identity: 'a' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(new TextEncoder().encode(SECRET));
    assert.match((await open(server.url, expired)).body, /expired/);
    const noExp = await new SignJWT({ room: 'r', identity: 'a' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));
    assert.equal((await open(server.url, noExp)).status, 401);
    const badClaims = await new SignJWT({ room: 'no spaces', identity: 'a' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    assert.match((await open(server.url, badClaims)).body, /lacks valid claims: room/);
    const none = 'eyJhbGciOiJub25lIn0.eyJyb29tIjoiciIsImlkZW50aXR5IjoiYSIsImV4cCI6OTk5OTk5OTk5OX0.';
    assert.equal((await open(server.url, none)).status, 401, 'alg "none" is refused');
    assert.equal((await server.state()).peers.length, 0);
  });

  it('a valid token opens its room under its identity, and nothing else', async () => {
    const c = new TestClient(server.url, { token: await token({ room: 'studio', identity: 'alice' }) });
    clients.push(c);
    await c.opened;
    c.send({ type: 'join', room: 'elsewhere' });
    const refused = await c.nextMessage((m) => m.type === 'error');
    assert.deepEqual(refused, { type: 'error', code: 'forbidden', message: 'your room token is for room "studio", not "elsewhere"' });
    c.send({ type: 'join', room: 'studio', name: 'mallory' });
    const renamed = await c.nextMessage((m) => m.type === 'error', 5000, c.messages.length);
    assert.match(renamed.type === 'error' ? renamed.message : '', /names you "alice", not "mallory"/);
    await c.join('studio');
    const joined = c.messages.find((m) => m.type === 'joined');
    assert.equal(joined?.type === 'joined' && joined.name, 'alice');
  });

  it('canPublish: false -> the media goes nowhere and the client is told; canSubscribe: false -> no subscriptions', async () => {
    const viewer = new TestClient(server.url, { token: await token({ room: 'rights', identity: 'viewer', canPublish: false }) });
    const mute = new TestClient(server.url, { token: await token({ room: 'rights', identity: 'mute', canSubscribe: false }) });
    const silent = new TestClient(server.url, { token: await token({ room: 'rights', identity: 'silent', canPublish: false }) });
    clients.push(viewer, mute, silent);
    await mute.join('rights');
    await mute.connect();
    await silent.join('rights');
    await silent.connect();
    const mutes = new Vp8Source();
    const silents = new Vp8Source({ ssrc: 0x55 });
    mute.pliListeners.push(() => mutes.requestKeyframe());
    const timer = setInterval(() => {
      for (const p of mutes.nextFrame()) mute.sendRtp(p);
      for (const p of silents.nextFrame()) silent.sendRtp(p);
    }, 33);
    try {
      await waitFor(async () => (await server.state()).peers.some((p) => p.name === 'mute' && p.tracks.length === 1), 5000, "mute's track");
      await viewer.join('rights');
      await viewer.subscribeOnly();
      await waitFor(() => viewer.received.length > 20, 8000, "the viewer receives mute's video").catch(async (err: Error) => {
        throw new Error(
          `${err.message}: ${JSON.stringify((await server.state()).peers.map((p) => [p.name, p.tracks.length, p.subscriptions.map((s) => [s.kind, s.packetsOut])]))} ${JSON.stringify(viewer.messages.map((m) => (m.type === 'error' ? m.message : m.type)))} ${JSON.stringify(viewer.pc.getTransceivers().map((t) => [t.mid, t.direction, t.currentDirection, t.receiver.track?.ssrc]))} recv ${viewer.received.length}`,
        );
      });
      assert.equal(viewer.bySsrc().size, 1, 'only one publisher reaches the viewer');
      await waitFor(() => silent.messages.some((m) => m.type === 'error' && m.code === 'forbidden'), 5000, 'silent is told');
      assert.ok(!viewer.messages.some((m) => m.type === 'error'), 'a viewer that sends nothing hears no complaint');
      const peers = (await server.state()).peers;
      const of = (name: string) => peers.find((p) => p.name === name)!;
      assert.equal(of('mute').subscriptions.length, 0, 'mute may not subscribe');
      assert.equal(of('silent').tracks.length, 0, "silent's media is not a published track");
      assert.equal(of('viewer').subscriptions.filter((s) => s.kind === 'video').length, 1);
    } finally {
      clearInterval(timer);
    }
  });

  it('WHIP/WHEP need a bearer token: 401 with WWW-Authenticate, 403 for the wrong room or right', async () => {
    const post = async (path: string, direction: 'sendonly' | 'recvonly', bearer?: string) =>
      fetch(server.url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
        body: fakeVideoOffer(direction),
      });
    const none = await post('/whip/studio', 'sendonly');
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="facecast"');
    assert.equal((await post('/whip/studio', 'sendonly', await token({ room: 'other', identity: 'enc' }))).status, 403);
    assert.match(await (await post('/whip/studio', 'sendonly', await token({ room: 'studio', identity: 'enc', canPublish: false }))).text(), /does not allow publishing/);
    assert.match(await (await post('/whep/studio', 'recvonly', await token({ room: '*', identity: 'tv', canSubscribe: false }))).text(), /does not allow subscribing/);
    // A valid token gets past auth to the SDP checks (this fake offer never connects: 4xx from those, not 401/403).
    const ok = await post('/whep/nobody-here', 'recvonly', await token({ room: '*', identity: 'tv' }));
    assert.equal(ok.status, 404, await ok.text());
  });

  it('`facecast token` mints what the server accepts; --auth-secret refuses short secrets', async () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/server/cli.ts', 'token', '--room', 'studio', '--identity', 'bob', '--no-publish', '--ttl', '60'], {
      encoding: 'utf8',
      env: { ...process.env, FACECAST_AUTH_SECRET: SECRET },
      timeout: 20_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const claims = await verifyToken(r.stdout.trim(), SECRET);
    assert.deepEqual({ ...claims, exp: undefined }, { room: 'studio', identity: 'bob', canPublish: false, canSubscribe: true, exp: undefined });
    assert.ok(claims.exp - Date.now() / 1000 <= 60 && claims.exp - Date.now() / 1000 > 50);
    assert.equal((await open(server.url, r.stdout.trim())).status, 101);
    assert.throws(() => parseServeArgs(['--auth-secret', 'short']), /at least 32 bytes/);
  });
});
