import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { test } from 'node:test';
import { FRAME_HEIGHT, FRAME_WIDTH, I420_FRAME_BYTES, Y4M_FRAME_HEADER, Y4M_HEADER, ensureFaceY4m, rgbaToI420, y4mByteLength } from '../helpers/face-fixture.js';

test('rgbaToI420 maps black/white/red to BT.601 limited range', () => {
  const px = (r: number, g: number, b: number) => new Uint8Array([r, g, b, 255, r, g, b, 255, r, g, b, 255, r, g, b, 255]);
  const black = rgbaToI420(px(0, 0, 0), 2, 2);
  assert.deepEqual([...black], [16, 16, 16, 16, 128, 128]);
  const white = rgbaToI420(px(255, 255, 255), 2, 2);
  assert.deepEqual([...white], [235, 235, 235, 235, 128, 128]);
  const red = rgbaToI420(px(255, 0, 0), 2, 2);
  assert.deepEqual([...red.subarray(0, 4)], [82, 82, 82, 82]);
  assert.ok(Math.abs(red[4]! - 90) <= 1, `U=${red[4]}`);
  assert.ok(Math.abs(red[5]! - 240) <= 1, `V=${red[5]}`);
});

test('face.y4m is a well-formed 640x480 I420 clip of a real face', { timeout: 60_000 }, async () => {
  const fx = await ensureFaceY4m();
  assert.equal(fx.width, 640);
  assert.equal(fx.height, 480);
  assert.ok(fx.frames >= 1);

  const buf = readFileSync(fx.path);
  assert.equal(buf.subarray(0, Y4M_HEADER.length).toString('latin1'), 'YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\n');
  const frameBytes = Y4M_FRAME_HEADER.length + I420_FRAME_BYTES;
  assert.equal(I420_FRAME_BYTES, 640 * 480 * 1.5);
  const n = (buf.length - Y4M_HEADER.length) / frameBytes;
  assert.ok(Number.isInteger(n), `file size ${buf.length} is not header + N * ${frameBytes}`);
  assert.ok(n >= 1);
  assert.equal(n, fx.frames);
  assert.equal(buf.length, y4mByteLength(n));
  for (let i = 0; i < n; i++) {
    const at = Y4M_HEADER.length + i * frameBytes;
    assert.equal(buf.subarray(at, at + Y4M_FRAME_HEADER.length).toString('latin1'), 'FRAME\n', `frame ${i} header`);
  }

  assert.ok(fx.faces.length >= 1);
  const y0 = Y4M_HEADER.length + Y4M_FRAME_HEADER.length; // luma plane of frame 0
  for (const f of fx.faces) {
    assert.ok(f.x >= 0 && f.y >= 0 && f.x + f.w <= FRAME_WIDTH && f.y + f.h <= FRAME_HEIGHT, 'box inside frame');
    assert.ok(f.w >= 100 && f.h >= 100, 'face is at least 100 px');
    let sum = 0;
    let sumSq = 0;
    let count = 0;
    for (let y = f.y; y < f.y + f.h; y++) {
      for (let x = f.x; x < f.x + f.w; x++) {
        const v = buf[y0 + y * FRAME_WIDTH + x]!;
        sum += v;
        sumSq += v * v;
        count++;
      }
    }
    const mean = sum / count;
    const std = Math.sqrt(sumSq / count - mean * mean);
    // A flat or blank frame has std ~0; the real face measures ~45.
    assert.ok(std > 20, `luma std inside the face box is ${std.toFixed(1)}, expected real image content`);
    assert.ok(mean > 40 && mean < 220, `luma mean inside the face box is ${mean.toFixed(1)}`);
  }
});

test('ensureFaceY4m reuses a fresh file', { timeout: 60_000 }, async () => {
  const fx = await ensureFaceY4m();
  const before = statSync(fx.path).mtimeMs;
  const again = await ensureFaceY4m();
  assert.equal(again.path, fx.path);
  assert.equal(statSync(fx.path).mtimeMs, before);
});
