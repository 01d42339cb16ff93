/**
 * Dynacast in Chromium: two room pages; when bob hides alice's tile ("Hide video"), alice's
 * browser stops encoding the simulcast layer it was sending him (framesEncoded stops for
 * that rid, the SFU having said nobody receives it), and encodes it again when he shows it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { FacecastServer } from '../../src/server/facecast.js';
import { launchBrowser, type LaunchedBrowser } from '../helpers/browser.js';
import { ensureFaceY4m } from '../helpers/face-fixture.js';
import { startTestServer, waitFor } from '../helpers/server.js';

type RoomWindow = Window & { facecastRoom?: { pc: RTCPeerConnection | null; tiles(): { name: string; hidden: boolean }[] } };

/** framesEncoded per rid of the page's outbound video. */
async function encoded(page: Page): Promise<Record<string, number>> {
  return page.evaluate(async () => {
    const pc = (window as RoomWindow).facecastRoom?.pc;
    const out: Record<string, number> = {};
    if (!pc) return out;
    (await pc.getStats()).forEach((r: { type: string; kind?: string; rid?: string; framesEncoded?: number }) => {
      if (r.type === 'outbound-rtp' && r.kind === 'video' && typeof r.framesEncoded === 'number') out[r.rid ?? ''] = r.framesEncoded;
    });
    return out;
  });
}

/** Video frames the page decoded (all remote videos: getStats, which does not wait for the page to render). */
async function decoded(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const pc = (window as RoomWindow).facecastRoom?.pc;
    let n = 0;
    if (pc)
      (await pc.getStats()).forEach((r: { type: string; kind?: string; framesDecoded?: number }) => {
        if (r.type === 'inbound-rtp' && r.kind === 'video') n += r.framesDecoded ?? 0;
      });
    return n;
  });
}

/** Frames each rid encoded over `ms`. */
async function encodedDuring(page: Page, ms: number): Promise<Record<string, number>> {
  const a = await encoded(page);
  await new Promise((r) => setTimeout(r, ms));
  const b = await encoded(page);
  return Object.fromEntries(Object.keys(b).map((rid) => [rid, b[rid]! - (a[rid] ?? 0)]));
}

describe('dynacast: a hidden tile turns its layer off at the publishing browser', () => {
  const ROOM = 'e2e-dynacast';
  let server: FacecastServer;
  let browser: LaunchedBrowser;
  let alice: Page;
  let bob: Page;

  const open = async (name: string): Promise<Page> => {
    const page = await browser.context.newPage();
    page.on('pageerror', (err) => console.error(`page ${name} error:`, err.message));
    await page.goto(`${server.url}/room/${ROOM}?name=${name}&detector=none`);
    return page;
  };
  /** Clicks "Hide video" / "Show video" on alice's tile; false when there is no such button. */
  const hideButton = (page: Page) =>
    page.evaluate(() => {
      const button = document.querySelector<HTMLButtonElement>('figure.tile[data-name="alice"] button.tile-hide');
      button?.click();
      return button !== null;
    });

  before(async () => {
    const fixture = await ensureFaceY4m();
    server = await startTestServer();
    browser = await launchBrowser({ y4m: fixture.path });
    alice = await open('alice');
    bob = await open('bob');
    // The page in front is the one Chromium renders (and so captures and encodes) at full rate.
    await alice.bringToFront();
    await waitFor(async () => (await decoded(bob)) > 20, 25_000, 'bob decodes alice').catch(async (e: Error) => {
      throw new Error(
        `${e.message}: alice encodes ${JSON.stringify(await encodedDuring(alice, 500))}; server ${JSON.stringify((await server.state()).peers.map((p) => [p.name, p.subscriptions.map((s) => [s.layer, s.packetsOut, s.paused])]))}`,
      );
    });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it("hiding alice's tile on bob's page stops the layer alice encoded for him; showing it starts it again", async () => {
    const before = await encodedDuring(alice, 1500);
    const sending = Object.entries(before)
      .filter(([, n]) => n > 10)
      .map(([rid]) => rid);
    assert.ok(sending.length > 0, `alice encodes some layer for bob: ${JSON.stringify(before)}`);
    const subs = async () => (await server.state()).peers.find((p) => p.name === 'bob')!.subscriptions.filter((s) => s.kind === 'video');
    const forwardedRid = (await subs())[0]!.layer ?? '';
    console.log(`# alice encodes ${JSON.stringify(before)} in 1.5 s; bob gets ${forwardedRid || '(no simulcast)'}`);
    assert.ok(sending.includes(forwardedRid), `the layer bob gets (${forwardedRid}) is encoded`);

    assert.ok(await hideButton(bob), 'the hide button');
    // Off for a whole 1.5 s window: the layer goes off 3 s after the last want, and Chromium
    // pauses every layer for a moment whenever the set of active ones changes (q going off
    // here), which a shorter window mistook for the layer being off.
    await waitFor(
      async () => {
        const during = await encodedDuring(alice, 1500);
        return (during[forwardedRid] ?? 0) === 0;
      },
      10_000,
      `alice stops encoding ${forwardedRid}`,
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(await encodedDuring(alice, 700))}; bob's subscriptions ${JSON.stringify(await subs())}`);
    });
    const hidden = await encodedDuring(alice, 1500);
    assert.equal(hidden[forwardedRid] ?? 0, 0, `nothing encoded for a hidden tile: ${JSON.stringify(hidden)}`);

    assert.ok(await hideButton(bob), 'the show button');
    await waitFor(async () => ((await encodedDuring(alice, 700))[forwardedRid] ?? 0) > 5, 8000, `alice encodes ${forwardedRid} again`).catch(async (e: Error) => {
      throw new Error(`${e.message}: bob's subscriptions ${JSON.stringify(await subs())}`);
    });
    const at = await decoded(bob);
    await waitFor(async () => (await decoded(bob)) > at + 10, 8000, 'bob decodes alice again');
    const tile = (await bob.evaluate(() => (window as RoomWindow).facecastRoom?.tiles() ?? [])).find((t) => t.name === 'alice');
    assert.equal(tile?.hidden, false, 'the tile says shown');
  });

  it('with a third page (the server renegotiates with everyone), every tile hidden on every page: no page encodes anything', async () => {
    const carol = await open('carol');
    const pages = { alice, bob, carol };
    for (const [name, page] of Object.entries(pages)) await waitFor(async () => (await decoded(page)) > 20, 20_000, `${name} decodes the others`);
    for (const page of Object.values(pages)) {
      const n = await page.evaluate(() => {
        const buttons = [...document.querySelectorAll<HTMLButtonElement>('figure.tile:not(.hidden-by-user) button.tile-hide')];
        for (const b of buttons) b.click();
        return document.querySelectorAll('figure.tile.hidden-by-user').length;
      });
      assert.equal(n, 2, 'both remote tiles hidden');
    }
    for (const [name, page] of Object.entries(pages)) {
      await waitFor(async () => Object.values(await encodedDuring(page, 1500)).every((n) => n === 0), 10_000, `${name} encodes nothing`).catch(async (e: Error) => {
        const params = await page.evaluate(() =>
          JSON.stringify((window as RoomWindow).facecastRoom?.pc?.getSenders().map((x) => x.getParameters().encodings.map((e) => [e.rid, e.active]))),
        );
        throw new Error(`${e.message}: ${JSON.stringify(await encodedDuring(page, 700))}; sender encodings ${params}`);
      });
    }
    await carol.close();
  });
});
