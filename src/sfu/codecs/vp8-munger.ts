import { parseVp8 } from './vp8.js';

/**
 * Keeps VP8 picture ids (15 bit) and TL0PICIDX continuous for one subscriber
 * across source switches (simulcast layer change, publisher reconnect).
 * Returns the payload to send: the source buffer itself while no offset is
 * needed, else a rewritten copy (the source is shared and never mutated).
 */
export class Vp8Munger {
  private source: unknown = undefined;
  private pidOffset = 0;
  private tl0Offset = 0;
  private lastPid = -1;
  private lastTl0 = -1;

  munge(source: unknown, payload: Buffer): Buffer {
    const d = parseVp8(payload);
    if (!d) return payload;
    if (source !== this.source) {
      this.source = source;
      // Continue right after what the subscriber last saw.
      this.pidOffset = this.lastPid < 0 || d.pictureIdBits !== 15 ? 0 : (this.lastPid + 1 - d.pictureId) & 0x7fff;
      this.tl0Offset = this.lastTl0 < 0 || d.tl0PicIdx < 0 ? 0 : (this.lastTl0 + 1 - d.tl0PicIdx) & 0xff;
    }
    let out = payload;
    if (d.pictureIdBits === 15) {
      const pid = (d.pictureId + this.pidOffset) & 0x7fff;
      if (this.pidOffset !== 0) {
        out = Buffer.from(payload);
        out[d.pictureIdOffset] = 0x80 | (pid >> 8);
        out[d.pictureIdOffset + 1] = pid & 0xff;
      }
      this.lastPid = pid;
    }
    if (d.tl0PicIdx >= 0) {
      const tl0 = (d.tl0PicIdx + this.tl0Offset) & 0xff;
      if (this.tl0Offset !== 0) {
        if (out === payload) out = Buffer.from(payload);
        out[d.tl0PicIdxOffset] = tl0;
      }
      this.lastTl0 = tl0;
    }
    return out;
  }
}
