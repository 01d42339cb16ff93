/// <reference lib="dom" />
// (DOM types are only for the code passed to page.evaluate(), which runs in Chromium.)
/**
 * Builds test/fixtures/face.y4m: a 640x480, 30 fps, I420 Y4M clip of a real face
 * photo, for Chromium's `--use-file-for-fake-video-capture`.
 *
 * Everything about the clip (source photo, crop, frame count, hand-labelled face
 * boxes) lives in test/fixtures/faces.json, which is committed; the .y4m is a
 * generated, git-ignored artifact rebuilt on demand:
 *
 *   1. the source JPEG (shipped in the @vladmandic/face-api npm package) is
 *      checked against the SHA-256 recorded in faces.json, so labels can never
 *      silently drift from the pixels;
 *   2. headless Chromium decodes it and draws the crop rectangle into a 640x480
 *      canvas (drawImage(img, sx, sy, sw, sh, 0, 0, 640, 480), the crop is exactly
 *      4:3 so there is no letterboxing), and getImageData() returns RGBA;
 *   3. RGBA is converted here to I420 (BT.601 limited range, 2x2-averaged chroma)
 *      and written as `frames` identical frames.
 *
 * The y4m is reused while it is newer than faces.json, the source photo and this
 * file, and has the exact expected size and header.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from './browser.js';

export const FRAME_WIDTH = 640;
export const FRAME_HEIGHT = 480;
export const Y4M_HEADER = `YUV4MPEG2 W${FRAME_WIDTH} H${FRAME_HEIGHT} F30:1 Ip A1:1 C420jpeg\n`;
export const Y4M_FRAME_HEADER = 'FRAME\n';
/** Bytes of one I420 frame payload (without the FRAME header). */
export const I420_FRAME_BYTES = (FRAME_WIDTH * FRAME_HEIGHT * 3) / 2;

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..');
export const FIXTURES_DIR = path.join(REPO_ROOT, 'test', 'fixtures');
export const FACE_Y4M_PATH = path.join(FIXTURES_DIR, 'face.y4m');
export const FACES_JSON_PATH = path.join(FIXTURES_DIR, 'faces.json');

export interface FaceBox {
  /** Left edge, 640x480 frame pixels. */
  x: number;
  /** Top edge, 640x480 frame pixels. */
  y: number;
  w: number;
  h: number;
  /** Hand-placed points (640x480 frame pixels), subject's left/right. */
  landmarks?: Record<string, { x: number; y: number }>;
}

export interface FaceLabels {
  how: string;
  /** Repo-relative path of the source JPEG. */
  source: string;
  sourceSha256: string;
  sourceSize: { width: number; height: number };
  /** Source-pixel rectangle drawn onto the full 640x480 frame. */
  crop: { sx: number; sy: number; sw: number; sh: number };
  width: typeof FRAME_WIDTH;
  height: typeof FRAME_HEIGHT;
  fps: number;
  frames: number;
  faces: FaceBox[];
}

export interface FaceY4m {
  path: string;
  width: typeof FRAME_WIDTH;
  height: typeof FRAME_HEIGHT;
  /** Frames in the file (all identical). */
  frames: number;
  faces: FaceBox[];
}

/** Expected byte size of a Y4M made by this module with `frames` frames. */
export function y4mByteLength(frames: number): number {
  return Y4M_HEADER.length + frames * (Y4M_FRAME_HEADER.length + I420_FRAME_BYTES);
}

export function loadFaceLabels(): FaceLabels {
  const labels = JSON.parse(readFileSync(FACES_JSON_PATH, 'utf8')) as FaceLabels;
  if (labels.width !== FRAME_WIDTH || labels.height !== FRAME_HEIGHT) {
    throw new Error(`${FACES_JSON_PATH}: expected ${FRAME_WIDTH}x${FRAME_HEIGHT}, got ${labels.width}x${labels.height}`);
  }
  if (!Number.isInteger(labels.frames) || labels.frames < 1) throw new Error(`${FACES_JSON_PATH}: bad frames`);
  const { sw, sh } = labels.crop;
  if (Math.abs(sw * FRAME_HEIGHT - sh * FRAME_WIDTH) > 1e-6) {
    throw new Error(`${FACES_JSON_PATH}: crop ${sw}x${sh} is not 4:3 (the labels assume no letterboxing)`);
  }
  return labels;
}

/**
 * RGBA (row-major, width*height*4) -> I420 (Y plane, then U, then V), BT.601
 * limited ("studio") range, which is what Chromium assumes for captured I420.
 * Alpha is ignored. Width and height must be even.
 */
export function rgbaToI420(rgba: Uint8Array, width: number, height: number): Buffer {
  if (width % 2 || height % 2) throw new Error('rgbaToI420: width and height must be even');
  if (rgba.length !== width * height * 4) throw new Error('rgbaToI420: buffer size mismatch');
  const ySize = width * height;
  const cw = width / 2;
  const out = Buffer.alloc((ySize * 3) / 2);
  const uOff = ySize;
  const vOff = ySize + ySize / 4;
  const clamp = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const r = rgba[i]!;
      const g = rgba[i + 1]!;
      const b = rgba[i + 2]!;
      out[y * width + x] = clamp(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16);
    }
  }
  for (let cy = 0; cy < height / 2; cy++) {
    for (let cx = 0; cx < cw; cx++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let dy = 0; dy < 2; dy++) {
        for (let dx = 0; dx < 2; dx++) {
          const i = ((cy * 2 + dy) * width + cx * 2 + dx) * 4;
          r += rgba[i]!;
          g += rgba[i + 1]!;
          b += rgba[i + 2]!;
        }
      }
      r /= 4;
      g /= 4;
      b /= 4;
      const j = cy * cw + cx;
      out[uOff + j] = clamp(Math.round((-38 * r - 74 * g + 112 * b) / 256) + 128);
      out[vOff + j] = clamp(Math.round((112 * r - 94 * g - 18 * b) / 256) + 128);
    }
  }
  return out;
}

/**
 * Decodes the source photo with headless Chromium and returns the 640x480 RGBA
 * frame (the crop from faces.json scaled onto the whole canvas).
 */
export async function renderFaceFrameRgba(labels: FaceLabels = loadFaceLabels()): Promise<Uint8Array> {
  const sourcePath = path.join(REPO_ROOT, labels.source);
  let jpeg: Buffer;
  try {
    jpeg = readFileSync(sourcePath);
  } catch {
    throw new Error(`Face fixture source photo missing: ${sourcePath} (run \`npm install\`; it ships with @vladmandic/face-api)`);
  }
  const sha = createHash('sha256').update(jpeg).digest('hex');
  if (sha !== labels.sourceSha256) {
    throw new Error(
      `Face fixture source ${labels.source} has sha256 ${sha}, but faces.json was labelled on ${labels.sourceSha256}. ` +
        'The package changed the photo: re-check the crop and re-label the face boxes.',
    );
  }

  const browser = await launchBrowser({});
  try {
    const page = await browser.context.newPage();
    const b64 = await page.evaluate(
      async ({ data, crop, width, height, sourceSize }) => {
        const img = new Image();
        img.src = `data:image/jpeg;base64,${data}`;
        await img.decode();
        if (img.naturalWidth !== sourceSize.width || img.naturalHeight !== sourceSize.height) {
          throw new Error(`decoded ${img.naturalWidth}x${img.naturalHeight}, expected ${sourceSize.width}x${sourceSize.height}`);
        }
        const canvas = document.createElement('canvas');
        canvas.width = width;
        canvas.height = height;
        const ctx = canvas.getContext('2d', { willReadFrequently: true });
        if (!ctx) throw new Error('no 2d context');
        ctx.fillStyle = '#000';
        ctx.fillRect(0, 0, width, height);
        ctx.imageSmoothingEnabled = true;
        ctx.imageSmoothingQuality = 'high';
        ctx.drawImage(img, crop.sx, crop.sy, crop.sw, crop.sh, 0, 0, width, height);
        const px = ctx.getImageData(0, 0, width, height).data;
        let bin = '';
        for (let i = 0; i < px.length; i += 0x8000) {
          bin += String.fromCharCode(...px.subarray(i, i + 0x8000));
        }
        return btoa(bin);
      },
      {
        data: jpeg.toString('base64'),
        crop: labels.crop,
        width: FRAME_WIDTH,
        height: FRAME_HEIGHT,
        sourceSize: labels.sourceSize,
      },
    );
    const rgba = new Uint8Array(Buffer.from(b64, 'base64'));
    if (rgba.length !== FRAME_WIDTH * FRAME_HEIGHT * 4) throw new Error(`canvas returned ${rgba.length} bytes`);
    return rgba;
  } finally {
    await browser.close();
  }
}

function mtimeMs(file: string): number {
  return statSync(file).mtimeMs;
}

function isFresh(labels: FaceLabels): boolean {
  let st;
  try {
    st = statSync(FACE_Y4M_PATH);
  } catch {
    return false;
  }
  if (st.size !== y4mByteLength(labels.frames)) return false;
  const inputs = [FACES_JSON_PATH, path.join(REPO_ROOT, labels.source), fileURLToPath(import.meta.url)];
  if (inputs.some((f) => mtimeMs(f) > st.mtimeMs)) return false;
  const expected = Y4M_HEADER + Y4M_FRAME_HEADER;
  const head = Buffer.alloc(expected.length);
  let fd: number | undefined;
  try {
    fd = openSync(FACE_Y4M_PATH, 'r');
    readSync(fd, head, 0, head.length, 0);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return head.toString('latin1') === expected;
}

async function build(labels: FaceLabels): Promise<void> {
  const rgba = await renderFaceFrameRgba(labels);
  const i420 = rgbaToI420(rgba, FRAME_WIDTH, FRAME_HEIGHT);
  const frameHeader = Buffer.from(Y4M_FRAME_HEADER, 'latin1');
  // Write to a unique temp name (still matching the *.y4m gitignore) and rename,
  // so concurrent test processes never see a half-written file.
  const tmp = path.join(FIXTURES_DIR, `.face-${process.pid}-${randomBytes(4).toString('hex')}.tmp.y4m`);
  const fh = await open(tmp, 'w');
  try {
    await fh.write(Buffer.from(Y4M_HEADER, 'latin1'));
    for (let i = 0; i < labels.frames; i++) {
      await fh.write(frameHeader);
      await fh.write(i420);
    }
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, FACE_Y4M_PATH);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

let pending: Promise<FaceY4m> | undefined;

/**
 * Returns the face clip, building test/fixtures/face.y4m first if it is missing
 * or stale. `force` rebuilds unconditionally.
 */
export function ensureFaceY4m(opts: { force?: boolean } = {}): Promise<FaceY4m> {
  if (pending && !opts.force) return pending;
  const p = (async (): Promise<FaceY4m> => {
    const labels = loadFaceLabels();
    if (opts.force || !isFresh(labels)) await build(labels);
    return {
      path: FACE_Y4M_PATH,
      width: FRAME_WIDTH,
      height: FRAME_HEIGHT,
      frames: labels.frames,
      faces: labels.faces.map((f) => ({ ...f })),
    };
  })();
  pending = p;
  p.catch(() => {
    if (pending === p) pending = undefined;
  });
  return p;
}
