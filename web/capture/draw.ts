/** Draws face boxes, scores and keypoints onto a 2D context (composite or echo overlay). */
import type { Face } from './detect/detector.js';

export const BOX_COLOR = '#00ff00';
export const KEYPOINT_COLOR = '#ff2bd6';
export const BOX_LINE_WIDTH = 4;

export function drawFaces(ctx: CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D, faces: readonly Face[], W: number, H: number): void {
  if (!faces.length) return;
  ctx.save();
  ctx.strokeStyle = BOX_COLOR;
  ctx.fillStyle = BOX_COLOR;
  ctx.lineWidth = BOX_LINE_WIDTH;
  ctx.lineJoin = 'miter';
  ctx.font = '600 14px system-ui, sans-serif';
  ctx.textBaseline = 'bottom';
  for (const face of faces) {
    const x = face.box.x * W;
    const y = face.box.y * H;
    const w = face.box.w * W;
    const h = face.box.h * H;
    ctx.strokeRect(Math.round(x), Math.round(y), Math.round(w), Math.round(h));
    const label = face.score.toFixed(2);
    const ty = y > 18 ? y - 4 : y + h + 18;
    ctx.fillStyle = BOX_COLOR;
    ctx.fillText(label, Math.round(x), Math.round(ty));
    if (face.keypoints) {
      ctx.fillStyle = KEYPOINT_COLOR;
      for (const p of face.keypoints) ctx.fillRect(Math.round(p.x * W) - 3, Math.round(p.y * H) - 3, 6, 6);
    }
  }
  ctx.restore();
}
