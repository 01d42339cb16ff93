/**
 * Interop with libwebrtc as nobody here built it: @roamhq/wrtc (node-webrtc, libwebrtc
 * M106 prebuilt in the npm package) as a WHIP publisher and as a WHEP viewer.
 *
 *   wrtc RTCVideoSource (face + moving blue mark, 640x480, ~30 fps) --WHIP--> SFU --WHEP--> /watch/ROOM in headless Chromium
 *                                                                             \--WHEP--> wrtc RTCVideoSink
 *
 * All ICE on 127.0.0.1/UDP (test/helpers/wrtc-peer.ts: how wrtc gathers on `lo`). Each wrtc peer runs
 * in a child process (wrtc-peer.ts says why), driven through test/helpers/wrtc.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { FacecastServer } from '../../src/server/facecast.js';
import { launchBrowser, type LaunchedBrowser } from '../helpers/browser.js';
import { ensureFaceY4m, FRAME_HEIGHT, FRAME_WIDTH } from '../helpers/face-fixture.js';
import { startTestServer, waitFor } from '../helpers/server.js';
import { drawMark, findMark, MARK_PERIOD, readFaceI420, startWrtcPeer, type WrtcPeer } from '../helpers/wrtc.js';

type WatchDebug = { status: string; tiles: { stream: string; framesDecoded: number }[] };
const watchState = (page: Page) =>
  page.evaluate(() => {
    const w = (window as unknown as { facecastWatch?: WatchDebug }).facecastWatch;
    return w && { status: w.status, tiles: w.tiles };
  });

/**
 * Where the publisher's blue mark is in the picture the page's <video> shows for `stream`
 * (centre, in 640x480 pixels; null without one), read back through a canvas.
 */
const markInPage = (page: Page, stream: string) =>
  page.evaluate((stream) => {
    const video = document.querySelector<HTMLVideoElement>(`video[data-stream="${CSS.escape(stream)}"]`);
    if (!video || video.videoWidth === 0) return null;
    const canvas = document.createElement('canvas');
    canvas.width = 160;
    canvas.height = 120;
    const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    ctx.drawImage(video, 0, 0, 160, 120);
    const px = ctx.getImageData(0, 0, 160, 120).data;
    let sx = 0;
    let sy = 0;
    let n = 0;
    for (let i = 0; i < 160 * 120; i++) {
      const [r, g, b] = [px[i * 4]!, px[i * 4 + 1]!, px[i * 4 + 2]!];
      if (b > 140 && r < 100 && g < 100) {
        sx += i % 160;
        sy += Math.floor(i / 160);
        n++;
      }
    }
    return n < 50 ? null : { x: ((sx / n + 0.5) * 640) / 160, y: ((sy / n + 0.5) * 480) / 120, pixels: n };
  }, stream);

const ROOM = 'interop';
const NAME = 'libwebrtc';

describe('interop with libwebrtc through @roamhq/wrtc (WHIP publisher, WHEP viewer)', () => {
  let server: FacecastServer;
  let browser: LaunchedBrowser | undefined;
  let y4m: string;
  let face: Uint8Array;
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    const fixture = await ensureFaceY4m();
    y4m = fixture.path;
    face = readFaceI420(y4m);
    server = await startTestServer();
  });

  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await browser?.close();
    await server?.close();
  });

  it('the mark the publisher draws tells which frame it is (the decoded-frame check relies on it)', () => {
    const frame = new Uint8Array(face);
    for (const n of [0, 1, 71, 72, 500, MARK_PERIOD - 1]) {
      frame.set(face);
      drawMark(frame, n);
      assert.equal(findMark({ width: FRAME_WIDTH, height: FRAME_HEIGHT, data: frame }), n);
    }
    assert.equal(findMark({ width: FRAME_WIDTH, height: FRAME_HEIGHT, data: face }), null, 'the face alone has no mark');
  });

  const peersIn = async (room: string) => (await server.state()).peers.filter((p) => p.room === room);
  const wrtcPeer = async (): Promise<WrtcPeer> => {
    const peer = await startWrtcPeer();
    closers.push(() => peer.close());
    return peer;
  };

  it('WHIP publish from @roamhq/wrtc -> the browser watcher /watch/ROOM decodes frames', async () => {
    const pub = await wrtcPeer();
    const session = await pub.publish(`${server.url}/whip/${ROOM}?name=${NAME}`, y4m);
    assert.match(session.location, new RegExp(`/whip/${ROOM}/[^/]+$`));
    const answerAddresses = [...session.answer.matchAll(/^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ/gm)].map((m) => m[1]);
    assert.ok(answerAddresses.length > 0 && answerAddresses.every((a) => a === '127.0.0.1'), `SFU candidates: ${answerAddresses.join(', ')}`);

    // The SFU receives VP8 from libwebrtc on one UDP 127.0.0.1 pair.
    const publisher = await waitFor(
      async () => (await peersIn(ROOM)).find((p) => p.name === NAME && p.connectionState === 'connected' && p.tracks.some((t) => t.kind === 'video' && t.packetsIn > 30)),
      30_000,
      'the SFU to receive video from the wrtc publisher',
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(await peersIn(ROOM))}`);
    });
    assert.equal(publisher.codec?.toLowerCase().includes('vp8') ?? false, true, `codec ${publisher.codec}`);
    const pair = await waitFor(() => pub.selectedPair(), 10_000, "wrtc's selected candidate pair");
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
      throw new Error(`${err.message}: ${JSON.stringify(await watchState(watcher))} sfu: ${JSON.stringify(await peersIn(ROOM))}`);
    });
    assert.match((await watchState(watcher))!.status, /watching room "interop"/);
    // What the page shows is the live picture: the mark is there, and moves.
    const first = await waitFor(() => markInPage(watcher, NAME), 10_000, "the mark in the page's video");
    const moved = await waitFor(
      async () => {
        const now = await markInPage(watcher, NAME);
        return now && Math.hypot(now.x - first.x, now.y - first.y) >= 16 ? now : undefined;
      },
      10_000,
      `the mark to move from ${JSON.stringify(first)}`,
    );
    console.log(`chromium watcher: mark at ${JSON.stringify(first)}, then ${JSON.stringify(moved)}`);
    await watcher.close({ runBeforeUnload: true });
    await waitFor(async () => !(await peersIn(ROOM)).some((p) => p.name.startsWith('whep-')), 10_000, 'the browser WHEP session to end');
    await pub.close();
    await waitFor(async () => (await peersIn(ROOM)).length === 0, 10_000, 'the publisher to leave');
  });

  it('WHEP viewer on @roamhq/wrtc decodes the wrtc publisher through the SFU; DELETE leaves no peer behind', async () => {
    const pub = await wrtcPeer();
    await pub.publish(`${server.url}/whip/${ROOM}-2?name=${NAME}`, y4m);
    await waitFor(
      async () => (await peersIn(`${ROOM}-2`)).some((p) => p.name === NAME && p.tracks.some((t) => t.kind === 'video' && t.packetsIn > 0)),
      30_000,
      'the SFU to receive video from the wrtc publisher',
    );

    const viewer = await wrtcPeer();
    const session = await viewer.watch(`${server.url}/whep/${ROOM}-2`);
    assert.match(session.location, new RegExp(`/whep/${ROOM}-2/[^/]+$`));
    const seen = await waitFor(
      async () => {
        const p = await viewer.progress();
        return p.frames.length >= 30 ? p : undefined;
      },
      45_000,
      'the wrtc viewer to decode 30 frames',
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(await viewer.progress().catch(() => undefined))}; sfu: ${JSON.stringify(await peersIn(`${ROOM}-2`))}`);
    });
    assert.deepEqual(seen.streamIds, [NAME], 'the track arrives in a stream named after the publisher');
    const pair = await waitFor(() => viewer.selectedPair(), 10_000, "the viewer's selected candidate pair");
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
    const first30 = seen.frames.slice(0, 30);
    for (const f of first30) {
      assert.ok(f.width >= 160 && f.width <= FRAME_WIDTH && f.height <= FRAME_HEIGHT, `frame size ${f.width}x${f.height}`);
      assert.ok(Math.abs(f.width * 3 - f.height * 4) <= 8, `frame size ${f.width}x${f.height} is 4:3`);
      assert.equal(f.bytes, f.width * f.height + 2 * Math.ceil(f.width / 2) * Math.ceil(f.height / 2), 'an I420 buffer');
      assert.ok(Math.abs(f.meanY - faceMeanY) < 25, `mean luma ${f.meanY.toFixed(1)} vs the face frame's ${faceMeanY.toFixed(1)}`);
    }
    // ... and they are fed frames in the order fed, every one a different one (its mark says which).
    const marks = first30.map((f) => f.mark);
    assert.ok(
      marks.every((m) => m !== null),
      `every frame shows its mark: ${JSON.stringify(marks)}`,
    );
    for (let i = 1; i < marks.length; i++) {
      const step = (marks[i]! - marks[i - 1]! + MARK_PERIOD) % MARK_PERIOD;
      assert.ok(step >= 1 && step <= 60, `frame ${i} is fed frame ${marks[i]} after ${marks[i - 1]}: ${JSON.stringify(marks)}`);
    }
    const sizes = [...new Set(seen.frames.map((f) => `${f.width}x${f.height}`))];
    console.log(
      `wrtc viewer: ${seen.frames.length} frames decoded, sizes ${sizes.join(', ')}; publisher fed ${(await pub.progress()).framesFed}; marks of the first 30: ${marks.join(' ')}`,
    );

    // DELETE the viewer: its peer goes; then the publisher's: the room is empty.
    assert.equal(await viewer.delete(), 200);
    await waitFor(async () => !(await peersIn(`${ROOM}-2`)).some((p) => p.name.startsWith('whep-')), 10_000, 'the WHEP session to end');
    assert.equal(await pub.delete(), 200);
    await waitFor(async () => (await peersIn(`${ROOM}-2`)).length === 0, 10_000, 'no peer left in the room').catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(await peersIn(`${ROOM}-2`))}`);
    });
    const state = (await (await fetch(`${server.url}/api/state`)).json()) as { peers: { room: string | null }[] };
    assert.equal(state.peers.filter((p) => p.room === `${ROOM}-2`).length, 0, '/api/state lists no peer of the room');
  });
});
