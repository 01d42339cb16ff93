/**
 * Failure cases: a detector model that cannot be loaded (404), and a camera
 * the user refuses. Each time the page says so in words (#status) and still
 * sends video (the plain camera, or the placeholder), which comes back as the echo.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { FacecastServer } from '../../src/server/facecast.js';
import { launchBrowser, type LaunchedBrowser } from '../helpers/browser.js';
import { ensureFaceY4m } from '../helpers/face-fixture.js';
import { startTestServer, waitFor } from '../helpers/server.js';

/** Frames sent by the page's encoder and decoded from the echo. */
async function rtpFrames(page: Page): Promise<{ sent: number; decoded: number }> {
  return page.evaluate(async () => {
    const pc = (window as unknown as { facecast: { pc: RTCPeerConnection | null } }).facecast.pc;
    const r = { sent: 0, decoded: 0 };
    if (!pc) return r;
    (await pc.getStats()).forEach((s: { type: string; kind?: string; framesSent?: number; framesDecoded?: number }) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') r.sent = s.framesSent ?? 0;
      if (s.type === 'inbound-rtp' && s.kind === 'video') r.decoded = s.framesDecoded ?? 0;
    });
    return r;
  });
}

async function assertVideoFlows(page: Page, echoed = true): Promise<void> {
  const a = await rtpFrames(page);
  let b = a;
  try {
    await waitFor(
      async () => {
        b = await rtpFrames(page);
        return b.sent - a.sent >= 30 && (!echoed || b.decoded - a.decoded >= 30);
      },
      15_000,
      echoed ? '30 more frames sent and echoed' : '30 more frames sent',
    );
  } catch (err) {
    const st = await page.evaluate(() => (window as unknown as { facecast: { stats: unknown; status: string } }).facecast.status);
    throw new Error(`${(err as Error).message}: frames ${JSON.stringify(a)} -> ${JSON.stringify(b)}; status: ${st}`);
  }
}

const status = (page: Page) => page.textContent('#status').then((t) => t ?? '');

describe('failure cases', () => {
  let server: FacecastServer;
  let fixturePath: string;
  const browsers: LaunchedBrowser[] = [];

  before(async () => {
    fixturePath = (await ensureFaceY4m()).path;
    server = await startTestServer();
  });

  after(async () => {
    for (const b of browsers) await b.close();
    await server?.close();
  });

  for (const detector of ['blazeface', 'tiny-face-detector']) {
    it(`${detector}: a model that 404s is reported, and the plain camera video still goes out`, async () => {
      const browser = await launchBrowser({ y4m: fixturePath });
      browsers.push(browser);
      const page = await browser.context.newPage();
      await page.goto(`${server.url}/?detector=${detector}&modelBase=/models/missing/`);
      await page.waitForFunction(() => (window as unknown as { facecast: { detectorState(): string } }).facecast.detectorState() === 'failed', null, { timeout: 20_000 });
      assert.match(await status(page), new RegExp(`face detector ${detector} failed to load: .* sending video without boxes`));
      assert.ok((await page.getAttribute('#status', 'class'))?.includes('error'), 'the status is shown as an error');
      await assertVideoFlows(page);
      const faces = await page.evaluate(() => (window as unknown as { facecast: { faces: unknown[] } }).facecast.faces.length);
      assert.equal(faces, 0);
      await browser.close();
    });
  }

  it('camera permission denied: says so and sends the placeholder', async () => {
    const browser = await launchBrowser({ camera: 'deny' });
    browsers.push(browser);
    const page = await browser.context.newPage();
    await page.goto(`${server.url}/`);
    // Wait for the camera's verdict, not for "waiting for camera…".
    await page.waitForFunction(() => /camera (permission|unavailable)|no camera/.test(document.getElementById('status')?.textContent ?? ''), null, { timeout: 10_000 });
    assert.match(await status(page), /camera permission denied — sending a placeholder pattern/);
    // The compose worker reports its frames asynchronously (it may still be starting when the verdict shows).
    const drawn = () => page.evaluate(() => (window as unknown as { facecast: { debugCounters(): { outputFrames: number } } }).facecast.debugCounters().outputFrames);
    await waitFor(async () => (await drawn()) > 0, 5000, 'the placeholder being drawn');
    await assertVideoFlows(page);
    await browser.close();
  });
});
