/**
 * Face detection metadata over a WebRTC data channel ("metadata" overlay mode).
 *
 * The browser opens one data channel labelled `facecast` on its peer connection
 * before its first offer. Over it, the publisher sends `faces` for frames it
 * published; the SFU relays each one to every subscriber of that participant
 * (and back to the publisher when its echo is on), adding `from` (the publisher's
 * name), on the subscriber's own `facecast` channel.
 *
 * `frame` is the frame number stamped into the video itself (see web/capture/framecode.ts),
 * so a subscriber can draw each result on exactly the frame it belongs to.
 * Boxes and keypoints are normalized to the frame: 0..1.
 */
import { z } from 'zod';

export const DATA_CHANNEL_LABEL = 'facecast';
/** Largest data-channel message the SFU accepts (bytes); larger ones are dropped. */
export const MAX_DATA_MESSAGE_BYTES = 16 * 1024;

const unit = z.number().finite().min(-0.5).max(1.5);

export const FaceBox = z.object({
  x: unit,
  y: unit,
  w: z.number().finite().min(0).max(1.5),
  h: z.number().finite().min(0).max(1.5),
  score: z.number().finite().min(0).max(1),
  keypoints: z
    .array(z.object({ x: unit, y: unit }))
    .max(16)
    .optional(),
});
export type FaceBox = z.infer<typeof FaceBox>;

/** Publisher -> SFU. */
export const FacesUp = z.object({
  type: z.literal('faces'),
  /** Frame number stamped into the video frame the detection ran on. */
  frame: z.number().int().min(0).max(0xffffff),
  /** Publisher's clock (ms, performance.now()) when that frame was captured. */
  ts: z.number().finite(),
  detector: z.string().max(64),
  faces: z.array(FaceBox).max(64),
});
export type FacesUp = z.infer<typeof FacesUp>;

/** SFU -> subscriber: the same, tagged with the publishing participant's name. */
export const FacesDown = FacesUp.extend({ from: z.string().max(64) });
export type FacesDown = z.infer<typeof FacesDown>;

/** Parse one data-channel message from a publisher; undefined when invalid. Never throws. */
export function parseFacesUp(raw: string | Uint8Array): FacesUp | undefined {
  const bytes = typeof raw === 'string' ? raw.length : raw.byteLength;
  if (bytes > MAX_DATA_MESSAGE_BYTES) return undefined;
  try {
    const result = FacesUp.safeParse(JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw)));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}
