/**
 * The moving-faces camera clip for `npm run bench:moving`: 640x480, 30 fps, from three of
 * the hand-labelled group photos (bench/faces/labels.json). Per photo, 100 frames: 1 s still
 * on the whole photo, a pan and zoom towards its faces over 40 frames (eased, faces moving up
 * to about 200 px/s on screen), 1 s still on the close-up, then a cut to the next photo. Each frame carries its index in a frame
 * code in its top-left corner (web/capture/framecode.ts's code, read back from the echo by
 * probe.ts), and the true box of every face in every frame is computed from the labels and
 * the crop. The .y4m is cached in test/fixtures/ (git-ignored) under a hash of this file.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { launchBrowser } from '../../test/helpers/browser.js';
import { FIXTURES_DIR, FRAME_HEIGHT, FRAME_WIDTH, REPO_ROOT, rgbaToI420, Y4M_FRAME_HEADER, Y4M_HEADER } from '../../test/helpers/face-fixture.js';

export const FRAMES_PER_PHOTO = 100;
export const STILL_FRAMES = 30;
const MOVE_FRAMES = 40;
const PHOTOS = ['sample1.jpg', 'sample4.jpg', 'sample5.jpg'];

interface Labelled {
  file: string;
  sha256: string;
  width: number;
  height: number;
  faces: { x: number; y: number; w: number; h: number; difficult?: boolean }[];
}

export interface Crop {
  sx: number;
  sy: number;
  sw: number;
  sh: number;
}

export interface TruthFace {
  x: number;
  y: number;
  w: number;
  h: number;
  /** Scored (>= 40 px wide, >= 80% inside the frame, not marked difficult); others are ignored. */
  counted: boolean;
}

export interface ClipFrame {
  index: number;
  photo: string;
  crop: Crop;
  faces: TruthFace[];
  /** Frames since the last cut (0: a new photo). */
  sinceCut: number;
  /** Fastest face centre movement around this frame, px/s on screen. */
  speedPxS: number;
}

const ease = (t: number) => (1 - Math.cos(Math.PI * Math.min(1, Math.max(0, t)))) / 2;

/** The crop of frame `i` of a photo: the whole photo (4:3, centred), then towards its faces. */
function cropAt(photo: Labelled, i: number): Crop {
  const sw0 = Math.min(photo.width, (photo.height * 4) / 3);
  const start = { cx: photo.width / 2, cy: photo.height / 2, sw: sw0 };
  const xs = photo.faces.map((f) => f.x + f.w / 2);
  const ys = photo.faces.map((f) => f.y + f.h / 2);
  const fx = (Math.min(...xs) + Math.max(...xs)) / 2;
  const fy = (Math.min(...ys) + Math.max(...ys)) / 2;
  const end = { cx: start.cx + (fx - start.cx) * 0.8, cy: start.cy + (fy - start.cy) * 0.8, sw: sw0 * 0.6 };
  const t = ease((i - STILL_FRAMES) / MOVE_FRAMES);
  const sw = start.sw + (end.sw - start.sw) * t;
  const sh = (sw * 3) / 4;
  const cx = start.cx + (end.cx - start.cx) * t;
  const cy = start.cy + (end.cy - start.cy) * t;
  return { sx: cx - sw / 2, sy: cy - sh / 2, sw, sh };
}

function project(f: Labelled['faces'][number], c: Crop): TruthFace {
  const k = FRAME_WIDTH / c.sw;
  const x = (f.x - c.sx) * k;
  const y = (f.y - c.sy) * k;
  const w = f.w * k;
  const h = f.h * k;
  const ix = Math.max(0, Math.min(FRAME_WIDTH, x + w) - Math.max(0, x));
  const iy = Math.max(0, Math.min(FRAME_HEIGHT, y + h) - Math.max(0, y));
  const inside = (ix * iy) / (w * h);
  return { x, y, w, h, counted: !f.difficult && w >= 40 && inside >= 0.8 };
}

export function clipFrames(): ClipFrame[] {
  const labels = JSON.parse(readFileSync(path.join(REPO_ROOT, 'bench/faces/labels.json'), 'utf8')) as { images: Labelled[] };
  const frames: ClipFrame[] = [];
  for (const name of PHOTOS) {
    const photo = labels.images.find((p) => p.file.endsWith(`/${name}`));
    if (!photo) throw new Error(`bench/faces/labels.json has no ${name}`);
    for (let i = 0; i < FRAMES_PER_PHOTO; i++) {
      const crop = cropAt(photo, i);
      const faces = photo.faces.map((f) => project(f, crop));
      const speed = (j: number) => {
        const a = photo.faces.map((f) => project(f, cropAt(photo, j)));
        const b = photo.faces.map((f) => project(f, cropAt(photo, j + 1)));
        return Math.max(...a.map((p, n) => Math.hypot(b[n]!.x + b[n]!.w / 2 - p.x - p.w / 2, b[n]!.y + b[n]!.h / 2 - p.y - p.h / 2) * 30));
      };
      frames.push({ index: frames.length, photo: name, crop, faces, sinceCut: i, speedPxS: Math.max(speed(Math.max(0, i - 1)), speed(i)) });
    }
  }
  return frames;
}

/** Writes the clip (once per version of this file) and returns its path and frames. */
export async function ensureMovingClip(): Promise<{ path: string; frames: ClipFrame[] }> {
  const frames = clipFrames();
  const hash = createHash('sha256')
    .update(readFileSync(new URL(import.meta.url)))
    .digest('hex')
    .slice(0, 12);
  const file = path.join(FIXTURES_DIR, `moving-faces-${hash}.y4m`);
  if (existsSync(file)) return { path: file, frames };
  const labels = JSON.parse(readFileSync(path.join(REPO_ROOT, 'bench/faces/labels.json'), 'utf8')) as { images: Labelled[] };
  const stamp = await build({
    stdin: {
      contents:
        "import { stampFrameCode, frameCodeRect } from './web/capture/framecode.ts'; (globalThis as any).stamp = (ctx: CanvasRenderingContext2D, v: number) => { const r = frameCodeRect(640, 480); ctx.save(); ctx.translate(0, -r.y); stampFrameCode(ctx, 640, 480, v); ctx.restore(); };",
      resolveDir: REPO_ROOT,
      loader: 'ts',
    },
    bundle: true,
    write: false,
    format: 'iife',
  });
  const browser = await launchBrowser({});
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, Y4M_HEADER);
    const page = await browser.context.newPage();
    await page.evaluate(stamp.outputFiles[0]!.text);
    for (const name of PHOTOS) {
      const photo = labels.images.find((p) => p.file.endsWith(`/${name}`))!;
      const jpeg = readFileSync(path.join(REPO_ROOT, photo.file));
      if (createHash('sha256').update(jpeg).digest('hex') !== photo.sha256) throw new Error(`${photo.file}: not the photo that was labelled`);
      await page.evaluate(async (data) => {
        const img = new Image();
        img.src = `data:image/jpeg;base64,${data}`;
        await img.decode();
        (globalThis as unknown as { img: HTMLImageElement }).img = img;
      }, jpeg.toString('base64'));
      for (const f of frames.filter((x) => x.photo === name)) {
        const b64 = await page.evaluate(
          ({ crop, index }) => {
            const g = globalThis as unknown as { img: HTMLImageElement; stamp(ctx: CanvasRenderingContext2D, v: number): void; cv?: HTMLCanvasElement };
            g.cv ??= Object.assign(document.createElement('canvas'), { width: 640, height: 480 });
            const ctx = g.cv.getContext('2d', { willReadFrequently: true })!;
            ctx.fillStyle = '#000';
            ctx.fillRect(0, 0, 640, 480);
            ctx.imageSmoothingQuality = 'high';
            ctx.drawImage(g.img, crop.sx, crop.sy, crop.sw, crop.sh, 0, 0, 640, 480);
            g.stamp(ctx, index);
            const px = ctx.getImageData(0, 0, 640, 480).data;
            let bin = '';
            for (let i = 0; i < px.length; i += 0x8000) bin += String.fromCharCode(...px.subarray(i, i + 0x8000));
            return btoa(bin);
          },
          { crop: f.crop, index: f.index },
        );
        writeSync(fd, Y4M_FRAME_HEADER);
        writeSync(fd, rgbaToI420(new Uint8Array(Buffer.from(b64, 'base64')), FRAME_WIDTH, FRAME_HEIGHT));
      }
    }
  } finally {
    closeSync(fd);
    await browser.close();
  }
  renameSync(tmp, file);
  writeFileSync(`${file}.json`, JSON.stringify(frames));
  return { path: file, frames };
}
