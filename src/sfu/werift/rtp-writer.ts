/**
 * The one RTP writer toward a subscriber: every forwarded packet and every
 * retransmission goes out here, with no werift objects per packet.
 *
 * werift's own path (sender.sendRtp, or dtlsTransport.sendRtp with an RtpHeader)
 * builds an RtpHeader and its extension objects, reads the clock as a BigInt NTP
 * time, serializes, encrypts, then goes through four async layers (transport,
 * ICE connection, STUN protocol, UDP transport) before the socket. Per packet
 * this writer instead:
 *  - writes the 12-byte header and the extensions (mid, abs-send-time,
 *    transport-cc; RFC 8285's one-byte form, the two-byte form when an id is
 *    over 14 or the mid over 16 bytes) and RTP padding straight into Buffers;
 *  - encrypts with the transport's own SRTP context and cipher (werift's crypto,
 *    AES-CM/HMAC or AES-GCM as negotiated; the rollover counter kept by werift);
 *  - hands the datagram to werift's ICE connection (the nominated pair, UDP or TURN);
 *  - keeps werift's sender-report state current (sender.ts).
 */
import type { RTCRtpSender } from 'werift';
import { RTP_EXTENSION_URI } from 'werift';
import { SenderReportState, senderExtensions, senderMid } from './sender.js';

export { ntpFromUnixMs } from './sender.js';

/** werift internals the writer reads (not in werift's public types). */
interface SrtpState {
  rolloverCounter: number;
}
interface SrtpContext {
  getSrtpSsrcState(ssrc: number): SrtpState;
  updateRolloverCount(seq: number, s: SrtpState): void;
  cipher: { encryptRtp(header: HeaderLike, payload: Buffer, roc: number): Buffer };
}
interface HeaderLike {
  ssrc: number;
  sequenceNumber: number;
  serializeSize: number;
  serialize(size: number): Buffer;
}
interface IceConnection {
  nominated?: unknown;
  canSendApplicationData(): boolean;
  send(data: Buffer): Promise<void>;
}
interface DtlsInternals {
  state: string;
  srtp: { localContext: SrtpContext };
  iceTransport: { connection: IceConnection };
  transportSequenceNumber: number;
  bytesSent: number;
  packetsSent: number;
}

/** abs-send-time (6.18 fixed-point seconds, 24 bits) of a Unix time in ms: NTP's offset is a multiple of 64 s. */
export function absSendTime(ms: number): number {
  // As (ntp >> 14) & 0xffffff with ntp from ntpFromUnixMs, without the BigInt.
  const seconds = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - seconds * 1000) / 1000) * 2 ** 32) >>> 0;
  return ((seconds % 64) * 262_144 + (fraction >>> 14)) & 0xffffff;
}

export interface RtpFields {
  ssrc: number;
  payloadType: number;
  seq: number;
  timestamp: number;
  marker: boolean;
}

/** The parts of a header that stay the same from packet to packet, for one set of extensions and mid. */
interface Layout {
  extensions: readonly { id: number; uri: string }[];
  mid: string | undefined;
  /** The header with its extension block filled in (ids, lengths, mid); seq, timestamp, SSRC, times left to write. */
  template: Buffer;
  /** Where abs-send-time's 3 bytes and transport-cc's 2 bytes go (-1: not negotiated). */
  absAt: number;
  twccAt: number;
}

/** Lay out the extension block once (RFC 8285 one-byte form, two-byte when an id is over 14 or the mid over 16 bytes). */
function layout(extensions: readonly { id: number; uri: string }[], mid: string | undefined): Layout {
  let oneByte = true;
  let count = 0;
  let dataLen = 0;
  const lengthOf = (uri: string) =>
    uri === RTP_EXTENSION_URI.sdesMid
      ? mid
        ? Buffer.byteLength(mid, 'latin1')
        : 0
      : uri === RTP_EXTENSION_URI.absSendTime
        ? 3
        : uri === RTP_EXTENSION_URI.transportWideCC
          ? 2
          : 0;
  for (const ext of extensions) {
    const len = lengthOf(ext.uri);
    if (len === 0) continue;
    if (ext.id < 1 || ext.id > 14 || len > 16) oneByte = false;
    count++;
    dataLen += len;
  }
  const extLen = count === 0 ? 0 : dataLen + count * (oneByte ? 1 : 2);
  const extWords = Math.ceil(extLen / 4);
  const template = Buffer.alloc(12 + (extLen > 0 ? 4 + extWords * 4 : 0));
  template[0] = 0x80 | (extLen > 0 ? 0x10 : 0);
  let absAt = -1;
  let twccAt = -1;
  if (extLen > 0) {
    template.writeUInt16BE(oneByte ? 0xbede : 0x1000, 12);
    template.writeUInt16BE(extWords, 14);
    let o = 16;
    for (const ext of extensions) {
      const len = lengthOf(ext.uri);
      if (len === 0) continue;
      if (oneByte) template[o++] = (ext.id << 4) | (len - 1);
      else {
        template[o++] = ext.id;
        template[o++] = len;
      }
      if (ext.uri === RTP_EXTENSION_URI.sdesMid) template.write(mid!, o, 'latin1');
      else if (ext.uri === RTP_EXTENSION_URI.absSendTime) absAt = o;
      else twccAt = o;
      o += len;
    } // the rest is zero: padding of the extension block
  }
  return { extensions, mid, template, absAt, twccAt };
}

export class RtpWriter {
  private readonly reports: SenderReportState;
  private readonly headerLike: HeaderLike & { buf: Buffer };
  private cached: Layout | undefined;

  constructor(private readonly sender: RTCRtpSender) {
    this.reports = new SenderReportState(sender);
    const buf = Buffer.alloc(0);
    this.headerLike = { ssrc: 0, sequenceNumber: 0, serializeSize: 0, buf, serialize: () => this.headerLike.buf };
  }

  /** Unix ms of the last packet sent (not a retransmission): the sender reports' NTP time. */
  get lastSentMs(): number {
    return this.reports.lastSentMs;
  }

  /** The RTP header with this sender's extensions, as bytes (advances the transport-cc sequence when negotiated). */
  header(f: RtpFields, sentMs: number, padding = false): Buffer {
    return this.headerOf(f.ssrc, f.payloadType, f.seq, f.timestamp, f.marker, sentMs, padding);
  }

  private headerOf(ssrc: number, payloadType: number, seq: number, timestamp: number, marker: boolean, sentMs: number, padding: boolean): Buffer {
    const extensions = senderExtensions(this.sender);
    const mid = senderMid(this.sender);
    let l = this.cached;
    // Renegotiation can change the extensions or the mid: the layout follows (compared by identity).
    if (!l || l.extensions !== extensions || l.mid !== mid) l = this.cached = layout(extensions, mid);
    const b = Buffer.allocUnsafe(l.template.length);
    l.template.copy(b);
    if (padding) b[0] = l.template[0]! | 0x20;
    b[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
    b.writeUInt16BE(seq & 0xffff, 2);
    b.writeUInt32BE(timestamp >>> 0, 4);
    b.writeUInt32BE(ssrc >>> 0, 8);
    if (l.absAt >= 0) b.writeUIntBE(absSendTime(sentMs), l.absAt, 3);
    if (l.twccAt >= 0) {
      const dtls = this.sender.dtlsTransport as unknown as { transportSequenceNumber: number };
      dtls.transportSequenceNumber = (dtls.transportSequenceNumber + 1) & 0xffff;
      b.writeUInt16BE(dtls.transportSequenceNumber, l.twccAt);
    }
    return b;
  }

  /**
   * Encrypt and send one packet with this sender's SSRC and payload type. `paddingSize`: RTP
   * padding bytes to append (the source packet's); `retransmission`: a NACKed packet sent
   * again (it does not move the sender-report clock); `at`: performance.now() if the caller
   * already read it. Returns the bytes sent, 0 when the transport is not up (or consent expired).
   */
  write(seq: number, timestamp: number, marker: boolean, payload: Buffer, paddingSize = 0, retransmission = false, at = performance.now()): number {
    const sender = this.sender;
    const dtls = sender.dtlsTransport as unknown as DtlsInternals | undefined;
    const codec = sender.codec;
    if (dtls?.state !== 'connected' || !codec) return 0;
    const connection = dtls.iceTransport.connection;
    if (!connection.nominated || !connection.canSendApplicationData()) return 0;
    const sentMs = performance.timeOrigin + at;
    const ssrc = sender.ssrc;
    const header = this.headerOf(ssrc, codec.payloadType, seq, timestamp, marker, sentMs, paddingSize > 0);
    let body = payload;
    if (paddingSize > 0) {
      // RFC 3550 §5.1: padding at the end of the payload, its last byte the count.
      body = Buffer.alloc(payload.length + paddingSize);
      payload.copy(body);
      body[body.length - 1] = paddingSize;
    }
    const context = dtls.srtp.localContext;
    const state = context.getSrtpSsrcState(ssrc);
    context.updateRolloverCount(seq, state);
    const h = this.headerLike;
    h.ssrc = ssrc;
    h.sequenceNumber = seq;
    h.buf = header;
    h.serializeSize = header.length;
    const datagram = context.cipher.encryptRtp(h, body, state.rolloverCounter);
    // Through werift's ICE connection (one promise chain per packet, it counts the pair's
    // stats; TURN pairs relay there too). Writing on the pair's socket directly saved a
    // little more CPU, but the room test in Chromium then stalled decoding in about one
    // run of three (not understood yet; see docs/BENCHMARKS.md), so this stays on werift's path.
    void connection.send(datagram).catch(() => undefined);
    dtls.packetsSent++;
    dtls.bytesSent += datagram.length;
    this.reports.sent(timestamp, payload.length, sentMs, retransmission);
    return datagram.length;
  }
}
