/**
 * Recording real Chromium publishers (the room page, fake camera showing a real face) with
 * --record DIR: after the page leaves, the WebM file is finalized and ffmpeg decodes every frame.
 *
 * Chromium decides its own frame rate and simulcast layers (on a loaded 2-vCPU machine it
 * encodes 15-30 fps, and a lone publisher's bandwidth estimate does not reach the full layer),
 * so the frame count is checked against what the page reports it sent on the recorded layer
 * (getStats framesSent), and the recorded layer against the tallest one it sends.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { FacecastServer } from '../../src/server/facecast.js';
import { launchBrowser, type LaunchedBrowser } from '../helpers/browser.js';
import { ensureFaceY4m } from '../helpers/face-fixture.js';
import { startTestServer, waitFor } from '../helpers/server.js';
import { decode, hasDuration, probe } from '../helpers/webm-probe.js';

const PUBLISH_MS = 5000;

interface Sent {
  rid: string | null;
  width: number;
  height: number;
  framesSent: number;
}

/** The page's outbound video streams (one per simulcast layer). */
function outbound(page: Page): Promise<Sent[]> {
  return page.evaluate(async () => {
    const pc = (window as unknown as { facecastRoom: { pc: RTCPeerConnection } }).facecastRoom.pc;
    const out: Sent[] = [];
    (await pc.getStats()).forEach((r: { type: string; kind?: string; rid?: string; frameWidth?: number; frameHeight?: number; framesSent?: number }) => {
      if (r.type === 'outbound-rtp' && r.kind === 'video') out.push({ rid: r.rid ?? null, width: r.frameWidth ?? 0, height: r.frameHeight ?? 0, framesSent: r.framesSent ?? 0 });
    });
    return out;
  });
}

/** The file holds the frames Chromium sent: none lost (-10% for sampling), up to +20%. */
function assertFrames(inFile: number, sent: number, what: string): void {
  assert.ok(inFile >= 0.9 * sent && inFile <= 1.2 * sent, `${inFile} frames in the file vs ${sent} sent by Chromium on ${what}`);
}

describe('recording Chromium room pages to WebM (--record DIR, ffmpeg decodes them)', () => {
  let server: FacecastServer;
  let browser: LaunchedBrowser;
  let dir: string;

  before(async () => {
    const fixture = await ensureFaceY4m();
    dir = mkdtempSync(path.join(tmpdir(), 'facecast-rec-e2e-'));
    server = await startTestServer({ record: dir });
    browser = await launchBrowser({ y4m: fixture.path });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    if (dir && !process.env.FACECAST_KEEP_RECORDINGS) rmSync(dir, { recursive: true, force: true });
  });

  /** Open the room page as `name`, let it publish PUBLISH_MS from the first recorded frame, close it; the finalized file's facts. */
  async function recordPage(name: string, query: string) {
    const page = await browser.context.newPage();
    page.on('pageerror', (err) => console.error(`page ${name} error:`, err.message));
    await page.goto(`${server.url}/room/rec-e2e?name=${name}&detector=none&${query}`);
    const recording = async () => (await server.state()).peers.find((p) => p.name === name)?.recording ?? undefined;
    const first = await waitFor(
      async () => (((await recording())?.frames ?? 0) > 0 ? await recording() : undefined),
      30_000,
      `the recording of ${name} to get its first frame`,
    ).catch(async (err: Error) => {
      throw new Error(
        `${err.message}: ${JSON.stringify((await server.state()).peers.map((p) => ({ name: p.name, state: p.connectionState, tracks: p.tracks.length, recording: p.recording })))}`,
      );
    });
    const startedAt = performance.now();
    const sentAtStart = await outbound(page);
    await new Promise((r) => setTimeout(r, PUBLISH_MS));
    const sentAtEnd = await outbound(page);
    const last = (await recording())!;
    await page.close();
    const publishedS = (performance.now() - startedAt) / 1000;
    await waitFor(async () => !(await server.state()).peers.some((p) => p.name === name), 15_000, `${name} to be gone`);
    await waitFor(() => hasDuration(first.file), 10_000, 'the file to be finalized (a duration)');
    return { file: first.file, layer: last.layer, publishedS, sentAtStart, sentAtEnd };
  }

  it('simulcast, no audio (?audio=0): the tallest layer sent, every frame sent is in the file and decodes, duration = publish time', async () => {
    const r = await recordPage('dora', 'audio=0');
    assert.ok(readdirSync(dir).includes(path.basename(r.file)));
    const p = probe(r.file);
    assert.equal(p.codec, 'vp8');
    assert.equal(p.audioCodec, null, 'audio=0: no audio track');
    assert.ok(Math.abs(p.durationS - r.publishedS) <= 0.2 * r.publishedS, `duration ${p.durationS.toFixed(2)} s vs ${r.publishedS.toFixed(2)} s published`);

    // The recorded layer is the tallest one the page was sending, at its size.
    const sending = r.sentAtEnd.filter((s) => s.framesSent > (r.sentAtStart.find((a) => a.rid === s.rid)?.framesSent ?? 0) && s.height > 0);
    const tallest = sending.reduce((a, b) => (b.height > a.height ? b : a));
    assert.equal(r.layer, tallest.rid, `recorded layer vs the tallest sent: ${JSON.stringify(r.sentAtEnd)}`);
    assert.deepEqual([p.width, p.height], [tallest.width, tallest.height]);

    // Frames: what Chromium says it sent on that layer while we watched (the file also has the
    // few frames from before the first sample and after the last, so it may have a little more).
    const sent = tallest.framesSent - (r.sentAtStart.find((a) => a.rid === tallest.rid)?.framesSent ?? 0);
    assertFrames(p.packets, sent, `layer ${tallest.rid}`);
    const d = decode(r.file);
    assert.ok(d.ok, `ffmpeg decodes the file without an error: ${d.stderr}`);
    assert.equal(d.frames, p.packets, 'every recorded frame decodes');
    console.log(
      `# Chromium (simulcast, layer ${r.layer} ${p.width}x${p.height}), ${r.publishedS.toFixed(2)} s published: ${p.packets} frames in the file ` +
        `(${(p.packets / p.durationS).toFixed(1)} fps; Chromium sent ${sent}), ${p.durationS.toFixed(3)} s, ${d.frames} decoded, ${statSync(r.file).size} bytes`,
    );
  });

  it('one encoding with the microphone (?simulcast=0): VP8 + Opus, both decode, audio as long as the video', async () => {
    const r = await recordPage('erin', 'simulcast=0');
    const p = probe(r.file);
    assert.equal(p.codec, 'vp8');
    assert.deepEqual([p.width, p.height], [640, 480], 'the camera size');
    assert.equal(p.audioCodec, 'opus', `an Opus track: ${JSON.stringify(p)}`);
    assert.ok(Math.abs(p.durationS - r.publishedS) <= 0.2 * r.publishedS, `duration ${p.durationS.toFixed(2)} s vs ${r.publishedS.toFixed(2)} s published`);
    const sent = r.sentAtEnd[0]!.framesSent - r.sentAtStart[0]!.framesSent;
    assertFrames(p.packets, sent, 'the one encoding');
    // Opus: 20 ms packets. The microphone joins a renegotiation after the camera, so allow it to start up to 1 s later.
    const audioS = p.audioPackets * 0.02;
    assert.ok(audioS >= p.durationS - 1.5 && audioS <= p.durationS * 1.2, `${p.audioPackets} Opus packets (${audioS.toFixed(2)} s) in ${p.durationS.toFixed(2)} s`);
    const d = decode(r.file);
    assert.ok(d.ok, `ffmpeg decodes video and audio without an error: ${d.stderr}`);
    assert.equal(d.frames, p.packets, 'every recorded frame decodes');
    console.log(
      `# Chromium (one encoding + microphone), ${r.publishedS.toFixed(2)} s published: ${p.packets} frames (${(p.packets / p.durationS).toFixed(1)} fps; Chromium sent ${sent}), ` +
        `${p.audioPackets} Opus packets (${audioS.toFixed(2)} s), ${p.durationS.toFixed(3)} s, ${statSync(r.file).size} bytes`,
    );
  });
});
