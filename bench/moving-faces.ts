/**
 * `npm run bench:moving`: boxes on moving faces, read back from the echo. Headless Chromium's
 * fake camera plays bench/moving/clip.ts (group photos, still then panned and zoomed, the
 * frame index stamped in a corner, the true box of every face known per frame); the echo page
 * detects, draws and sends through the SFU; bench/moving/probe.ts reads each echo frame's
 * index and the green boxes drawn on it. Per detector and alignment (`?align=predict|hold`,
 * web/capture/compose-protocol.ts): the share of face-frames whose drawn box overlaps the true
 * box with IoU >= 0.5, the median centre error in % of the face width (a face with no box:
 * a miss, counted as IoU 0), for still and moving faces; the echo's glass-to-glass latency;
 * frames sent per second, and once more with the page in the background.
 *
 * Frames within 15 of a cut (a new photo) are left out: they measure re-acquisition, not
 * motion. Each detector x alignment runs --repeat times (default 2), alternating; the table has
 * the median of each figure. Options: --seconds N (default 12), --repeat N, --detectors a,b,
 * --aligns a,b, --no-record, --json FILE.
 * All traffic on 127.0.0.1 (run via scripts/in-netns.mjs).
 */
import { execSync } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { launchBrowser } from '../test/helpers/browser.js';
import { REPO_ROOT } from '../test/helpers/face-fixture.js';
import { startTestServer, waitFor } from '../test/helpers/server.js';
import { type ClipFrame, ensureMovingClip } from './moving/clip.js';
import type { EchoRecord } from './moving/probe.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '12' },
    repeat: { type: 'string', default: '2' },
    detectors: { type: 'string', default: 'blazeface,tiny-face-detector' },
    aligns: { type: 'string', default: 'predict,hold' },
    'no-record': { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
const seconds = Math.min(60, Number(values.seconds));
const repeat = Math.min(5, Math.max(1, Number(values.repeat)));
const CUT_SKIP = 15;
const MOVING_PX_S = 20;

type Box = { x: number; y: number; w: number; h: number };
function iou(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  const i = ix * iy;
  return i > 0 ? i / (a.w * a.h + b.w * b.h - i) : 0;
}

interface Score {
  faceFrames: number;
  iouOk: number;
  centreErrors: number[];
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
};

/**
 * How this detector's boxes sit on the hand-drawn ones (labels run forehead to chin; detectors
 * have their own convention): medians, over matched still face-frames, of the centre offset
 * and the size ratio, in units of the drawn box. Applied to every drawn box, it leaves the
 * error that alignment (and the detector's jitter) makes, not the convention.
 */
interface Calibration {
  dx: number;
  dy: number;
  sw: number;
  sh: number;
}
const IDENTITY: Calibration = { dx: 0, dy: 0, sw: 1, sh: 1 };

function corrected(d: Box, c: Calibration): Box {
  const w = d.w * c.sw;
  const h = d.h * c.sh;
  const cx = d.x + d.w / 2 + c.dx * d.w;
  const cy = d.y + d.h / 2 + c.dy * d.h;
  return { x: cx - w / 2, y: cy - h / 2, w, h };
}

/** Scores echo records against the clip's truth: greedy IoU matching per frame (boxes corrected by `cal`). */
function score(records: EchoRecord[], frames: ClipFrame[], cal: Calibration = IDENTITY, pairsOut?: { t: Box; d: Box }[]): { still: Score; moving: Score; readable: number } {
  const still: Score = { faceFrames: 0, iouOk: 0, centreErrors: [] };
  const moving: Score = { faceFrames: 0, iouOk: 0, centreErrors: [] };
  let readable = 0;
  for (const r of records) {
    if (r.clip === null || r.clip >= frames.length) continue;
    readable++;
    const f = frames[r.clip]!;
    if (f.sinceCut < CUT_SKIP) continue;
    const drawn = r.boxes.map(([x, y, w, h]) => corrected({ x, y, w, h }, cal));
    const used = new Set<number>();
    const truths = f.faces.filter((t) => t.counted);
    const pairs = truths.flatMap((t, ti) => drawn.map((d, di) => ({ ti, di, v: iou(t, d) }))).sort((a, b) => b.v - a.v);
    const best = new Map<number, number>();
    for (const p of pairs) {
      if (p.v <= 0 || best.has(p.ti) || used.has(p.di)) continue;
      best.set(p.ti, p.di);
      used.add(p.di);
    }
    const s = f.speedPxS >= MOVING_PX_S ? moving : still;
    truths.forEach((t, ti) => {
      s.faceFrames++;
      const di = best.get(ti);
      if (di === undefined) {
        s.centreErrors.push(Infinity);
        return;
      }
      const d = drawn[di]!;
      if (s === still && pairsOut && iou(t, d) >= 0.3) pairsOut.push({ t, d });
      if (iou(t, d) >= 0.5) s.iouOk++;
      s.centreErrors.push((Math.hypot(d.x + d.w / 2 - t.x - t.w / 2, d.y + d.h / 2 - t.y - t.h / 2) / t.w) * 100);
    });
  }
  return { still, moving, readable };
}

function calibrate(records: EchoRecord[], frames: ClipFrame[]): Calibration {
  const pairs: { t: Box; d: Box }[] = [];
  score(records, frames, IDENTITY, pairs);
  if (pairs.length < 10) return IDENTITY;
  return {
    dx: median(pairs.map(({ t, d }) => (t.x + t.w / 2 - d.x - d.w / 2) / d.w)),
    dy: median(pairs.map(({ t, d }) => (t.y + t.h / 2 - d.y - d.h / 2) / d.h)),
    sw: median(pairs.map(({ t, d }) => t.w / d.w)),
    sh: median(pairs.map(({ t, d }) => t.h / d.h)),
  };
}

interface Row {
  detector: string;
  align: string;
  /** The box convention correction (calibrate()), and the figures without it. */
  calibration: Calibration;
  raw: { stillIou: number; stillCentre: number; movingIou: number; movingCentre: number };
  stillIou: number;
  stillCentre: number;
  stillFaceFrames: number;
  movingIou: number;
  movingCentre: number;
  movingFaceFrames: number;
  echoFrames: number;
  readable: number;
  glassMs: number | null;
  sentFps: number;
  detectFps: number;
}

async function framesSent(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const pc = (window as unknown as { facecast: { pc: RTCPeerConnection | null } }).facecast.pc;
    let n = 0;
    (await pc?.getStats())?.forEach((s: { type: string; kind?: string; framesSent?: number }) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') n += s.framesSent ?? 0;
    });
    return n;
  });
}

async function main(): Promise<void> {
  const clip = await ensureMovingClip();
  const maxSpeed = Math.max(...clip.frames.filter((f) => f.sinceCut >= CUT_SKIP).map((f) => f.speedPxS));
  const probe = (await build({ entryPoints: [path.join(REPO_ROOT, 'bench/moving/probe.ts')], bundle: true, write: false, format: 'iife' })).outputFiles[0]!.text;
  const server = await startTestServer();
  const browser = await launchBrowser({ y4m: clip.path });
  const rows: Row[] = [];
  let background: { front: number; back: number } | null = null;
  try {
    for (let rep = 0; rep < repeat; rep++)
      for (const detector of values.detectors.split(','))
        for (const align of values.aligns.split(',')) {
          const page = await browser.context.newPage();
          await page.goto(`${server.url}/?detector=${detector}&align=${align}`);
          await waitFor(() => page.evaluate(() => (window as unknown as { facecast: { detectorState(): string } }).facecast.detectorState() === 'ready'), 60_000, 'detector');
          await waitFor(async () => (await framesSent(page)) > 60, 30_000, 'video flowing');
          await new Promise((r) => setTimeout(r, 3000));
          const d0 = await page.evaluate(() => (window as unknown as { facecast: { debugCounters(): { detections: number } } }).facecast.debugCounters().detections);
          const s0 = await framesSent(page);
          const t0 = Date.now();
          await page.evaluate(probe);
          await new Promise((r) => setTimeout(r, seconds * 1000));
          const records = await page.evaluate(() => {
            const m = (window as unknown as { __moving: { records: EchoRecord[]; running: boolean } }).__moving;
            m.running = false;
            return m.records;
          });
          const s = (Date.now() - t0) / 1000;
          const sentFps = ((await framesSent(page)) - s0) / s;
          const d1 = await page.evaluate(() => (window as unknown as { facecast: { debugCounters(): { detections: number } } }).facecast.debugCounters().detections);
          const glassMs = await page.evaluate(() => (window as unknown as { facecast: { glass(): { medianMs: number | null } } }).facecast.glass().medianMs);
          const cal = calibrate(records, clip.frames);
          const raw = score(records, clip.frames);
          const sc = score(records, clip.frames, cal);
          const pct = (x: Score) => Math.round((x.iouOk / Math.max(1, x.faceFrames)) * 1000) / 10;
          const r2 = (x: number) => Math.round(x * 100) / 100;
          const row: Row = {
            detector,
            align,
            calibration: { dx: r2(cal.dx), dy: r2(cal.dy), sw: r2(cal.sw), sh: r2(cal.sh) },
            raw: {
              stillIou: pct(raw.still),
              stillCentre: Math.round(median(raw.still.centreErrors) * 10) / 10,
              movingIou: pct(raw.moving),
              movingCentre: Math.round(median(raw.moving.centreErrors) * 10) / 10,
            },
            stillIou: pct(sc.still),
            stillCentre: Math.round(median(sc.still.centreErrors) * 10) / 10,
            stillFaceFrames: sc.still.faceFrames,
            movingIou: pct(sc.moving),
            movingCentre: Math.round(median(sc.moving.centreErrors) * 10) / 10,
            movingFaceFrames: sc.moving.faceFrames,
            echoFrames: records.length,
            readable: sc.readable,
            glassMs,
            sentFps: Math.round(sentFps * 10) / 10,
            detectFps: Math.round(((d1 - d0) / s) * 10) / 10,
          };
          rows.push(row);
          process.stderr.write(`${JSON.stringify(row)}\n`);
          if (rep === 0 && detector === values.detectors.split(',')[0] && align === 'predict') {
            // The same page sent to the back: another page in front for 5 s.
            const other = await browser.context.newPage();
            await other.goto(`${server.url}/room/elsewhere?name=x&detector=none`);
            await other.bringToFront();
            await new Promise((r) => setTimeout(r, 2000));
            const b0 = await framesSent(page);
            const tb = Date.now();
            await new Promise((r) => setTimeout(r, 5000));
            background = { front: row.sentFps, back: Math.round((((await framesSent(page)) - b0) / ((Date.now() - tb) / 1000)) * 10) / 10 };
            await other.close();
          }
          await page.close();
        }
  } finally {
    await browser.close();
    await server.close();
  }
  // Per detector and alignment, the median of each figure over the repeats.
  const med = (xs: (number | null)[]) => {
    const v = xs.filter((x): x is number => x !== null && Number.isFinite(x));
    return v.length ? median(v) : null;
  };
  const runs = rows;
  const summary = [...new Set(runs.map((r) => `${r.detector}\u0000${r.align}`))].map((k) => {
    const rs = runs.filter((r) => `${r.detector}\u0000${r.align}` === k);
    const m = (f: (r: Row) => number | null) => med(rs.map(f)) ?? NaN;
    return {
      ...rs[0]!,
      stillIou: m((r) => r.stillIou),
      stillCentre: m((r) => r.stillCentre),
      movingIou: m((r) => r.movingIou),
      movingCentre: m((r) => r.movingCentre),
      raw: { stillIou: m((r) => r.raw.stillIou), stillCentre: m((r) => r.raw.stillCentre), movingIou: m((r) => r.raw.movingIou), movingCentre: m((r) => r.raw.movingCentre) },
      stillFaceFrames: m((r) => r.stillFaceFrames),
      movingFaceFrames: m((r) => r.movingFaceFrames),
      glassMs: med(rs.map((r) => r.glassMs)),
      sentFps: m((r) => r.sentFps),
      detectFps: m((r) => r.detectFps),
      movingIouRuns: rs.map((r) => r.movingIou),
    };
  });
  const report = { date: new Date().toISOString(), maxSpeedPxS: Math.round(maxSpeed), repeat, runs, summary, background };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2));
  if (!values['no-record']) {
    const commit = execSync('git rev-parse --short HEAD').toString().trim();
    appendFileSync(
      path.join(REPO_ROOT, 'docs/BENCHMARKS.md'),
      [
        '',
        `## Boxes on moving faces, read back from the echo — ${report.date.slice(0, 10)}, commit ${commit}`,
        '',
        `Command: \`npm run bench:moving\` (clip: 3 group photos x 100 frames, 1 s still then panned and zoomed, faces up to ${report.maxSpeedPxS} px/s; ${seconds} s per row; frames within ${CUT_SKIP} of a cut left out; moving = face centre >= ${MOVING_PX_S} px/s). Machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, headless Chromium, echo page in front.`,
        '',
        'IoU >= 0.5: share of face-frames; centre error: median, % of the true face width (a face without a box counts as a miss). Figures after correcting each detector for its box convention (centre offset and size ratio against the hand-drawn labels, medians over matched still face-frames of the same run); uncorrected in brackets.',
        '',
        `Medians of ${repeat} runs per row (moving IoU >= 0.5 of each run in the last column).`,
        '',
        '| detector | align | still: IoU >= 0.5 | still: centre error | moving: IoU >= 0.5 | moving: centre error | face-frames still / moving | detections / s | glass-to-glass ms | sent fps | moving IoU >= 0.5, runs |',
        '|---|---|---|---|---|---|---|---|---|---|---|',
        ...report.summary.map(
          (r) =>
            `| ${r.detector} | ${r.align} | ${r.stillIou}% (${r.raw.stillIou}%) | ${r.stillCentre}% (${r.raw.stillCentre}%) | ${r.movingIou}% (${r.raw.movingIou}%) | ${r.movingCentre}% (${r.raw.movingCentre}%) | ${r.stillFaceFrames} / ${r.movingFaceFrames} | ${r.detectFps} | ${r.glassMs ?? '–'} | ${r.sentFps} | ${r.movingIouRuns.join(', ')} |`,
        ),
        '',
        background ? `Sent fps with the page in front ${background.front}, in the background ${background.back} (${rows[0]?.detector}, predict).` : '',
        '',
      ].join('\n'),
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:moving: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
