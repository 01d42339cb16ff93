/**
 * Every detector in the page's select finds the fake camera's face (a real
 * photo, hand-labelled in test/fixtures/faces.json), the choice shows on
 * screen, burned-in boxes hold still on a still face, and a crashed worker
 * restarts and finds the face again. One page; the detector is switched with
 * the page's own <select id="detector">.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { FacecastServer } from '../../src/server/facecast.js';
import { launchBrowser, type LaunchedBrowser } from '../helpers/browser.js';
import { ensureFaceY4m, type FaceBox } from '../helpers/face-fixture.js';
import { startTestServer } from '../helpers/server.js';

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}
interface PageFace {
  box: Box;
  score: number;
  keypoints?: { x: number; y: number }[];
}

function iou(a: Box, b: Box): number {
  const x0 = Math.max(a.x, b.x);
  const y0 = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.w, b.x + b.w);
  const y1 = Math.min(a.y + a.h, b.y + b.h);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  return inter / (a.w * a.h + b.w * b.h - inter);
}

/** The face (640x480 px) matches the label: IoU >= 0.3 or its centre inside the label box. */
function assertMatchesLabel(face: PageFace, label: FaceBox, what: string): void {
  const b = { x: face.box.x * 640, y: face.box.y * 480, w: face.box.w * 640, h: face.box.h * 480 };
  const cx = b.x + b.w / 2;
  const cy = b.y + b.h / 2;
  const inside = cx >= label.x && cx <= label.x + label.w && cy >= label.y && cy <= label.y + label.h;
  const v = iou(b, label);
  assert.ok(v >= 0.3 || inside, `${what}: box ${JSON.stringify(b)} vs label ${JSON.stringify(label)} (IoU ${v.toFixed(2)})`);
}

const facesNow = (page: Page) => page.evaluate(() => (window as unknown as { facecast: { faces: PageFace[] } }).facecast.faces);
const state = (page: Page) => page.evaluate(() => (window as unknown as { facecast: { detectorState(): string } }).facecast.detectorState());

async function waitForFace(page: Page, timeout = 30_000): Promise<PageFace[]> {
  await page.waitForFunction(() => (window as unknown as { facecast: { faces: unknown[] } }).facecast.faces.length > 0, null, { timeout });
  return facesNow(page);
}

describe('detectors on the fake camera', () => {
  let server: FacecastServer;
  let browser: LaunchedBrowser;
  let page: Page;
  let label: FaceBox;

  before(async () => {
    const fixture = await ensureFaceY4m();
    label = fixture.faces[0]!;
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

  it('the default is BlazeFace: it finds the face with six keypoints, and the choice is on screen', async () => {
    const faces = await waitForFace(page);
    assert.equal(faces.length, 1, `one face, got ${faces.length}`);
    assertMatchesLabel(faces[0]!, label, 'blazeface');
    assert.equal(faces[0]!.keypoints?.length, 6, 'BlazeFace gives six keypoints');
    // Eyes, nose tip and mouth (the first four; the last two, the ear tragions, are often hidden by hair).
    for (const p of faces[0]!.keypoints!.slice(0, 4)) {
      const x = p.x * 640;
      const y = p.y * 480;
      assert.ok(x >= label.x && x <= label.x + label.w && y >= label.y && y <= label.y + label.h, `keypoint (${x.toFixed(0)}, ${y.toFixed(0)}) inside the face`);
    }
    assert.equal(await page.inputValue('#detector'), 'blazeface');
    assert.match((await page.textContent('#detector-label')) ?? '', /BlazeFace/);
    assert.match((await page.textContent('#stat-detector')) ?? '', /blazeface \(wasm/);
  });

  it('burned-in boxes on a still face do not flicker or wander', async () => {
    const samples: Box[][] = [];
    for (let i = 0; i < 12; i++) {
      samples.push(await page.evaluate(() => (window as unknown as { facecast: { drawnFaces(): { box: Box }[] } }).facecast.drawnFaces().map((f) => f.box)));
      await page.waitForTimeout(70);
    }
    assert.ok(
      samples.every((s) => s.length === 1),
      `a box on every sampled frame: ${samples.map((s) => s.length).join(',')}`,
    );
    const xs = samples.map((s) => s[0]!.x * 640);
    const ws = samples.map((s) => s[0]!.w * 640);
    const spread = (v: number[]) => Math.max(...v) - Math.min(...v);
    assert.ok(spread(xs) <= 3 && spread(ws) <= 3, `box moves at most 3 px: x spread ${spread(xs).toFixed(1)}, w spread ${spread(ws).toFixed(1)}`);
  });

  it('a crashed BlazeFace worker restarts and finds the face again', async () => {
    await page.evaluate(() => (window as unknown as { facecast: { crashDetector(): void } }).facecast.crashDetector());
    await page.waitForFunction(() => /crashed/.test(document.getElementById('status')?.textContent ?? ''), null, { timeout: 5_000 });
    await page.waitForFunction(() => (window as unknown as { facecast: { detectorState(): string } }).facecast.detectorState() === 'ready', null, { timeout: 20_000 });
    const faces = await waitForFace(page);
    assertMatchesLabel(faces[0]!, label, 'blazeface after restart');
  });

  it('TinyFaceDetector, chosen in the select, finds the face; a crash restarts it too', async () => {
    await page.selectOption('#detector', 'tiny-face-detector');
    assert.match(page.url(), /detector=tiny-face-detector/);
    await page.waitForFunction(() => (window as unknown as { facecast: { detectorState(): string } }).facecast.detectorState() === 'ready', null, { timeout: 20_000 });
    const faces = await waitForFace(page);
    assertMatchesLabel(faces[0]!, label, 'tiny-face-detector');
    assert.match((await page.textContent('#detector-label')) ?? '', /TinyFaceDetector/);
    assert.equal(await state(page), 'ready');

    await page.evaluate(() => (window as unknown as { facecast: { crashDetector(): void } }).facecast.crashDetector());
    await page.waitForFunction(() => (window as unknown as { facecast: { detectorState(): string } }).facecast.detectorState() === 'restarting', null, { timeout: 5_000 });
    await page.waitForFunction(() => (window as unknown as { facecast: { detectorState(): string } }).facecast.detectorState() === 'ready', null, { timeout: 20_000 });
    assertMatchesLabel((await waitForFace(page))[0]!, label, 'tiny-face-detector after restart');
  });

  it('an unknown ?detector= is reported in words and the video still goes out', async () => {
    await page.goto(server.url + '/?detector=no-such-detector');
    await page.waitForFunction(() => /unknown detector/.test(document.getElementById('status')?.textContent ?? ''), null, { timeout: 10_000 });
    await page.waitForFunction(() => (window as unknown as { facecast: { stats: { outputFps: number } } }).facecast.stats.outputFps > 20, null, { timeout: 10_000 });
  });
});
