/**
 * VP8 RTP payload descriptor (RFC 7741 §4.2), just what forwarding needs:
 * whether a packet starts a keyframe, and where the picture id / TL0PICIDX live.
 */

export interface Vp8Descriptor {
  /** Start of a VP8 partition 0 (S bit set and PID 0). */
  startOfFrame: boolean;
  /** This packet starts a keyframe (key bit in the VP8 payload header is 0). */
  keyframe: boolean;
  /** Picture id, or -1 when absent. */
  pictureId: number;
  /** 7 or 15 bits, 0 when absent. */
  pictureIdBits: 0 | 7 | 15;
  /** Byte offset of the picture id inside the payload, -1 when absent. */
  pictureIdOffset: number;
  /** TL0PICIDX, or -1 when absent. */
  tl0PicIdx: number;
  tl0PicIdxOffset: number;
  /** Temporal layer id, or -1 when absent. */
  tid: number;
  /** Length of the payload descriptor in bytes. */
  headerLength: number;
}

/** Parse the payload descriptor; returns undefined for a payload too short to be VP8. */
export function parseVp8(payload: Uint8Array): Vp8Descriptor | undefined {
  if (payload.length < 1) return undefined;
  const b0 = payload[0]!;
  const x = (b0 & 0x80) !== 0;
  const s = (b0 & 0x10) !== 0;
  const pid = b0 & 0x07;
  let i = 1;
  let pictureId = -1;
  let pictureIdBits: 0 | 7 | 15 = 0;
  let pictureIdOffset = -1;
  let tl0PicIdx = -1;
  let tl0PicIdxOffset = -1;
  let tid = -1;
  if (x) {
    if (payload.length < 2) return undefined;
    const b1 = payload[1]!;
    i = 2;
    if (b1 & 0x80) {
      // I: picture id present
      if (payload.length < i + 1) return undefined;
      pictureIdOffset = i;
      if (payload[i]! & 0x80) {
        if (payload.length < i + 2) return undefined;
        pictureId = ((payload[i]! & 0x7f) << 8) | payload[i + 1]!;
        pictureIdBits = 15;
        i += 2;
      } else {
        pictureId = payload[i]! & 0x7f;
        pictureIdBits = 7;
        i += 1;
      }
    }
    if (b1 & 0x40) {
      // L: TL0PICIDX present
      if (payload.length < i + 1) return undefined;
      tl0PicIdxOffset = i;
      tl0PicIdx = payload[i]!;
      i += 1;
    }
    if (b1 & 0x20 || b1 & 0x10) {
      // T and/or K: one byte TID|Y|KEYIDX
      if (payload.length < i + 1) return undefined;
      if (b1 & 0x20) tid = payload[i]! >> 6;
      i += 1;
    }
  }
  const startOfFrame = s && pid === 0;
  // The VP8 payload header's first byte: bit 0 is the inverse key frame flag.
  const keyframe = startOfFrame && payload.length > i && (payload[i]! & 0x01) === 0;
  return { startOfFrame, keyframe, pictureId, pictureIdBits, pictureIdOffset, tl0PicIdx, tl0PicIdxOffset, tid, headerLength: i };
}

/** True when this VP8 RTP payload starts a keyframe. */
export function isVp8Keyframe(payload: Uint8Array): boolean {
  return parseVp8(payload)?.keyframe ?? false;
}

/** True when this H264 RTP payload carries an IDR slice or SPS (RFC 6184 single NAL, STAP-A, FU-A). */
export function isH264Keyframe(payload: Uint8Array): boolean {
  if (payload.length < 2) return false;
  const type = payload[0]! & 0x1f;
  if (type === 5 || type === 7) return true;
  if (type === 24) {
    // STAP-A: [hdr][size16][nal]...
    let i = 1;
    while (i + 2 < payload.length) {
      const size = (payload[i]! << 8) | payload[i + 1]!;
      const nalType = payload[i + 2]! & 0x1f;
      if (nalType === 5 || nalType === 7) return true;
      i += 2 + size;
    }
    return false;
  }
  if (type === 28) {
    // FU-A: start bit and inner type
    const start = (payload[1]! & 0x80) !== 0;
    const inner = payload[1]! & 0x1f;
    return start && (inner === 5 || inner === 7);
  }
  return false;
}

/** Keyframe test by codec mime type ("video/VP8", "video/H264"). */
export function isKeyframe(mimeType: string, payload: Uint8Array): boolean {
  const m = mimeType.toLowerCase();
  if (m === 'video/vp8') return isVp8Keyframe(payload);
  if (m === 'video/h264') return isH264Keyframe(payload);
  return false;
}

/**
 * Frame size from the first packet of a VP8 keyframe (RFC 6386 §9.1: 3-byte frame
 * tag, start code 9d 01 2a, then 14-bit width and height), or undefined.
 */
export function vp8KeyframeSize(payload: Uint8Array): { width: number; height: number } | undefined {
  const d = parseVp8(payload);
  if (!d?.keyframe) return undefined;
  const i = d.headerLength;
  if (payload.length < i + 10) return undefined;
  if (payload[i + 3] !== 0x9d || payload[i + 4] !== 0x01 || payload[i + 5] !== 0x2a) return undefined;
  const width = (payload[i + 6]! | (payload[i + 7]! << 8)) & 0x3fff;
  const height = (payload[i + 8]! | (payload[i + 9]! << 8)) & 0x3fff;
  return { width, height };
}
