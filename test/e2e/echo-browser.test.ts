import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { FacecastServer } from '../../src/server/facecast.js';
import { launchBrowser, type LaunchedBrowser } from '../helpers/browser.js';
import { ensureFaceY4m } from '../helpers/face-fixture.js';
import { mintToken } from '../../src/server/auth.js';
import { startTestServer, waitFor } from '../helpers/server.js';

/** Frames decoded by the page's echo receiver (inbound-rtp video). */
async function echoFramesDecoded(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const pc = (window as unknown as { facecast?: { pc?: RTCPeerConnection | null } }).facecast?.pc;
    if (!pc) return 0;
    let n = 0;
    (await pc.getStats()).forEach((s: { type: string; kind?: string; framesDecoded?: number }) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') n = s.framesDecoded ?? 0;
    });
    return n;
  });
}

describe('the echo page in headless Chromium with a fake camera of a real face', () => {
  let server: FacecastServer;
  let browser: LaunchedBrowser;
  let page: Page;
  let face: { x: number; y: number; w: number; h: number };

  before(async () => {
    const fixture = await ensureFaceY4m();
    face = fixture.faces[0]!;
    server = await startTestServer();
    browser = await launchBrowser({ y4m: fixture.path });
    page = await browser.context.newPage();
    page.on('pageerror', (err) => console.error('page error:', err.message));
    await page.goto(server.url + '/');
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('connects and decodes at least 60 echo frames', async () => {
    await page.waitForFunction(() => (window as unknown as { facecast?: { stats: { connection: string } } }).facecast?.stats.connection === 'connected', null, { timeout: 20_000 });
    await waitFor(async () => (await echoFramesDecoded(page)) >= 60, 20_000, '60 decoded echo frames');
  });

  it('the echo carries a green box drawn around the face', async () => {
    // Wait until the detector has found the face, then give the echo a moment to catch up.
    await page.waitForFunction(() => ((window as unknown as { facecast: { faces: unknown[] } }).facecast.faces.length ?? 0) > 0, null, { timeout: 30_000 });
    await page.waitForTimeout(1000);
    // The box the page drew: the latest detection (normalized), on a still face.
    const drawn = await page.evaluate(() => {
      const f = (window as unknown as { facecast: { faces: { box: { x: number; y: number; w: number; h: number } }[] } }).facecast.faces[0]!.box;
      return { x: f.x, y: f.y, w: f.w, h: f.h };
    });
    const cx = (drawn.x + drawn.w / 2) * 640;
    const cy = (drawn.y + drawn.h / 2) * 480;
    assert.ok(cx > face.x && cx < face.x + face.w && cy > face.y && cy < face.y + face.h, `the detected box is on the labelled face: ${JSON.stringify(drawn)}`);
    const result = await page.evaluate((box) => {
      const video = document.getElementById('echo') as HTMLVideoElement;
      const w = video.videoWidth;
      const h = video.videoHeight;
      const canvas = document.createElement('canvas');
      canvas.width = w;
      canvas.height = h;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(video, 0, 0);
      const data = ctx.getImageData(0, 0, w, h).data;
      // A band of +-12 px around the drawn box's outline (and the score text above it).
      const x0 = box.x * w,
        x1 = (box.x + box.w) * w,
        y0 = box.y * h,
        y1 = (box.y + box.h) * h;
      const band = 12 * (w / 640);
      let onBox = 0;
      let elsewhere = 0;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const i = (y * w + x) * 4;
          const green = data[i + 1]! > 180 && data[i]! < 100 && data[i + 2]! < 100;
          if (!green) continue;
          const outer = x >= x0 - band && x <= x1 + band && y >= y0 - band * 2.5 && y <= y1 + band;
          const inner = x > x0 + band && x < x1 - band && y > y0 + band && y < y1 - band;
          if (outer && !inner) onBox++;
          else elsewhere++;
        }
      }
      return { w, h, onBox, elsewhere };
    }, drawn);
    assert.ok(result.w > 0 && result.h > 0, 'the echo video has frames');
    // A 4 px outline around a ~170x250 box is ~3000 pixels at 640x480; allow for VP8 blur and scaling.
    assert.ok(result.onBox > 400, `green pixels on the box outline in the echo: ${result.onBox}`);
    assert.ok(result.elsewhere < result.onBox / 4, `few green pixels elsewhere: ${result.elsewhere} vs ${result.onBox}`);
  });

  it("shows the echo's glass-to-glass latency, read back from the frame code", async () => {
    type Glass = { medianMs: number | null; frames: number; unreadable: number };
    const glass = () => page.evaluate(() => (window as unknown as { facecast: { glass(): Glass } }).facecast.glass());
    await waitFor(async () => (await glass()).frames >= 30, 10_000, '30 echo frames with a readable frame code');
    const g = await glass();
    // The frame code survives VP8; latency is positive (capture before display) and plausible on loopback.
    assert.ok(g.medianMs !== null && g.medianMs > 0 && g.medianMs < 1000, `glass-to-glass median ${g.medianMs} ms`);
    assert.ok(g.frames > g.unreadable, `frames read ${g.frames}, unreadable ${g.unreadable}`);
    await waitFor(async () => /^\d+(\.\d)?$/.test((await page.textContent('#stat-glass')) ?? ''), 3000, 'the figure on screen');
  });

  it('?loopback=direct sends the same canvas through two in-page peer connections (no SFU) and measures it too', async () => {
    const direct = await browser.context.newPage();
    try {
      await direct.goto(server.url + '/?detector=none&loopback=direct');
      await direct.waitForFunction(() => (window as unknown as { facecast?: { stats: { connection: string } } }).facecast?.stats.connection === 'connected', null, {
        timeout: 20_000,
      });
      await waitFor(
        () => direct.evaluate(() => (window as unknown as { facecast: { glass(): { frames: number } } }).facecast.glass().frames >= 30),
        15_000,
        'direct loopback frames with a readable code',
      );
      assert.match((await direct.textContent('#echo-caption')) ?? '', /direct loopback/);
      // The SFU saw only the first page.
      assert.equal((await server.state()).peers.length, 1);
    } finally {
      await direct.close();
    }
  });

  it('with --auth-secret, the page connects with ?token= and says why without one', async () => {
    const secret = 'e2e-secret-0123456789abcdef0123456789';
    const guarded = await startTestServer({ authSecret: secret });
    const pages = [await browser.context.newPage(), await browser.context.newPage()];
    try {
      const token = await mintToken(secret, { room: '*', identity: 'viewer' }, 600);
      await pages[0]!.goto(`${guarded.url}/?detector=none&token=${token}`);
      await pages[0]!.waitForFunction(() => (window as unknown as { facecast?: { stats: { connection: string } } }).facecast?.stats.connection === 'connected', null, {
        timeout: 20_000,
      });
      await pages[1]!.goto(`${guarded.url}/?detector=none`);
      await waitFor(async () => /signaling|server|connect/i.test((await pages[1]!.textContent('#status')) ?? ''), 10_000, 'a status line about the refused connection');
      assert.equal((await guarded.state()).peers.length, 1, 'only the page with a token has a peer');
    } finally {
      for (const p of pages) await p.close();
      await guarded.close();
    }
  });

  it('/api/state shows the browser peer forwarding packets', async () => {
    const res = await fetch(server.url + '/api/state');
    const state = (await res.json()) as Awaited<ReturnType<FacecastServer['state']>>;
    assert.equal(state.peers.length, 1);
    const peer = state.peers[0]!;
    assert.equal(peer.connectionState, 'connected');
    assert.equal(peer.codec, 'video/VP8');
    assert.ok(peer.packetsIn > 100, `packets in: ${peer.packetsIn}`);
    assert.ok(peer.packetsOut > 100, `packets out: ${peer.packetsOut}`);
  });

  it('closing the page leaves no peer behind', async () => {
    await page.close();
    await waitFor(async () => (await server.state()).peers.length === 0, 10_000, 'the peer to be removed');
  });
});
