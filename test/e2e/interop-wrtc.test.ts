/**
 * Interop with libwebrtc as nobody here built it: @roamhq/wrtc (node-webrtc, libwebrtc
 * M106 prebuilt in the npm package) as a WHIP publisher and as a WHEP viewer.
 *
 *   wrtc RTCVideoSource (face + moving square, 640x480, ~30 fps) --WHIP--> SFU --WHEP--> /watch/ROOM in headless Chromium
 *                                                                             \--WHEP--> wrtc RTCVideoSink
 *
 * All ICE on 127.0.0.1/UDP (see test/helpers/wrtc.ts for how wrtc gathers on `lo`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { FacecastServer } from '../../src/server/server.js';
import { launchBrowser, type LaunchedBrowser } from '../helpers/browser.js';
import { ensureFaceY4m, FRAME_HEIGHT, FRAME_WIDTH } from '../helpers/face-fixture.js';
import { startTestServer, waitFor } from '../helpers/server.js';
import { readFaceI420, selectedPair, WrtcWhepViewer, WrtcWhipPublisher } from '../helpers/wrtc.js';

type WatchDebug = { status: string; tiles: { stream: string; framesDecoded: number }[] };
const watchState = (page: Page) =>
  page.evaluate(() => {
    const w = (window as unknown as { facecastWatch?: WatchDebug }).facecastWatch;
    return w && { status: w.status, tiles: w.tiles };
  });

const ROOM = 'interop';
const NAME = 'libwebrtc';

describe('interop with libwebrtc through @roamhq/wrtc (WHIP publisher, WHEP viewer)', () => {
  let server: FacecastServer;
  let browser: LaunchedBrowser | undefined;
  let face: Uint8Array;
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    const fixture = await ensureFaceY4m();
    face = readFaceI420(fixture.path);
    server = await startTestServer();
  });

  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await browser?.close();
    await server?.close();
  });

  const peersIn = (room: string) => server.state().peers.filter((p) => p.room === room);

  it('WHIP publish from @roamhq/wrtc -> the browser watcher /watch/ROOM decodes frames', async () => {
    const pub = new WrtcWhipPublisher(face);
    closers.push(() => pub.close());
    const session = await pub.publish(`${server.url}/whip/${ROOM}?name=${NAME}`);
    assert.match(session.location, new RegExp(`/whip/${ROOM}/[^/]+$`));
    const answerAddresses = [...session.answer.matchAll(/^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ/gm)].map((m) => m[1]);
    assert.ok(answerAddresses.length > 0 && answerAddresses.every((a) => a === '127.0.0.1'), `SFU candidates: ${answerAddresses.join(', ')}`);

    // The SFU receives VP8 from libwebrtc on one UDP 127.0.0.1 pair.
    const publisher = await waitFor(
      () => peersIn(ROOM).find((p) => p.name === NAME && p.connectionState === 'connected' && p.tracks.some((t) => t.kind === 'video' && t.packetsIn > 30)),
      30_000,
      'the SFU to receive video from the wrtc publisher',
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(peersIn(ROOM))}`);
    });
    assert.equal(publisher.codec?.toLowerCase().includes('vp8') ?? false, true, `codec ${publisher.codec}`);
    const pair = await waitFor(() => selectedPair(pub.pc), 10_000, "wrtc's selected candidate pair");
    assert.equal(pair.protocol, 'udp');
    assert.match(pair.local, /^127\.0\.0\.1:\d+$/);
    assert.match(pair.remote, /^127\.0\.0\.1:\d+$/);

    browser = await launchBrowser();
    const watcher = await browser.context.newPage();
    closers.push(() => watcher.close({ runBeforeUnload: true }).catch(() => undefined));
    await watcher.goto(`${server.url}/watch/${ROOM}`);
    await waitFor(
      async () => (await watchState(watcher))?.tiles.some((t) => t.stream === NAME && t.framesDecoded >= 30),
      45_000,
      `the watcher to decode 30 frames of "${NAME}"`,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(await watchState(watcher))} sfu: ${JSON.stringify(peersIn(ROOM))}`);
    });
    assert.match((await watchState(watcher))!.status, /watching room "interop"/);
    await watcher.close({ runBeforeUnload: true });
    await waitFor(() => !peersIn(ROOM).some((p) => p.name.startsWith('whep-')), 10_000, 'the browser WHEP session to end');
  });

  it('WHEP viewer on @roamhq/wrtc decodes the wrtc publisher through the SFU; DELETE leaves no peer behind', async () => {
    const pub = new WrtcWhipPublisher(face);
    closers.push(() => pub.close());
    await pub.publish(`${server.url}/whip/${ROOM}-2?name=${NAME}`);
    await waitFor(
      () => peersIn(`${ROOM}-2`).some((p) => p.name === NAME && p.tracks.some((t) => t.kind === 'video' && t.packetsIn > 0)),
      30_000,
      'the SFU to receive video from the wrtc publisher',
    );

    const viewer = new WrtcWhepViewer();
    closers.push(() => viewer.close());
    const session = await viewer.watch(`${server.url}/whep/${ROOM}-2`);
    assert.match(session.location, new RegExp(`/whep/${ROOM}-2/[^/]+$`));
    await waitFor(() => viewer.frames.length >= 30, 45_000, 'the wrtc viewer to decode 30 frames').catch((err: Error) => {
      throw new Error(`${err.message}: ${viewer.frames.length} frames; sfu: ${JSON.stringify(peersIn(`${ROOM}-2`))}`);
    });
    assert.deepEqual(viewer.streamIds, [NAME], 'the track arrives in a stream named after the publisher');
    const pair = await waitFor(() => selectedPair(viewer.pc), 10_000, "the viewer's selected candidate pair");
    assert.equal(pair.protocol, 'udp');
    assert.match(pair.local, /^127\.0\.0\.1:\d+$/);
    assert.match(pair.remote, /^127\.0\.0\.1:\d+$/);

    // Decoded frames are the publisher's picture: 4:3 (the encoder may scale it down under load),
    // whole I420 buffers, and the face frame's brightness (not black, not garbage).
    const faceMeanY = (() => {
      let sum = 0;
      for (let i = 0; i < FRAME_WIDTH * FRAME_HEIGHT; i += 97) sum += face[i]!;
      return sum / Math.ceil((FRAME_WIDTH * FRAME_HEIGHT) / 97);
    })();
    for (const f of viewer.frames.slice(0, 30)) {
      assert.ok(f.width >= 160 && f.width <= FRAME_WIDTH && f.height <= FRAME_HEIGHT, `frame size ${f.width}x${f.height}`);
      assert.ok(Math.abs(f.width * 3 - f.height * 4) <= 8, `frame size ${f.width}x${f.height} is 4:3`);
      assert.equal(f.bytes, f.width * f.height + 2 * Math.ceil(f.width / 2) * Math.ceil(f.height / 2), 'an I420 buffer');
      assert.ok(Math.abs(f.meanY - faceMeanY) < 25, `mean luma ${f.meanY.toFixed(1)} vs the face frame's ${faceMeanY.toFixed(1)}`);
    }
    const sizes = [...new Set(viewer.frames.map((f) => `${f.width}x${f.height}`))];
    console.log(`wrtc viewer: ${viewer.frames.length} frames decoded, sizes ${sizes.join(', ')}; publisher fed ${pub.framesFed}`);

    // DELETE the viewer: its peer goes; then the publisher's: the room is empty.
    assert.equal(await viewer.delete(), 200);
    await waitFor(() => !peersIn(`${ROOM}-2`).some((p) => p.name.startsWith('whep-')), 10_000, 'the WHEP session to end');
    assert.equal(await pub.delete(), 200);
    await waitFor(() => peersIn(`${ROOM}-2`).length === 0, 10_000, 'no peer left in the room').catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(peersIn(`${ROOM}-2`))}`);
    });
    const state = (await (await fetch(`${server.url}/api/state`)).json()) as { peers: { room: string | null }[] };
    assert.equal(state.peers.filter((p) => p.room === `${ROOM}-2`).length, 0, '/api/state lists no peer of the room');
  });
});
