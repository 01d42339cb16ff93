/**
 * A realistic VP8 RTP generator: 30 fps frames of ~1 Mbps, split into packets of
 * at most 1200 bytes, RFC 7741 payload descriptors with 15-bit picture ids,
 * keyframes on demand and every `keyframeEvery` frames. Payload bytes are
 * pseudo-random but deterministic (frame and packet index are stamped in).
 */
import { RtpHeader, RtpPacket } from 'werift';

export interface Vp8SourceOptions {
  ssrc?: number;
  payloadType?: number;
  fps?: number;
  bitrate?: number;
  keyframeEvery?: number;
  maxPacket?: number;
  /** Start with a keyframe (default true); false waits for a PLI or the periodic one. */
  startWithKeyframe?: boolean;
  /** Frame size written into keyframe headers (RFC 6386 §9.1). */
  width?: number;
  height?: number;
}

export class Vp8Source {
  private seq = Math.floor(Math.random() * 0x10000);
  private timestamp = Math.floor(Math.random() * 0x100000000);
  private pictureId = Math.floor(Math.random() * 0x8000);
  private frame = 0;
  private forceKey: boolean;
  readonly opts: Required<Vp8SourceOptions>;

  constructor(opts: Vp8SourceOptions = {}) {
    this.opts = {
      ssrc: opts.ssrc ?? 0x1234abcd,
      payloadType: opts.payloadType ?? 96,
      fps: opts.fps ?? 30,
      bitrate: opts.bitrate ?? 1_000_000,
      keyframeEvery: opts.keyframeEvery ?? 90,
      maxPacket: opts.maxPacket ?? 1200,
      startWithKeyframe: opts.startWithKeyframe ?? true,
      width: opts.width ?? 640,
      height: opts.height ?? 480,
    };
    this.forceKey = this.opts.startWithKeyframe;
    if (!this.forceKey) this.frame = 1; // skip the periodic keyframe at frame 0
  }

  requestKeyframe(): void {
    this.forceKey = true;
  }

  /** The packets of the next frame. */
  nextFrame(): RtpPacket[] {
    const { fps, bitrate, keyframeEvery, maxPacket, ssrc, payloadType } = this.opts;
    const key = this.forceKey || this.frame % keyframeEvery === 0;
    this.forceKey = false;
    const frameBytes = Math.round((bitrate / 8 / fps) * (key ? 4 : 0.9));
    const descriptorLen = 4; // X|S|PID, I, M|picture id (15 bit)
    const chunk = maxPacket - descriptorLen;
    const count = Math.max(1, Math.ceil(frameBytes / chunk));
    const packets: RtpPacket[] = [];
    let left = frameBytes;
    for (let i = 0; i < count; i++) {
      const size = Math.min(chunk, left);
      left -= size;
      const payload = Buffer.alloc(descriptorLen + size);
      payload[0] = 0x80 | (i === 0 ? 0x10 : 0); // X, S on the first packet, PID 0
      payload[1] = 0x80; // I: picture id present
      payload.writeUInt16BE(0x8000 | this.pictureId, 2);
      // VP8 payload header on the first packet: bit 0 is the inverse key-frame flag.
      for (let j = descriptorLen; j < payload.length; j++) payload[j] = (j * 31 + this.frame * 7 + i) & 0xff;
      payload.writeUInt32BE(this.frame >>> 0, Math.min(payload.length - 4, descriptorLen + 10));
      if (i === 0) payload[descriptorLen] = key ? 0x10 : 0x11;
      if (i === 0 && key && payload.length >= descriptorLen + 10) {
        payload.set([0x9d, 0x01, 0x2a], descriptorLen + 3);
        payload.writeUInt16LE(this.opts.width, descriptorLen + 6);
        payload.writeUInt16LE(this.opts.height, descriptorLen + 8);
      }
      const header = new RtpHeader({
        ssrc,
        payloadType,
        sequenceNumber: this.seq,
        timestamp: this.timestamp,
        marker: i === count - 1,
      });
      this.seq = (this.seq + 1) & 0xffff;
      packets.push(new RtpPacket(header, payload));
    }
    this.frame++;
    this.pictureId = (this.pictureId + 1) & 0x7fff;
    this.timestamp = (this.timestamp + Math.round(90000 / fps)) >>> 0;
    return packets;
  }
}
