/**
 * The pages in headless Chromium against a server with room workers (--workers 2,
 * what `npm start` runs on a 2-core machine): the echo page, and two room pages
 * that see each other, on worker threads.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FacecastServer } from '../../src/server/facecast.js';
import { launchBrowser, type LaunchedBrowser } from '../helpers/browser.js';
import { ensureFaceY4m } from '../helpers/face-fixture.js';
import { startTestServer, waitFor } from '../helpers/server.js';

type Tile = { name: string; framesDecoded: number };

describe('the pages with room workers (--workers 2) in headless Chromium', () => {
  let server: FacecastServer;
  let browser: LaunchedBrowser;
  before(async () => {
    const fixture = await ensureFaceY4m();
    server = await startTestServer({ workers: 2 });
    browser = await launchBrowser({ y4m: fixture.path });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('the echo page decodes its echo from a worker, and a room of two on the other worker plays both ways', async () => {
    const echo = await browser.context.newPage();
    await echo.goto(`${server.url}/?detector=none`);
    const echoFrames = () => echo.evaluate(() => (document.getElementById('echo') as HTMLVideoElement).getVideoPlaybackQuality().totalVideoFrames);
    await waitFor(async () => (await echoFrames()) >= 30, 30_000, '30 echo frames');

    const alice = await browser.context.newPage();
    const bob = await browser.context.newPage();
    await alice.goto(`${server.url}/room/wk?name=alice&detector=none&audio=0`);
    await bob.goto(`${server.url}/room/wk?name=bob&detector=none&audio=0`);
    const decoded = (page: typeof alice, who: string) =>
      page.evaluate((n) => (window as unknown as { facecastRoom: { tiles(): Tile[] } }).facecastRoom.tiles().find((t) => t.name === n)?.framesDecoded ?? 0, who);
    await waitFor(async () => (await decoded(alice, 'bob')) >= 30 && (await decoded(bob, 'alice')) >= 30, 30_000, 'alice and bob decode each other');

    const state = await server.state();
    assert.equal(state.peers.length, 3);
    const workerOf = (room?: { worker?: number }) => room?.worker;
    const echoWorker = workerOf(state.rooms.find((r) => r.name.startsWith('~echo-')));
    const roomWorker = workerOf(state.rooms.find((r) => r.name === 'wk'));
    assert.deepEqual(new Set([echoWorker, roomWorker]), new Set([0, 1]), 'the echo and the room on different workers');
    assert.equal(roomWorker, server.workers!.workerOf('wk'));
    for (const p of [echo, alice, bob]) await p.close();
    await waitFor(async () => (await server.state()).peers.length === 0, 10_000, 'no peers left');
  });
});
