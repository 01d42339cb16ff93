/**
 * The capture pipeline in headless Chromium (web/capture/composer.ts): the worker path
 * (MediaStreamTrackProcessor -> compose worker -> MediaStreamTrackGenerator) keeps a page
 * that is not in front sending at the camera's rate; it survives a detector crash and a
 * camera switch; and the canvas fallback still works where those APIs are missing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { FacecastServer } from '../../src/server/facecast.js';
import { launchBrowser, type LaunchedBrowser } from '../helpers/browser.js';
import { ensureFaceY4m } from '../helpers/face-fixture.js';
import { startTestServer, waitFor } from '../helpers/server.js';

type Win = Window & {
  facecast?: {
    stats: { capture: string; align: string };
    pc: RTCPeerConnection | null;
    debugCounters(): { cameraFrames: number; outputFrames: number; detections: number };
    detectorState(): string;
    crashDetector(): void;
    switchCamera(): Promise<void>;
  };
  facecastRoom?: { stats: { capture: string }; tiles(): { name: string; tile: boolean; framesDecoded: number }[] };
};

/** Frames the echo page's encoder sent and decoded from the echo, and its sender's track id. */
function echoFrames(page: Page): Promise<{ sent: number; decoded: number; track: string | null }> {
  return page.evaluate(async () => {
    const pc = (window as Win).facecast?.pc;
    const r = { sent: 0, decoded: 0, track: null as string | null };
    if (!pc) return r;
    r.track = pc.getSenders().find((s) => s.track?.kind === 'video')?.track?.id ?? null;
    (await pc.getStats()).forEach((s: { type: string; kind?: string; framesSent?: number; framesDecoded?: number }) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') r.sent += s.framesSent ?? 0;
      if (s.type === 'inbound-rtp' && s.kind === 'video') r.decoded = s.framesDecoded ?? 0;
    });
    return r;
  });
}

async function videoFlows(page: Page, label: string): Promise<void> {
  const a = await echoFrames(page);
  await waitFor(
    async () => {
      const b = await echoFrames(page);
      return b.sent - a.sent >= 30 && b.decoded - a.decoded >= 30;
    },
    15_000,
    `${label}: 30 more frames sent and echoed`,
  );
}

const counters = (page: Page) => page.evaluate(() => (window as Win).facecast!.debugCounters());

describe('the capture pipeline', () => {
  let server: FacecastServer;
  let browser: LaunchedBrowser;
  let fixture: string;

  before(async () => {
    fixture = (await ensureFaceY4m()).path;
    server = await startTestServer();
    browser = await launchBrowser({ y4m: fixture });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('a room page in the background keeps sending >= 20 fps, decoded by the page in front', async () => {
    // One encoding (?simulcast=0): the rate measured is the capture's, not that of the
    // simulcast layer the allocator happens to forward while it settles.
    const open = async (name: string) => {
      const page = await browser.context.newPage();
      await page.goto(`${server.url}/room/capture-bg?name=${name}&detector=none&simulcast=0`);
      return page;
    };
    const back = await open('back');
    const front = await open('front');
    await front.bringToFront();
    // The front page's only remote video is the back page's (read now, not the tiles' once-a-second sample).
    const decodedOfBack = () =>
      front.evaluate(async () => {
        const pc = ((window as Win).facecastRoom as unknown as { pc: RTCPeerConnection | null }).pc;
        let n = 0;
        (await pc?.getStats())?.forEach((s: { type: string; kind?: string; framesDecoded?: number }) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video') n += s.framesDecoded ?? 0;
        });
        return n;
      });
    await waitFor(async () => (await decodedOfBack()) >= 30, 20_000, 'the front page decodes the back page');
    assert.equal(await back.evaluate(() => (window as Win).facecastRoom?.stats.capture), 'worker');
    // Settle, then measure over 5 s.
    await new Promise((r) => setTimeout(r, 2000));
    const framesSent = () =>
      back.evaluate(async () => {
        const pc = ((window as Win).facecastRoom as unknown as { pc: RTCPeerConnection | null }).pc;
        let n = 0;
        (await pc?.getStats())?.forEach((s: { type: string; kind?: string; framesSent?: number }) => {
          if (s.type === 'outbound-rtp' && s.kind === 'video') n += s.framesSent ?? 0;
        });
        return n;
      });
    const a = await decodedOfBack();
    const sent0 = await framesSent();
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 5000));
    const fps = ((await decodedOfBack()) - a) / ((Date.now() - t0) / 1000);
    const sentFps = ((await framesSent()) - sent0) / ((Date.now() - t0) / 1000);
    const sender = await back.evaluate(async () => {
      const r = (window as Win).facecastRoom as unknown as { stats: Record<string, unknown>; pc: RTCPeerConnection | null };
      const out: string[] = [];
      (await r.pc?.getStats())?.forEach((s: { type: string; kind?: string; rid?: string; framesPerSecond?: number; qualityLimitationReason?: string; frameWidth?: number }) => {
        if (s.type === 'outbound-rtp' && s.kind === 'video') out.push(`${s.rid ?? '-'}:${s.frameWidth ?? 0}w@${s.framesPerSecond ?? 0}fps(${s.qualityLimitationReason})`);
      });
      return `${document.visibilityState}; camera ${r.stats.cameraFps} fps, composed ${r.stats.outputFps} fps; sent ${out.join(' ')}`;
    });
    const receiver = await front.evaluate(async () => {
      const r = (window as Win).facecastRoom as unknown as { pc: RTCPeerConnection | null };
      const out: string[] = [];
      (await r.pc?.getStats())?.forEach(
        (s: {
          type: string;
          kind?: string;
          framesReceived?: number;
          framesDecoded?: number;
          framesDropped?: number;
          packetsLost?: number;
          framesPerSecond?: number;
          freezeCount?: number;
        }) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video')
            out.push(`rx ${s.framesReceived} dec ${s.framesDecoded} drop ${s.framesDropped} lost ${s.packetsLost} fps ${s.framesPerSecond} freezes ${s.freezeCount}`);
        },
      );
      return out.join(' | ');
    });
    console.log(`# front page inbound: ${receiver}`);
    console.log(`# the background page (${sender}) sent ${sentFps.toFixed(1)} fps, decoded at ${fps.toFixed(1)} fps by the page in front`);
    assert.ok(fps >= 20, `the background page's video decoded at ${fps.toFixed(1)} fps`);
    await back.close();
    await front.close();
  });

  it('the worker path survives a detector crash and a camera switch; the published track stays', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${server.url}/`);
    await waitFor(() => page.evaluate(() => (window as Win).facecast?.detectorState() === 'ready'), 60_000, 'the detector to load');
    assert.equal(await page.evaluate(() => (window as Win).facecast!.stats.capture), 'worker');
    assert.equal(await page.textContent('#stat-capture'), 'worker · predict', 'predict is the default alignment');
    await videoFlows(page, 'at start');
    const before = await echoFrames(page);

    const d0 = (await counters(page)).detections;
    await page.evaluate(() => (window as Win).facecast!.crashDetector());
    await waitFor(async () => (await counters(page)).detections >= d0 + 5, 60_000, 'detections again after the crash');
    await videoFlows(page, 'after the detector crash');

    const c0 = await counters(page);
    await page.evaluate(() => (window as Win).facecast!.switchCamera());
    await videoFlows(page, 'after the camera switch');
    await waitFor(async () => (await counters(page)).detections >= c0.detections + 5, 30_000, 'detections on the new camera');
    await waitFor(async () => (await counters(page)).cameraFrames - c0.cameraFrames >= 30, 10_000, '30 camera frames after the switch');
    assert.equal((await echoFrames(page)).track, before.track, 'the same track is published');
    await page.close();
  });

  it('?align=hold: frames wait for their own detection, boxes are drawn and the video flows', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${server.url}/?align=hold`);
    await waitFor(() => page.evaluate(() => (window as Win).facecast?.detectorState() === 'ready'), 60_000, 'the detector to load');
    assert.deepEqual(await page.evaluate(() => [(window as Win).facecast!.stats.capture, (window as Win).facecast!.stats.align]), ['worker', 'hold']);
    assert.equal(await page.textContent('#stat-capture'), 'worker · hold');
    await videoFlows(page, 'hold');
    await waitFor(
      () => page.evaluate(() => (window as unknown as { facecast: { drawnFaces(): unknown[] } }).facecast.drawnFaces().length >= 1),
      20_000,
      'a box drawn on a held frame',
    );
    await page.close();
  });

  it('the canvas path takes over where MediaStreamTrackProcessor is missing', async () => {
    const page = await browser.context.newPage();
    await page.addInitScript(() => {
      const w = window as unknown as Record<string, unknown>;
      delete w.MediaStreamTrackProcessor;
      delete w.MediaStreamTrackGenerator;
    });
    await page.goto(`${server.url}/`);
    await waitFor(() => page.evaluate(() => (window as Win).facecast?.detectorState() === 'ready'), 60_000, 'the detector to load');
    assert.equal(await page.evaluate(() => (window as Win).facecast!.stats.capture), 'canvas');
    assert.equal(await page.textContent('#stat-capture'), 'canvas');
    await videoFlows(page, 'canvas path');
    const d0 = (await counters(page)).detections;
    await waitFor(async () => (await counters(page)).detections >= d0 + 5, 30_000, 'detections on the canvas path');
    await page.close();
  });
});
