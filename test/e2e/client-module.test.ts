/**
 * facecast/client (web/client/index.ts, served as /facecast-client.js) in headless
 * Chromium: README's example page, two participants who see each other, share
 * face boxes over the data channel, leave; joining errors reject with a code.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { FacecastServer } from '../../src/server/facecast.js';
import { launchBrowser, type LaunchedBrowser } from '../helpers/browser.js';
import { ensureFaceY4m } from '../helpers/face-fixture.js';
import { startTestServer, waitFor } from '../helpers/server.js';

/** Frames decoded so far by the example page's video of `participant` (0 when none). */
const framesOf = (page: Page, participant: string) =>
  page.evaluate((who) => {
    const v = document.querySelector<HTMLVideoElement>(`video[data-participant="${who}"]`);
    return v ? { frames: v.getVideoPlaybackQuality().totalVideoFrames, width: v.videoWidth } : { frames: 0, width: 0 };
  }, participant);

describe('facecast/client in headless Chromium', () => {
  let server: FacecastServer;
  let browser: LaunchedBrowser;
  before(async () => {
    const fixture = await ensureFaceY4m();
    server = await startTestServer({ maxRoomSize: 2 });
    browser = await launchBrowser({ y4m: fixture.path });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it("the README example: two participants each decode the other's video, share faces, and one leaves cleanly", async () => {
    const alice = await browser.context.newPage();
    const bob = await browser.context.newPage();
    const pageErrors: string[] = [];
    for (const p of [alice, bob]) p.on('pageerror', (e) => pageErrors.push(e.message));
    await alice.goto(`${server.url}/client-example.html?room=cm&name=alice`);
    await bob.goto(`${server.url}/client-example.html?room=cm&name=bob`);
    await waitFor(
      async () => (await framesOf(alice, 'bob')).frames >= 30 && (await framesOf(bob, 'alice')).frames >= 30,
      30_000,
      'each page to decode 30 frames of the other',
    ).catch(async (e: Error) => {
      throw new Error(
        `${e.message}: alice sees ${JSON.stringify(await framesOf(alice, 'bob'))}, bob sees ${JSON.stringify(await framesOf(bob, 'alice'))}; page errors ${pageErrors.join('; ')}`,
      );
    });
    const seen = await framesOf(alice, 'bob');
    assert.equal(seen.width > 0, true, 'a real decoded size');
    const roomInfo = await alice.evaluate(() => {
      const r = (window as unknown as { room: { room: string; name: string; participants: Map<string, { name: string }> } }).room;
      return { room: r.room, name: r.name, others: [...r.participants.values()].map((p) => p.name) };
    });
    assert.deepEqual(roomInfo, { room: 'cm', name: 'alice', others: ['bob'] });

    // Face boxes: alice shares, bob gets a typed 'faces' event from "alice".
    await bob.evaluate(() => {
      const w = window as unknown as { room: { on(e: string, f: (v: unknown) => void): void }; got: unknown[] };
      w.got = [];
      w.room.on('faces', (f) => w.got.push(f));
    });
    await waitFor(
      () =>
        alice.evaluate(() =>
          (window as unknown as { room: { sendFaces(f: unknown[], o: unknown): boolean } }).room.sendFaces([{ x: 0.4, y: 0.3, w: 0.2, h: 0.3, score: 0.9 }], {
            frame: 7,
            detector: 'test',
          }),
        ),
      10_000,
      'the data channel to open',
    );
    const faces = await waitFor(
      () => bob.evaluate(() => (window as unknown as { got: { from: string; frame: number; faces: { score: number }[] }[] }).got[0]),
      5000,
      'faces at bob',
    );
    assert.equal(faces.from, 'alice');
    assert.equal(faces.frame, 7);
    assert.equal(faces.faces[0]!.score, 0.9);

    // bob leaves with close(): alice's page removes his video, the server forgets him.
    await bob.evaluate(() => (window as unknown as { room: { close(): void } }).room.close());
    await waitFor(async () => (await framesOf(alice, 'bob')).width === 0, 5000, "bob's video gone at alice");
    await waitFor(async () => (await server.state()).peers.length === 1, 5000, 'one peer left on the server');
    assert.deepEqual(pageErrors, []);
    await alice.close();
    await bob.close();
    await waitFor(async () => (await server.state()).peers.length === 0, 5000, 'no peer left');
  });

  it("connect() rejects with the server's code: a bad room name, a full room", async () => {
    const page = await browser.context.newPage();
    try {
      await page.goto(`${server.url}/healthz`);
      const tryJoin = (room: string, name: string) =>
        page.evaluate(
          async ([room, name]) => {
            const m = (await import('/facecast-client.js' as string)) as { connect(o: unknown): Promise<{ close(): void }> };
            try {
              const r = await m.connect({ room, name });
              (window as unknown as { keep: unknown[] }).keep ??= [];
              (window as unknown as { keep: unknown[] }).keep.push(r);
              return 'joined';
            } catch (err) {
              const e = err as { name: string; code: string; message: string };
              return `${e.name} ${e.code}: ${e.message}`;
            }
          },
          [room, name] as const,
        );
      assert.match(await tryJoin('no spaces!', 'x'), /^FacecastError bad-message: /);
      assert.equal(await tryJoin('full', 'one'), 'joined');
      assert.equal(await tryJoin('full', 'two'), 'joined');
      assert.match(await tryJoin('full', 'three'), /^FacecastError room-full: /);
    } finally {
      await page.close();
    }
  });
});
