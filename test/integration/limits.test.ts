/**
 * Limits on what one client controls: tracks per participant (--max-tracks).
 * (Message size, rooms, participants and data-channel size are covered in
 * bad-input, room and metadata tests.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MediaStreamTrack } from 'werift';
import type { FacecastServer } from '../../src/server/server.js';
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
    // (This client trickles candidates before its offer goes out: those get `no-offer`, as they should.)
    const refused = client.messages.filter((m) => m.type === 'error' && m.code === 'too-many-tracks');
    assert.equal(refused.length, 2, 'one error per refused track');
    assert.equal(server.state().peers.find((p) => p.name === 'many')!.tracks.length, 2);
    assert.equal(client.pc.connectionState, 'connected', 'the call itself goes on');
  });

  it('--max-tracks is a whole number from 1 to 100000, default 8', () => {
    assert.equal((parseServeArgs([]) as ServerConfig).maxTracks, 8);
    assert.equal((parseServeArgs(['--max-tracks', '3']) as ServerConfig).maxTracks, 3);
    assert.throws(() => parseServeArgs(['--max-tracks', '0']), /--max-tracks: "0" must be a whole number/);
  });
});
