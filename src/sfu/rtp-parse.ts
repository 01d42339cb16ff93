/**
 * A faster RtpHeader.deSerialize for werift's receive path.
 *
 * werift parses every received RTP header twice (once to find the SRTP payload,
 * once after decryption), each time through a bit-reader helper per field and a
 * constructor that defines fourteen properties one by one: about a tenth of the
 * SFU's busy time in the echo benchmark. This parser reads the same bytes with
 * plain shifts and builds the same object (an RtpHeader with the same fields in
 * the same order), including werift's handling of odd input (extension elements,
 * unknown profiles, truncation errors). test/unit/rtp-parse.test.ts checks it
 * against werift's own parser on random and malformed packets.
 *
 * installFastRtpParser() swaps it in, process-wide, once.
 */
import { RtpHeader } from 'werift';

type Extension = { id: number; payload: Buffer };

/** werift's parser, kept for tests and for comparison. */
export const weriftDeSerialize: (buf: Buffer) => RtpHeader = RtpHeader.deSerialize.bind(RtpHeader);

const ONE_BYTE = 0xbede;
const TWO_BYTE = 0x1000;

export function parseRtpHeader(raw: Buffer): RtpHeader {
  const b0 = raw[0]!;
  const cc = b0 & 0x0f;
  // werift reads the CSRCs (and throws on a short packet) before the fixed fields
  const csrc: number[] = new Array(cc);
  for (let i = 0; i < cc; i++) csrc[i] = raw.readUInt32BE(1 + i * 4);
  const b1 = raw[1]!;
  const h = Object.create(RtpHeader.prototype) as RtpHeader;
  h.version = b0 >> 6;
  h.padding = (b0 & 0x20) !== 0;
  h.paddingSize = 0;
  h.extension = (b0 & 0x10) !== 0;
  h.marker = (b1 & 0x80) !== 0;
  h.payloadOffset = 0;
  h.payloadType = b1 & 0x7f;
  h.sequenceNumber = raw.readUInt16BE(2);
  h.timestamp = raw.readUInt32BE(4);
  h.ssrc = raw.readUInt32BE(8);
  h.csrcLength = cc;
  h.csrc = csrc;
  h.extensionProfile = ONE_BYTE;
  h.extensionLength = undefined;
  h.extensions = [];
  for (let i = 0; i < cc; i++) csrc[i] = raw.readUInt32BE(12 + i * 4);
  let o = 12 + cc * 4;
  if (h.extension) {
    h.extensionProfile = raw.readUInt16BE(o) as RtpHeader['extensionProfile'];
    o += 2;
    const length = raw.readUInt16BE(o) * 4;
    h.extensionLength = length;
    o += 2;
    const extensions: Extension[] = h.extensions;
    if ((h.extensionProfile as number) === ONE_BYTE) {
      const end = o + length;
      while (o < end) {
        const byte = raw[o];
        if (byte === 0x00) {
          o++;
          continue;
        }
        // past the end of the buffer werift reads undefined: id 0, length 1
        const id = (byte ?? 0) >> 4;
        const len = ((byte ?? 0) & 0x0f) + 1;
        o++;
        if (id === 0xf) break;
        extensions.push({ id, payload: raw.subarray(o, o + len) });
        o += len;
      }
    } else if ((h.extensionProfile as number) === TWO_BYTE) {
      const end = o + length;
      while (o < end) {
        if (raw[o] === 0x00) {
          o++;
          continue;
        }
        const id = raw[o]!;
        o++;
        const len = raw[o]!;
        o++;
        extensions.push({ id, payload: raw.subarray(o, o + len) });
        o += len;
      }
    } else {
      const payload = raw.subarray(o, o + length);
      extensions.push({ id: 0, payload });
      o += payload.length;
    }
  }
  h.payloadOffset = o;
  if (h.padding) h.paddingSize = raw[raw.length - 1]!;
  return h;
}

let installed = false;

/** Use parseRtpHeader for every RtpHeader.deSerialize in this process (once). */
export function installFastRtpParser(): void {
  if (installed) return;
  installed = true;
  (RtpHeader as unknown as { deSerialize: (buf: Buffer) => RtpHeader }).deSerialize = parseRtpHeader;
}
