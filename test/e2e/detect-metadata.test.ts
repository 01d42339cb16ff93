/**
 * Metadata overlay mode.
 *
 * 1. In isolation, inside one page: a canvas with a moving white square and
 *    the frame code (web/capture/framecode.ts) goes through a real VP8 encode/decode
 *    (an RTCPeerConnection loopback pair, 400 kbps cap); "detections" of the
 *    square for every other frame go over a data channel as FacesUp. The
 *    receiving side is the app's own EchoOverlay: the codes must read back in
 *    order, and the box it picks for each decoded frame must sit on the square
 *    in that very frame (exact frames) or between its neighbours (interpolated).
 * 2. The app in `?overlay=metadata` through the SFU: FacesUp
 *    messages validate against src/protocol/detections.ts, the sent video is
 *    clean (no box drawn into it), and the echo overlay reads the frame codes
 *    back from the echo and draws the face on it.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { FacesUp } from '../../src/protocol/detections.js';
import type { FacecastServer } from '../../src/server/facecast.js';
import { launchBrowser, type LaunchedBrowser } from '../helpers/browser.js';
import { ensureFaceY4m, REPO_ROOT, type FaceBox } from '../helpers/face-fixture.js';
import { startTestServer, waitFor } from '../helpers/server.js';

/** web/capture/framecode.ts + web/capture/metadata.ts bundled for page.addScriptTag, as window.FC. */
async function bundle(): Promise<string> {
  const r = await build({
    stdin: {
      contents: "export * from './web/capture/framecode.ts'; export { EchoOverlay, toFacesUp } from './web/capture/metadata.ts';",
      resolveDir: REPO_ROOT,
      sourcefile: 'fc-entry.ts',
      loader: 'ts',
    },
    bundle: true,
    format: 'iife',
    globalName: 'FC',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    logLevel: 'silent',
    absWorkingDir: path.resolve(REPO_ROOT),
  });
  return r.outputFiles[0]!.text;
}

function iou(a: { x: number; y: number; w: number; h: number }, b: FaceBox): number {
  const x0 = Math.max(a.x, b.x);
  const y0 = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.w, b.x + b.w);
  const y1 = Math.min(a.y + a.h, b.y + b.h);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  return inter / (a.w * a.h + b.w * b.h - inter);
}

interface LoopbackResult {
  codec: string;
  stamped: number;
  seen: number;
  values: number[];
  errors: number;
  exact: number;
  exactBad: string[];
  interpolated: number;
  interpolatedBad: string[];
  stats: Record<string, unknown>;
}

describe('metadata overlay mode', () => {
  let browser: LaunchedBrowser;
  let server: FacecastServer;
  let label: FaceBox;

  before(async () => {
    const fixture = await ensureFaceY4m();
    label = fixture.faces[0]!;
    server = await startTestServer();
    browser = await launchBrowser({ y4m: fixture.path });
    await browser.context.addInitScript({ content: 'window.__name = (f) => f;' });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('frame codes survive VP8 at 400 kbps, and each decoded frame gets the boxes of its own frame', async () => {
    const page: Page = await browser.context.newPage();
    page.on('pageerror', (err) => console.error('page error:', err.message));
    // A secure origin (http://127.0.0.1), and camera access granted once: without a
    // media grant Chromium hides host candidates behind mDNS names, which do not
    // resolve in a loopback-only namespace.
    await page.goto(server.url + '/healthz');
    await page.setContent(
      '<canvas id="c" width="640" height="480"></canvas><div style="position:relative"><video id="v" muted autoplay playsinline></video><canvas id="o"></canvas></div>',
    );
    // Served from the page's own origin (the server's CSP allows no inline script).
    const script = `window.__name = (f) => f;\n${await bundle()}`;
    await page.route(`${server.url}/__test/fc.js`, (route) => route.fulfill({ contentType: 'text/javascript', body: script }));
    await page.addScriptTag({ url: `${server.url}/__test/fc.js` });
    const r: LoopbackResult = await page.evaluate(async () => {
      const FC = (window as unknown as { FC: any }).FC;
      for (const t of (await navigator.mediaDevices.getUserMedia({ video: true })).getTracks()) t.stop();
      const W = 640;
      const H = 480;
      const canvas = document.getElementById('c') as HTMLCanvasElement;
      const ctx = canvas.getContext('2d')!;
      const video = document.getElementById('v') as HTMLVideoElement;
      const squareX = (n: number) => 20 + ((n * 6) % 540);
      const pcA = new RTCPeerConnection();
      const pcB = new RTCPeerConnection();
      pcA.onicecandidate = (e) => void (e.candidate && pcB.addIceCandidate(e.candidate));
      pcB.onicecandidate = (e) => void (e.candidate && pcA.addIceCandidate(e.candidate));
      const dc = pcA.createDataChannel('facecast');
      const overlay = new FC.EchoOverlay(video, document.getElementById('o'));
      overlay.enabled = true;
      pcB.ondatachannel = (e) => {
        e.channel.onmessage = (m) => overlay.push(JSON.parse(m.data));
      };
      const stream = canvas.captureStream(30);
      const tr = pcA.addTransceiver(stream.getVideoTracks()[0]!, { direction: 'sendonly', sendEncodings: [{ maxBitrate: 400_000, maxFramerate: 30 }] });
      const vp8 = RTCRtpSender.getCapabilities('video')!.codecs.filter((c) => c.mimeType === 'video/VP8');
      tr.setCodecPreferences(vp8);
      pcB.ontrack = (e) => {
        video.srcObject = new MediaStream([e.track]);
        void video.play();
      };
      await pcA.setLocalDescription();
      await pcB.setRemoteDescription(pcA.localDescription!);
      await pcB.setLocalDescription();
      await pcA.setRemoteDescription(pcB.localDescription!);

      // Sender: a moving square and busy noise on every frame, the frame code, and a
      // "detection" of the square for every other frame, sent right away.
      let n = 0;
      const timer = setInterval(() => {
        ctx.fillStyle = `hsl(${(n * 5) % 360} 40% 30%)`;
        ctx.fillRect(0, 0, W, H);
        for (let i = 0; i < 60; i++) {
          ctx.fillStyle = `hsl(${(i * 37 + n * 11) % 360} 60% ${30 + ((i * n) % 40)}%)`;
          ctx.fillRect((i * 97 + n * 13) % W, (i * 53 + n * 7) % (H - 40), 30, 30);
        }
        ctx.fillStyle = '#fff';
        ctx.fillRect(squareX(n), 200, 60, 60);
        FC.stampFrameCode(ctx, W, H, n);
        if (n % 2 === 0 && dc.readyState === 'open') {
          const face = { box: { x: squareX(n) / W, y: 200 / H, w: 60 / W, h: 60 / H }, score: 0.9 };
          dc.send(JSON.stringify(FC.toFacesUp([face], n, performance.now(), 'square')));
        }
        n++;
      }, 33);

      // Receiver: after EchoOverlay's own callback for a frame (registered first), find
      // the square in the decoded frame and compare with the box the overlay picked.
      const probe = document.createElement('canvas');
      probe.width = W;
      probe.height = 1;
      const pctx = probe.getContext('2d', { willReadFrequently: true })!;
      const sizes = new Set<string>();
      const res = { seen: 0, values: [] as number[], errors: 0, exact: 0, exactBad: [] as string[], interpolated: 0, interpolatedBad: [] as string[] };
      await new Promise<void>((resolve) => {
        const done = () => {
          clearInterval(timer);
          resolve();
        };
        setTimeout(done, 4000);
        overlay.start();
        let lastKinds = { exact: 0, interpolated: 0 };
        const onFrame = (_t: number, md: VideoFrameCallbackMetadata) => {
          video.requestVideoFrameCallback(onFrame);
          res.seen++;
          sizes.add(`${md.width}x${md.height}`);
          const k = md.width / W; // the encoder may send a scaled-down frame
          const s = overlay.stats;
          const code = s.lastFrame;
          if (code < 0 || (res.values.length && res.values.at(-1) === code)) {
            res.errors++; // this frame's code did not read (stats kept the previous one, or none yet: -1)
            return;
          }
          res.values.push(code);
          // The square's left edge in this decoded frame, on row 230.
          pctx.drawImage(video, 0, Math.round(230 * k), md.width, 1, 0, 0, W, 1);
          const row = pctx.getImageData(0, 0, W, 1).data;
          let left = -1;
          for (let x = 0; x < W; x++) {
            if (row[x * 4]! > 200 && row[x * 4 + 1]! > 200 && row[x * 4 + 2]! > 200) {
              left = x;
              break;
            }
          }
          const box = s.lastFaces[0]?.box;
          const drawnLeft = box ? box.x * W : -1;
          if (s.exact > lastKinds.exact) {
            res.exact++;
            if (Math.abs(drawnLeft - left) > 4) res.exactBad.push(`frame ${code}: square at ${left}, box at ${drawnLeft.toFixed(1)}`);
          } else if (s.interpolated > lastKinds.interpolated) {
            res.interpolated++;
            if (Math.abs(drawnLeft - left) > 8) res.interpolatedBad.push(`frame ${code}: square at ${left}, box at ${drawnLeft.toFixed(1)}`);
          }
          lastKinds = { exact: s.exact, interpolated: s.interpolated };
        };
        video.requestVideoFrameCallback(onFrame);
      });
      let codec = '';
      (await pcB.getStats()).forEach((s: { type: string; mimeType?: string }) => {
        if (s.type === 'codec' && s.mimeType?.startsWith('video/')) codec = s.mimeType;
      });
      pcA.close();
      pcB.close();
      return { codec, stamped: n, ...res, stats: { ...overlay.stats, lastFaces: undefined, sizes: [...sizes] } };
    });
    await page.close();

    if (process.env.FACECAST_TEST_VERBOSE) console.log(JSON.stringify({ ...r, values: r.values.length }));
    assert.equal(r.codec, 'video/VP8');
    assert.ok(r.values.length >= 60, `at least 60 decoded frames with a code: ${r.values.length} (stamped ${r.stamped}, stats ${JSON.stringify(r.stats)})`);
    assert.ok(r.errors <= r.seen * 0.05, `codes unreadable on ${r.errors} of ${r.seen} frames`);
    for (let i = 1; i < r.values.length; i++) assert.ok(r.values[i]! > r.values[i - 1]!, `codes increase: ${r.values.slice(Math.max(0, i - 3), i + 2).join(',')}`);
    assert.ok(
      r.values.every((v) => v >= 0 && v < r.stamped),
      `every code read is a frame number that was stamped (0..${r.stamped - 1}): ${r.values.filter((v) => v < 0 || v >= r.stamped).join(',')}`,
    );
    assert.ok(r.exact >= 20, `frames drawn with their own detection: ${r.exact} (${JSON.stringify(r.stats)})`);
    assert.ok(r.exactBad.length <= r.exact * 0.05, `exact frames with the box off the square:\n${r.exactBad.join('\n')}`);
    assert.ok(r.interpolatedBad.length <= Math.max(1, r.interpolated * 0.1), `interpolated frames off the square:\n${r.interpolatedBad.join('\n')}`);
  });

  it('the app sends schema-valid FacesUp for frames it stamped, sends clean video, and overlays the echo', async () => {
    const page = await browser.context.newPage();
    page.on('pageerror', (err) => console.error('page error:', err.message));
    await page.goto(server.url + '/?overlay=metadata');
    assert.equal(await page.inputValue('#overlay'), 'metadata');
    await page.waitForFunction(() => (window as unknown as { facecast: { sentFaces(): unknown[] } }).facecast.sentFaces().length >= 8, null, { timeout: 30_000 });
    const { sent, frameNo } = await page.evaluate(() => {
      const f = (window as unknown as { facecast: { sentFaces(): unknown[]; frameNo(): number } }).facecast;
      return { sent: f.sentFaces(), frameNo: f.frameNo() };
    });
    let prev = -1;
    for (const raw of sent) {
      const parsed = FacesUp.safeParse(raw);
      assert.ok(parsed.success, `FacesUp validates: ${JSON.stringify(raw)} ${parsed.success ? '' : JSON.stringify(parsed.error.issues)}`);
      const m = parsed.data;
      assert.equal(m.detector, 'blazeface');
      assert.ok(m.frame > prev && m.frame < frameNo, `frame ${m.frame} is a stamped frame number, in order (next ${frameNo})`);
      prev = m.frame;
      assert.equal(m.faces.length, 1);
      const b = m.faces[0]!;
      assert.ok(iou({ x: b.x * 640, y: b.y * 480, w: b.w * 640, h: b.h * 480 }, label) >= 0.3, `box on the face: ${JSON.stringify(b)}`);
      assert.equal(b.keypoints?.length, 6);
    }

    // The SFU took them in and keeps the face count.
    await waitFor(async () => (await server.state()).peers[0]?.faces?.count === 1, 5000, 'the face count in /api/state');
    const peer = (await server.state()).peers[0]!;
    assert.equal(peer.faces!.detector, 'blazeface');
    assert.ok(peer.data.messagesIn >= 8 && peer.data.messagesDropped === 0, JSON.stringify(peer.data));
    assert.ok(peer.data.messagesOut >= 1, 'the SFU relayed them back (echo)');

    // The echo overlay reads the codes back from the SFU's echo and draws the face
    // with the detections the SFU relayed.
    // (Frames shown before the first detection arrives count as `none`: wait for 30 drawn with one.)
    await page
      .waitForFunction(
        () => {
          const o = (window as unknown as { facecast: { echoOverlay(): { codes: number; exact: number; interpolated: number; held: number } } }).facecast.echoOverlay();
          return o.codes >= 45 && o.exact + o.interpolated + o.held >= 30;
        },
        null,
        { timeout: 15_000 },
      )
      .catch(() => undefined); // the assertions below say what was missing
    const eo = await page.evaluate(() => (window as unknown as { facecast: { echoOverlay(): Record<string, any> } }).facecast.echoOverlay());
    assert.ok(eo.codeErrors <= eo.frames * 0.1, `echo frames without a readable code: ${eo.codeErrors} of ${eo.frames}`);
    assert.ok(eo.exact + eo.interpolated + eo.held >= 30, `echo frames drawn with a detection: ${JSON.stringify(eo)}`);
    assert.ok(
      eo.lastDetectionFrame <= eo.lastFrame && eo.lastFrame - eo.lastDetectionFrame <= 10,
      `the overlay uses a detection of this or a recent frame: ${eo.lastDetectionFrame} for ${eo.lastFrame}`,
    );
    const drawn = eo.lastFaces[0].box;
    assert.ok(iou({ x: drawn.x * 640, y: drawn.y * 480, w: drawn.w * 640, h: drawn.h * 480 }, label) >= 0.3, 'the overlay box is on the face');

    // The sent frame has no box in it: no bright green pixels in a frame of the published track.
    const green = await page.evaluate(async () => {
      const pc = (window as unknown as { facecast: { pc: RTCPeerConnection } }).facecast.pc;
      const track = pc.getSenders().find((s) => s.track?.kind === 'video')!.track!;
      const v = document.createElement('video');
      v.muted = true;
      v.srcObject = new MediaStream([track]);
      await v.play();
      await new Promise((r) => v.requestVideoFrameCallback(r));
      const c = document.createElement('canvas');
      c.width = v.videoWidth;
      c.height = v.videoHeight;
      const ctx = c.getContext('2d')!;
      ctx.drawImage(v, 0, 0);
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 1]! > 180 && d[i]! < 100 && d[i + 2]! < 100) n++;
      v.srcObject = null;
      return n;
    });
    assert.ok(green < 50, `green box pixels in the sent video: ${green}`);
    await page.close();
  });
});
