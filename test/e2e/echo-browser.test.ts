import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { FacecastServer } from '../../src/server/server.js';
import { launchBrowser, type LaunchedBrowser } from '../helpers/browser.js';
import { ensureFaceY4m } from '../helpers/face-fixture.js';
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
      const sx = w / 640;
      const sy = h / 480;
      // The drawn box is the detector's, not the label: accept it anywhere in the label grown by 35%.
      const gx = box.w * 0.35;
      const gy = box.h * 0.35;
      const x0 = (box.x - gx) * sx, x1 = (box.x + box.w + gx) * sx;
      const y0 = (box.y - gy) * sy, y1 = (box.y + box.h + gy) * sy;
      let near = 0;
      let far = 0;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const i = (y * w + x) * 4;
          const green = data[i + 1]! > 180 && data[i]! < 100 && data[i + 2]! < 100;
          if (!green) continue;
          if (x >= x0 && x <= x1 && y >= y0 && y <= y1) near++;
          else far++;
        }
      }
      return { w, h, near, far };
    }, face);
    assert.ok(result.w > 0 && result.h > 0, 'the echo video has frames');
    // A 4 px box around a ~170x250 face is ~3000 pixels at 640x480; allow for VP8 blur.
    assert.ok(result.near > 400, `green box pixels around the face: ${result.near}`);
    assert.ok(result.far < result.near / 4, `few green pixels away from the face: ${result.far} vs ${result.near}`);
  });

  it('/api/state shows the browser peer forwarding packets', async () => {
    const res = await fetch(server.url + '/api/state');
    const state = (await res.json()) as ReturnType<FacecastServer['state']>;
    assert.equal(state.peers.length, 1);
    const peer = state.peers[0]!;
    assert.equal(peer.connectionState, 'connected');
    assert.equal(peer.codec, 'video/VP8');
    assert.ok(peer.packetsIn > 100, `packets in: ${peer.packetsIn}`);
    assert.ok(peer.packetsOut > 100, `packets out: ${peer.packetsOut}`);
  });

  it('closing the page leaves no peer behind', async () => {
    await page.close();
    await waitFor(() => server.state().peers.length === 0, 10_000, 'the peer to be removed');
  });
});
