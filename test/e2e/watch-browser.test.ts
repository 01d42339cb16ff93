/**
 * /watch/ROOM, the WHEP player, in headless Chromium: it waits while nothing is
 * published, then plays a room page's camera (fake, a real face) through
 * POST /whep/ROOM; closing it DELETEs its session.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { FacecastServer } from '../../src/server/facecast.js';
import { launchBrowser, type LaunchedBrowser } from '../helpers/browser.js';
import { ensureFaceY4m } from '../helpers/face-fixture.js';
import { startTestServer, waitFor } from '../helpers/server.js';

type WatchDebug = { status: string; tiles: { stream: string; framesDecoded: number }[] };
const watchState = (page: Page) =>
  page.evaluate(
    () => (window as unknown as { facecastWatch: WatchDebug }).facecastWatch && { ...(window as unknown as { facecastWatch: WatchDebug }).facecastWatch, pc: undefined },
  );

describe('the WHEP player page /watch/ROOM in headless Chromium', () => {
  let server: FacecastServer;
  let browser: LaunchedBrowser;
  before(async () => {
    const fixture = await ensureFaceY4m();
    server = await startTestServer();
    browser = await launchBrowser({ y4m: fixture.path });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('says nothing is published, then plays the room page that starts publishing, and leaves no session behind', async () => {
    const watcher = await browser.context.newPage();
    await watcher.goto(`${server.url}/watch/stage`);
    await waitFor(async () => /nothing is published in room "stage" yet/.test((await watchState(watcher))?.status ?? ''), 10_000, 'the waiting message');
    const publisher = await browser.context.newPage();
    await publisher.goto(`${server.url}/room/stage?name=cam&detector=none&audio=0`);
    await waitFor(
      async () => (await watchState(watcher))?.tiles.some((t) => t.stream === 'cam' && t.framesDecoded >= 30),
      30_000,
      'the watcher to decode 30 frames of "cam"',
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(await watchState(watcher))}`);
    });
    assert.match((await watchState(watcher))!.status, /watching room "stage"/);
    const whep = (await server.state()).peers.filter((p) => p.name.startsWith('whep-'));
    assert.equal(whep.length, 1, 'one WHEP viewer');
    await watcher.close({ runBeforeUnload: true });
    await waitFor(async () => !(await server.state()).peers.some((p) => p.name.startsWith('whep-')), 10_000, 'the WHEP session to end');
    await publisher.close();
  });

  it('a bad room name is a 400 from the server', async () => {
    const res = await fetch(`${server.url}/watch/no%20spaces`);
    assert.equal(res.status, 400);
  });
});
