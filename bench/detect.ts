/**
 * `npm run bench:detect`: every detector on a hand-labelled image set, in
 * headless Chromium, through the app's own detection worker
 * (dist/web/detect-worker.js, the code the page runs), plus the page's output
 * frame rate while detecting at 640x480 with the fake face camera.
 *
 * Image set: bench/faces/labels.json (boxes drawn by hand on the six group
 * photos shipped in the @vladmandic/face-api npm package; see its `how`). From
 * each photo the bench derives 640x480 frames: the whole photo letterboxed, and
 * 4:3 crops around each face at two zoom levels (the face about 1/4 and 1/8 of
 * the frame width), plus a few background crops without faces. Scoring: a
 * detection is a hit when its IoU with a labelled face is >= 0.4 (greedy, by
 * score); faces under 40 px wide (in the frame), less than 60% inside the frame,
 * or marked difficult are ignored (neither hits nor misses; detections on them
 * are not false positives).
 *
 * MediaPipe face_detection 0.4.1646425229 is measured here too (`--mediapipe`,
 * on by default), on the page's main thread, because its loader needs
 * importScripts/document and cannot run in the app's module worker; see
 * docs/DETECTION.md for why it is not in the app.
 *
 * Options: --detectors a,b (default: all in the registry except test-only ones)
 *          --seconds N (fps sampling per detector, default 10) --warmup N (default 5)
 *          --no-fps  --no-mediapipe  --no-record  --json FILE
 * All traffic stays on 127.0.0.1 (run through scripts/in-netns.mjs).
 *
 * (Over 400 lines on purpose: one benchmark script, top to bottom — fixtures, the worker
 *  pass, the page pass, the report — so that its figures can be read against one file.)
 */
import { execSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import { launchBrowser } from '../test/helpers/browser.js';
import { ensureFaceY4m } from '../test/helpers/face-fixture.js';
import { startTestServer } from '../test/helpers/server.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const LABELS_PATH = path.join(ROOT, 'bench', 'faces', 'labels.json');

export const FRAME_W = 640;
export const FRAME_H = 480;
export const MIN_FACE_PX = 40;
export const IOU_HIT = 0.4;
const MIN_VISIBLE = 0.6;
const ZOOMS = [4, 8];

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}
interface LabelledFace extends Box {
  difficult?: string;
}
interface LabelledImage {
  file: string;
  sha256: string;
  width: number;
  height: number;
  faces: LabelledFace[];
  negatives?: { sx: number; sy: number; sw: number; sh: number }[];
}
export interface Labels {
  how: string;
  images: LabelledImage[];
}

/** One 640x480 benchmark frame: a source rectangle drawn into a destination rectangle. */
export interface BenchFrame {
  name: string;
  image: number;
  src: { sx: number; sy: number; sw: number; sh: number };
  dst: { dx: number; dy: number; dw: number; dh: number };
  /** Faces in frame pixels; `ignore` ones count neither way. */
  faces: (Box & { ignore: boolean })[];
}

export function loadLabels(): Labels {
  const labels = JSON.parse(readFileSync(LABELS_PATH, 'utf8')) as Labels;
  for (const img of labels.images) {
    const file = path.join(ROOT, img.file);
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch {
      throw new Error(`${img.file} is missing: run npm install (it ships with @vladmandic/face-api)`);
    }
    const sha = createHash('sha256').update(data).digest('hex');
    if (sha !== img.sha256) throw new Error(`${img.file}: sha256 ${sha} differs from the labelled ${img.sha256}; re-check the labels`);
  }
  return labels;
}

function mapFaces(img: LabelledImage, src: BenchFrame['src'], dst: BenchFrame['dst']): BenchFrame['faces'] {
  const s = dst.dw / src.sw;
  const out: BenchFrame['faces'] = [];
  for (const f of img.faces) {
    const x0 = Math.max(f.x, src.sx);
    const y0 = Math.max(f.y, src.sy);
    const x1 = Math.min(f.x + f.w, src.sx + src.sw);
    const y1 = Math.min(f.y + f.h, src.sy + src.sh);
    if (x1 <= x0 || y1 <= y0) continue;
    const visible = ((x1 - x0) * (y1 - y0)) / (f.w * f.h);
    const box = { x: dst.dx + (x0 - src.sx) * s, y: dst.dy + (y0 - src.sy) * s, w: (x1 - x0) * s, h: (y1 - y0) * s };
    out.push({ ...box, ignore: Boolean(f.difficult) || visible < MIN_VISIBLE || f.w * s < MIN_FACE_PX });
  }
  return out;
}

export function buildFrames(labels: Labels): BenchFrame[] {
  const frames: BenchFrame[] = [];
  labels.images.forEach((img, i) => {
    const base = path.basename(img.file, '.jpg');
    // Whole photo, letterboxed.
    const s = Math.min(FRAME_W / img.width, FRAME_H / img.height);
    const src = { sx: 0, sy: 0, sw: img.width, sh: img.height };
    const dst = { dw: img.width * s, dh: img.height * s, dx: (FRAME_W - img.width * s) / 2, dy: (FRAME_H - img.height * s) / 2 };
    frames.push({ name: `${base} whole`, image: i, src, dst, faces: mapFaces(img, src, dst) });
    // 4:3 crops around each face.
    img.faces.forEach((f, j) => {
      for (const k of ZOOMS) {
        const sw = Math.min(k * f.w, img.width, (img.height * 4) / 3);
        const sh = (sw * 3) / 4;
        const sx = Math.min(img.width - sw, Math.max(0, f.x + f.w / 2 - sw / 2));
        const sy = Math.min(img.height - sh, Math.max(0, f.y + f.h / 2 - sh / 2));
        const src = { sx, sy, sw, sh };
        const dst = { dx: 0, dy: 0, dw: FRAME_W, dh: FRAME_H };
        frames.push({ name: `${base} face${j} x${k}`, image: i, src, dst, faces: mapFaces(img, src, dst) });
      }
    });
    for (const [n, neg] of (img.negatives ?? []).entries()) {
      const dst = { dx: 0, dy: 0, dw: FRAME_W, dh: FRAME_H };
      frames.push({ name: `${base} background${n}`, image: i, src: neg, dst, faces: mapFaces(img, neg, dst) });
    }
  });
  return frames;
}

export function iou(a: Box, b: Box): number {
  const x0 = Math.max(a.x, b.x);
  const y0 = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.w, b.x + b.w);
  const y1 = Math.min(a.y + a.h, b.y + b.h);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}

export interface Detection extends Box {
  score: number;
}

export interface FrameScore {
  tp: number;
  fp: number;
  fn: number;
  /** Misses counting difficult/cut faces >= 40 px too. */
  fnAll: number;
  tpAll: number;
  ious: number[];
}

/** Greedy matching by score, IoU >= IOU_HIT. */
export function scoreFrame(gt: BenchFrame['faces'], dets: Detection[]): FrameScore {
  const sorted = [...dets].sort((a, b) => b.score - a.score);
  const used = new Set<number>();
  const r: FrameScore = { tp: 0, fp: 0, fn: 0, fnAll: 0, tpAll: 0, ious: [] };
  for (const d of sorted) {
    let best = -1;
    let bestIou = IOU_HIT;
    gt.forEach((g, i) => {
      if (used.has(i)) return;
      const v = iou(d, g);
      if (v >= bestIou) {
        best = i;
        bestIou = v;
      }
    });
    if (best < 0) {
      r.fp++;
      continue;
    }
    used.add(best);
    const g = gt[best]!;
    if (g.w >= MIN_FACE_PX) r.tpAll++;
    if (!g.ignore) {
      r.tp++;
      r.ious.push(bestIou);
    }
  }
  gt.forEach((g, i) => {
    if (used.has(i)) return;
    if (!g.ignore) r.fn++;
    if (g.w >= MIN_FACE_PX && g.w * g.h > 0) r.fnAll++;
  });
  return r;
}

// ---- browser side --------------------------------------------------------

interface RunResult {
  loadError?: string;
  backend?: string;
  frames: { faces: Detection[]; ms: number }[];
}

async function loadImages(page: Page, labels: Labels): Promise<void> {
  for (const [i, img] of labels.images.entries()) {
    const b64 = readFileSync(path.join(ROOT, img.file)).toString('base64');
    await page.evaluate(
      async ({ i, b64 }) => {
        const w = window as unknown as { benchImages?: ImageBitmap[] };
        w.benchImages ??= [];
        // Decoded here, not fetched from a data: URL: the page's CSP (connect-src 'self') refuses those.
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const blob = new Blob([bytes], { type: 'image/jpeg' });
        w.benchImages[i] = await createImageBitmap(blob);
      },
      { i, b64 },
    );
  }
}

/** Runs one detector through the app's worker on every frame (twice; the second pass is kept). */
async function runWorker(page: Page, detector: string, frames: BenchFrame[]): Promise<RunResult> {
  return page.evaluate(
    async ({ detector, frames, W, H }) => {
      const images = (window as unknown as { benchImages: ImageBitmap[] }).benchImages;
      const worker = new Worker('/detect-worker.js', { type: 'module' });
      const threads = Math.max(1, Math.min(4, Math.floor((navigator.hardwareConcurrency || 2) / 2)));
      const modelBaseUrl = detector === 'tiny-face-detector' ? '/models/face-api/' : '/models/human/';
      const waitFor = <T>(pred: (m: any) => T | undefined): Promise<T> =>
        new Promise((resolve, reject) => {
          const on = (ev: MessageEvent) => {
            const v = pred(ev.data);
            if (v !== undefined) {
              worker.removeEventListener('message', on);
              resolve(v);
            }
          };
          worker.addEventListener('message', on);
          worker.onerror = (e) => reject(new Error(e.message));
        });
      const ready = waitFor((m) => (m.type === 'ready' || m.type === 'load-error' ? m : undefined));
      worker.postMessage({ type: 'init', detector, options: { modelBaseUrl, wasmBaseUrl: '/wasm/tfjs/', threads } });
      const r = await ready;
      if (r.type === 'load-error') {
        worker.terminate();
        return { loadError: r.message as string, frames: [] };
      }
      const canvas = new OffscreenCanvas(W, H);
      const ctx = canvas.getContext('2d')!;
      let id = 0;
      const out: { faces: { x: number; y: number; w: number; h: number; score: number }[]; ms: number }[] = [];
      for (let pass = 0; pass < 2; pass++) {
        for (const [i, f] of frames.entries()) {
          ctx.fillStyle = '#000';
          ctx.fillRect(0, 0, W, H);
          ctx.drawImage(images[f.image]!, f.src.sx, f.src.sy, f.src.sw, f.src.sh, f.dst.dx, f.dst.dy, f.dst.dw, f.dst.dh);
          const bitmap = await createImageBitmap(canvas);
          const myId = ++id;
          const res = waitFor((m) => (m.id === myId ? m : undefined));
          worker.postMessage({ type: 'detect', id: myId, bitmap }, [bitmap]);
          const m = await res;
          if (m.type !== 'result') throw new Error(`detection failed on ${f.name}: ${m.message}`);
          const faces = (m.faces as { box: { x: number; y: number; w: number; h: number }; score: number }[]).map((d) => ({
            x: d.box.x * W,
            y: d.box.y * H,
            w: d.box.w * W,
            h: d.box.h * H,
            score: d.score,
          }));
          if (pass === 1) out[i] = { faces, ms: m.ms as number };
        }
      }
      worker.terminate();
      return { backend: r.backend as string, frames: out };
    },
    { detector, frames, W: FRAME_W, H: FRAME_H },
  );
}

/** MediaPipe face_detection (legacy solutions API) on the page's main thread. */
async function runMediaPipe(page: Page, model: 'short' | 'full', frames: BenchFrame[]): Promise<RunResult> {
  return page.evaluate(
    async ({ model, frames, W, H }) => {
      const w = window as unknown as { FaceDetection?: any; benchImages: ImageBitmap[] };
      if (!w.FaceDetection) {
        await new Promise<void>((resolve, reject) => {
          const s = document.createElement('script');
          s.src = '/vendor/mediapipe-face/face_detection.js';
          s.onload = () => resolve();
          s.onerror = () => reject(new Error('face_detection.js failed to load'));
          document.head.append(s);
        });
      }
      const fd = new w.FaceDetection({ locateFile: (f: string) => `/vendor/mediapipe-face/${f}` });
      fd.setOptions({ model, minDetectionConfidence: 0.5 });
      let last: any = null;
      fd.onResults((r: any) => {
        last = r;
      });
      const canvas = document.createElement('canvas');
      canvas.width = W;
      canvas.height = H;
      const ctx = canvas.getContext('2d')!;
      try {
        await fd.initialize();
        ctx.fillRect(0, 0, W, H);
        await fd.send({ image: canvas });
      } catch (err) {
        return { loadError: String(err), frames: [] };
      }
      const out: { faces: { x: number; y: number; w: number; h: number; score: number }[]; ms: number }[] = [];
      for (let pass = 0; pass < 2; pass++) {
        for (const [i, f] of frames.entries()) {
          ctx.fillStyle = '#000';
          ctx.fillRect(0, 0, W, H);
          ctx.drawImage(w.benchImages[f.image]!, f.src.sx, f.src.sy, f.src.sw, f.src.sh, f.dst.dx, f.dst.dy, f.dst.dw, f.dst.dh);
          const t0 = performance.now();
          await fd.send({ image: canvas });
          const ms = performance.now() - t0;
          const faces = ((last?.detections ?? []) as any[]).map((d) => {
            const b = d.boundingBox;
            return { x: (b.xCenter - b.width / 2) * W, y: (b.yCenter - b.height / 2) * H, w: b.width * W, h: b.height * H, score: d.V?.[0]?.score ?? d.score?.[0] ?? 1 };
          });
          if (pass === 1) out[i] = { faces, ms };
        }
      }
      await fd.close();
      return { backend: `mediapipe ${model} (main thread, wasm)`, frames: out };
    },
    { model, frames, W: FRAME_W, H: FRAME_H },
  );
}

type Stats = Record<string, number | string | null>;
const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The page with the fake camera and one detector: median stats over `seconds`. */
async function measurePage(url: string, y4m: string, query: string, seconds: number, warmup: number): Promise<Record<string, number | null>> {
  const browser = await launchBrowser({ y4m });
  try {
    const page = await browser.context.newPage();
    await page.goto(`${url}/${query}`);
    await page.waitForFunction(() => (window as unknown as { facecast?: { stats: Stats } }).facecast?.stats.connection === 'connected', null, { timeout: 30_000 });
    await page.waitForTimeout(warmup * 1000);
    const samples: Stats[] = [];
    for (let i = 0; i < seconds; i++) {
      await page.waitForTimeout(1000);
      samples.push(await page.evaluate(() => ({ ...(window as unknown as { facecast: { stats: Stats } }).facecast.stats })));
    }
    const keys = ['cameraFps', 'outputFps', 'sentFps', 'detectFps', 'detectMs', 'detectLatencyMs', 'boxAgeMs', 'boxAgeMaxMs'] as const;
    const out: Record<string, number | null> = {};
    for (const k of keys) out[k] = median(samples.map((s) => Number(s[k] ?? NaN)));
    const maxAge = samples.map((s) => Number(s.boxAgeMaxMs ?? NaN)).filter(Number.isFinite);
    out.boxAgeMaxMs = maxAge.length ? Math.max(...maxAge) : null;
    return out;
  } finally {
    await browser.close();
  }
}

// ---- main ----------------------------------------------------------------

interface Row {
  detector: string;
  backend: string;
  faces: number;
  recall: number;
  precision: number;
  recallAll: number;
  meanIou: number;
  ms: number | null;
  msP90: number | null;
  fps?: Record<string, number | null>;
  loadError?: string;
}

function summarize(detector: string, run: RunResult, frames: BenchFrame[]): Row {
  if (run.loadError) return { detector, backend: '-', faces: 0, recall: 0, precision: 0, recallAll: 0, meanIou: 0, ms: null, msP90: null, loadError: run.loadError };
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tpAll = 0;
  let fnAll = 0;
  const ious: number[] = [];
  const misses: string[] = [];
  frames.forEach((f, i) => {
    const s = scoreFrame(f.faces, run.frames[i]!.faces);
    tp += s.tp;
    fp += s.fp;
    fn += s.fn;
    tpAll += s.tpAll;
    fnAll += s.fnAll;
    ious.push(...s.ious);
    if (s.fn || s.fp) misses.push(`${f.name}: ${s.fn} missed, ${s.fp} false`);
  });
  if (process.env.BENCH_VERBOSE) console.error(`${detector}:\n  ${misses.join('\n  ')}`);
  const ms = run.frames.map((f) => f.ms).sort((a, b) => a - b);
  return {
    detector,
    backend: run.backend ?? '',
    faces: tp + fn,
    recall: tp / Math.max(1, tp + fn),
    precision: tp / Math.max(1, tp + fp),
    recallAll: tpAll / Math.max(1, tpAll + fnAll),
    meanIou: ious.reduce((a, b) => a + b, 0) / Math.max(1, ious.length),
    ms: median(ms),
    msP90: ms[Math.floor(ms.length * 0.9)] ?? null,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      detectors: { type: 'string', default: 'blazeface,tiny-face-detector' },
      seconds: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '5' },
      'no-fps': { type: 'boolean' },
      'no-mediapipe': { type: 'boolean' },
      'no-record': { type: 'boolean' },
      json: { type: 'string' },
    },
  });
  const detectors = values.detectors.split(',').filter(Boolean);
  const seconds = Math.min(120, Number(values.seconds));
  const warmup = Math.min(60, Number(values.warmup));
  const labels = loadLabels();
  const frames = buildFrames(labels);
  const counted = frames.reduce((n, f) => n + f.faces.filter((g) => !g.ignore).length, 0);
  console.error(`bench:detect: ${frames.length} frames of 640x480 from ${labels.images.length} photos, ${counted} labelled faces >= ${MIN_FACE_PX} px`);

  const server = await startTestServer();
  const rows: Row[] = [];
  try {
    const browser = await launchBrowser({});
    try {
      const page = await browser.context.newPage();
      page.on('pageerror', (e) => console.error('page error:', e.message));
      // tsx (esbuild keepNames) wraps named functions in __name(); define it for evaluate()d code.
      await page.addInitScript({ content: 'window.__name = (f) => f;' });
      await page.goto(`${server.url}/healthz`); // same origin as the worker, cross-origin isolated
      await loadImages(page, labels);
      for (const d of detectors) {
        console.error(`bench:detect: ${d} on the image set…`);
        rows.push(summarize(d, await runWorker(page, d, frames), frames));
      }
      if (!values['no-mediapipe']) {
        for (const model of ['short', 'full'] as const) {
          console.error(`bench:detect: mediapipe-${model} on the image set…`);
          rows.push(summarize(`mediapipe-${model}*`, await runMediaPipe(page, model, frames).catch((e) => ({ loadError: String(e), frames: [] })), frames));
        }
      }
    } finally {
      await browser.close();
    }
    if (!values['no-fps']) {
      const fixture = await ensureFaceY4m();
      for (const row of rows) {
        if (row.detector.startsWith('mediapipe') || row.loadError) continue;
        console.error(`bench:detect: page fps with ${row.detector}…`);
        row.fps = await measurePage(server.url, fixture.path, `?detector=${row.detector}`, seconds, warmup);
      }
      console.error('bench:detect: page fps with detector=none…');
      rows.push({
        detector: 'none',
        backend: '-',
        faces: 0,
        recall: NaN,
        precision: NaN,
        recallAll: NaN,
        meanIou: NaN,
        ms: null,
        msP90: null,
        fps: await measurePage(server.url, fixture.path, '?detector=none', seconds, warmup),
      });
    }
  } finally {
    await server.close();
  }

  const commit = (() => {
    try {
      return execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  })();
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const report = { bench: 'detect', date: new Date().toISOString(), commit, machine, frames: frames.length, faces: counted, seconds, warmup, rows };
  console.log(JSON.stringify(report, null, 2));
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2));

  const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : '-');
  const n = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : (Math.round(v * 10) / 10).toString());
  const lines = [
    '',
    `## Face detectors, headless Chromium — ${report.date.slice(0, 10)}, commit ${commit}`,
    '',
    `Command: \`npm run bench:detect\` (${frames.length} frames of 640x480 derived from the 6 labelled photos in bench/faces/labels.json, ${counted} faces >= ${MIN_FACE_PX} px; hit = IoU >= ${IOU_HIT}; ms = median time in the detection worker per frame, second pass; page columns: medians of ${seconds} one-second samples after ${warmup} s warm-up with the fake camera at 640x480; * = measured on the main thread, not in the app). Machine: ${machine}.`,
    '',
    '| detector | backend | recall | precision | recall incl. difficult | mean IoU | ms/frame (p50 / p90) | camera fps | output fps | sent fps | detect fps | capture→result ms | box age ms (mean / max) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) =>
      r.loadError
        ? `| ${r.detector} | failed: ${r.loadError.slice(0, 80)} |||||||||||`
        : `| ${r.detector} | ${r.backend} | ${pct(r.recall)} | ${pct(r.precision)} | ${pct(r.recallAll)} | ${Number.isFinite(r.meanIou) ? r.meanIou.toFixed(2) : '-'} | ${n(r.ms)} / ${n(r.msP90)} | ${n(r.fps?.cameraFps)} | ${n(r.fps?.outputFps)} | ${n(r.fps?.sentFps)} | ${n(r.fps?.detectFps)} | ${n(r.fps?.detectLatencyMs)} | ${n(r.fps?.boxAgeMs)} / ${n(r.fps?.boxAgeMaxMs)} |`,
    ),
    '',
  ];
  console.error(lines.join('\n'));
  if (!values['no-record']) {
    appendFileSync(path.join(ROOT, 'docs', 'BENCHMARKS.md'), lines.join('\n'));
    console.error('recorded in docs/BENCHMARKS.md');
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
