/**
 * The room page in headless Chromium: three pages in one room each play the
 * other two; one leaves and the others drop its tile; a late joiner gets
 * video fast; a full room says so.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { FacecastServer } from '../../src/server/facecast.js';
import { launchBrowser, type LaunchedBrowser } from '../helpers/browser.js';
import { ensureFaceY4m } from '../helpers/face-fixture.js';
import { startTestServer, waitFor } from '../helpers/server.js';

interface Tile {
  name: string;
  tile: boolean;
  framesDecoded: number;
  firstFrameAt: number | null;
}

interface RoomView {
  joined: boolean;
  joinedAt: number | null;
  participants: string[];
  tiles: Tile[];
  status: string;
  serverErrors: { code: string; message: string }[];
}

type RoomWindow = Window & {
  facecastRoom?: {
    joined: boolean;
    joinedAt: number | null;
    participants: string[];
    tiles(): Tile[];
    status: string;
    serverErrors: { code: string; message: string }[];
  };
};

function view(page: Page): Promise<RoomView | null> {
  return page.evaluate(() => {
    const r = (window as RoomWindow).facecastRoom;
    if (!r) return null;
    return { joined: r.joined, joinedAt: r.joinedAt, participants: r.participants, tiles: r.tiles(), status: r.status, serverErrors: r.serverErrors };
  });
}

/** The names of the tiles on screen. */
async function shown(page: Page): Promise<string[]> {
  return ((await view(page))?.tiles ?? [])
    .filter((t) => t.tile)
    .map((t) => t.name)
    .sort();
}

async function frames(page: Page, name: string): Promise<number> {
  return ((await view(page))?.tiles ?? []).find((t) => t.name === name && t.tile)?.framesDecoded ?? 0;
}

/** What every page and the server see, for a failure message. */
async function diagnose(pages: Map<string, Page>, server: FacecastServer): Promise<string> {
  const lines: string[] = [];
  for (const [name, page] of pages) {
    const v = await view(page).catch((err: Error) => err.message);
    const tr = await page
      .evaluate(() =>
        (window as RoomWindow & { facecastRoom?: { pc: RTCPeerConnection | null } }).facecastRoom?.pc
          ?.getTransceivers()
          .map((t) => `${t.mid}:${t.receiver.track.kind}:${t.currentDirection}:${t.receiver.track.muted ? 'muted' : 'live'}`),
      )
      .catch(() => null);
    lines.push(`${name}: ${JSON.stringify(v)} transceivers ${JSON.stringify(tr)}`);
  }
  for (const p of (await server.state()).peers) {
    lines.push(
      `server ${p.name} ${p.connectionState}/${p.signalingState}: in ${p.packetsIn} out ${p.packetsOut}; subs ${p.subscriptions.map((s) => `${s.publisherId}/${s.kind}/${s.layer}:${s.packetsOut}@${s.estimateBps}`).join(' ')}; layers in ${p.tracks.map((t) => `${t.kind}:${t.packetsIn}`).join(' ')}`,
    );
  }
  return lines.join('\n');
}

describe('the room page: three Chromium pages in one room', () => {
  const ROOM = 'e2e-room';
  let server: FacecastServer;
  let browser: LaunchedBrowser;
  const pages = new Map<string, Page>();

  // Detection is the echo page's business (tested there); here it would only take the CPU the encoders need.
  const open = async (name: string, extra = ''): Promise<Page> => {
    const page = await browser.context.newPage();
    page.on('pageerror', (err) => console.error(`page ${name} error:`, err.message));
    await page.goto(`${server.url}/room/${ROOM}?name=${name}&detector=none${extra}`);
    pages.set(name, page);
    return page;
  };

  before(async () => {
    const fixture = await ensureFaceY4m();
    server = await startTestServer({ maxRoomSize: 3 });
    browser = await launchBrowser({ y4m: fixture.path });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('each of three pages plays the other two (decoded frames increase)', async () => {
    for (const name of ['alice', 'bob', 'carol']) await open(name);
    for (const [name, page] of pages) {
      const others = [...pages.keys()].filter((n) => n !== name).sort();
      await waitFor(async () => JSON.stringify(await shown(page)) === JSON.stringify(others), 20_000, `${name} shows tiles for ${others.join(', ')}`).catch(async (err: Error) => {
        throw new Error(`${err.message}\n${await diagnose(pages, server)}`);
      });
    }
    for (const [name, page] of pages) {
      for (const other of pages.keys()) {
        if (other === name) continue;
        const first = await waitFor(
          async () => {
            const n = await frames(page, other);
            return n >= 10 ? n : undefined;
          },
          20_000,
          `${name} decodes ${other}`,
        ).catch(async (err: Error) => {
          throw new Error(`${err.message}\n${await diagnose(pages, server)}`);
        });
        await waitFor(async () => (await frames(page, other)) >= first + 15, 10_000, `${name} keeps decoding ${other}`).catch(async (err: Error) => {
          throw new Error(`${err.message}\n${await diagnose(pages, server)}`);
        });
      }
    }
    // The server's view: one room of three, each subscribed to the two others' video.
    const state = await server.state();
    assert.deepEqual(
      state.rooms.map((r) => [r.name, r.participants.length]),
      [[ROOM, 3]],
    );
    for (const peer of state.peers) {
      const video = peer.subscriptions.filter((s) => s.kind === 'video');
      assert.equal(new Set(video.map((s) => s.publisherId)).size, 2, `${peer.name} gets video from two publishers`);
      assert.ok(
        video.every((s) => s.packetsOut > 0),
        `${peer.name}'s video subscriptions carry packets`,
      );
      // Simulcast: each publisher sends several layers; the subscriber gets one of them.
      assert.ok(
        video.every((s) => s.layer !== null),
        `${peer.name}'s subscriptions forward a simulcast layer`,
      );
    }
    // Congestion feedback: Chromium sends REMB for what it receives; the SFU keeps each
    // subscriber's estimate and tells each publisher the largest.
    await waitFor(
      async () => (await server.state()).peers.every((p) => p.subscriptions.some((s) => s.kind === 'video' && s.estimateBps !== null)),
      10_000,
      'a REMB estimate from every subscriber',
    );
    await waitFor(async () => (await server.state()).peers.every((p) => p.tracks.some((t) => t.rembSentBps !== null)), 5_000, 'a REMB to every publisher');
    const after = await server.state();
    console.log(
      `# room of 3: ${after.peers
        .map(
          (p) =>
            `${p.name} gets ${p.subscriptions
              .filter((s) => s.kind === 'video')
              .map((s) => `${s.layer}@${Math.round((s.estimateBps ?? 0) / 1000)}kbps`)
              .join(', ')}; told ${Math.round((p.tracks.find((t) => t.rembSentBps !== null)?.rembSentBps ?? 0) / 1000)} kbps`,
        )
        .join(' | ')}`,
    );
  });

  it("a leaving participant's tile disappears for the others within 2 s", async () => {
    const carol = pages.get('carol')!;
    pages.delete('carol');
    const t0 = Date.now();
    await carol.close();
    for (const [name, page] of pages) {
      await waitFor(async () => !(await shown(page)).includes('carol'), 2_000, `${name} drops carol's tile`);
    }
    const ms = Date.now() - t0;
    console.log(`# tile of a leaving participant gone for everyone in ${ms} ms`);
    assert.ok(ms < 2_000);
    await waitFor(async () => (await server.state()).peers.length === 2, 10_000, 'the server to drop carol');
  });

  it('a late joiner gets video from everyone in under 2 s, and the others get its video', async () => {
    const dave = await open('dave');
    const v = await waitFor(
      async (): Promise<RoomView | undefined> => {
        const r = await view(dave);
        const tiles = r?.tiles.filter((t) => t.tile && t.firstFrameAt !== null) ?? [];
        return r && r.joinedAt !== null && tiles.length === 2 ? r : undefined;
      },
      10_000,
      'dave to show two playing tiles',
    );
    const firstFrames = v.tiles.filter((t) => t.tile).map((t) => ({ name: t.name, ms: Math.round(t.firstFrameAt! - v.joinedAt!) }));
    console.log(`# late joiner: first remote frame after joining: ${firstFrames.map((f) => `${f.name} ${f.ms} ms`).join(', ')}`);
    assert.deepEqual(firstFrames.map((f) => f.name).sort(), ['alice', 'bob']);
    for (const f of firstFrames) assert.ok(f.ms < 2_000, `dave's first frame from ${f.name} took ${f.ms} ms`);
    for (const name of ['alice', 'bob']) {
      const page = pages.get(name)!;
      await waitFor(async () => (await frames(page, 'dave')) >= 10, 10_000, `${name} decodes dave`).catch(async (err: Error) => {
        throw new Error(`${err.message}\n${await diagnose(pages, server)}`);
      });
    }
  });

  it('a fourth participant in a room of three gets a clear room-full error', async () => {
    const erin = await open('erin');
    const v = await waitFor(
      async (): Promise<RoomView | undefined> => {
        const r = await view(erin);
        return r && r.serverErrors.length > 0 ? r : undefined;
      },
      10_000,
      'erin to get an error',
    );
    assert.equal(v.serverErrors[0]!.code, 'room-full');
    assert.match(v.status, /cannot join room e2e-room: .*full/i);
    assert.equal(v.joined, false);
    // The others are untouched.
    assert.equal((await server.state()).rooms[0]!.participants.length, 3);
    await erin.close();
  });

  it('the echo toggle adds your own echo as a tile (the #echo video)', async () => {
    const alice = pages.get('alice')!;
    await alice.evaluate(() => (window as unknown as { facecastRoom: { setEcho(on: boolean): void } }).facecastRoom.setEcho(true));
    await waitFor(async () => (await frames(alice, 'alice')) >= 10, 10_000, 'alice to decode her own echo');
    assert.equal(await alice.evaluate(() => document.querySelectorAll('video#echo').length), 1);
    await alice.evaluate(() => (window as unknown as { facecastRoom: { setEcho(on: boolean): void } }).facecastRoom.setEcho(false));
    await waitFor(async () => !(await shown(alice)).includes('alice'), 3_000, "alice's echo tile to go away");
  });
});
