/**
 * The forwarding fast path: writes one RTP packet toward one subscriber with no
 * werift objects per packet.
 *
 * werift's own path (sender.sendRtp, or dtlsTransport.sendRtp with an RtpHeader)
 * builds an RtpHeader and its extension objects, reads the clock as a BigInt NTP
 * time, serializes, encrypts, then goes through four async layers (transport,
 * ICE connection, STUN protocol, UDP transport) — a promise each — before the
 * socket. Per forwarded packet this writer instead:
 *  - writes the 12-byte header and the one-byte-form extensions (mid, abs-send-time,
 *    transport-cc) straight into one small Buffer;
 *  - encrypts with the transport's own SRTP context and cipher (werift's crypto,
 *    AES-CM/HMAC or AES-GCM as negotiated; the rollover counter kept by werift);
 *  - hands the datagram to werift's ICE connection (nominated pair).
 * The sender-report clock (NTP time of the last packet) is kept in milliseconds
 * and turned into werift's BigInt only when an SR is built.
 *
 * Anything this writer cannot do (a two-byte extension id, a TURN or TCP pair)
 * falls back to werift's path: `write` returns false.
 */
import type { RTCRtpSender } from 'werift';
import { RTP_EXTENSION_URI } from 'werift';

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
interface CandidatePair {
  remoteAddr: [string, number];
  packetsSent: number;
  bytesSent: number;
  protocol: { transport: { closed?: boolean; socket?: { send(b: Buffer, port: number, host: string): void } } };
}
interface IceConnection {
  nominated?: CandidatePair;
  canSendApplicationData(): boolean;
  send(data: Buffer): Promise<void>;
}
interface DtlsInternals {
  state: string;
  srtp: { localContext: SrtpContext };
  iceTransport: { connection: IceConnection };
  bytesSent: number;
  packetsSent: number;
}

/** Milliseconds since the Unix epoch, sub-millisecond. */
const nowMs = () => performance.timeOrigin + performance.now();
const NTP_EPOCH_OFFSET_S = 2_208_988_800;

/** 64-bit NTP time (32.32) of a Unix time in ms, as werift keeps it for sender reports. */
export function ntpFromUnixMs(ms: number): bigint {
  const seconds = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - seconds * 1000) / 1000) * 2 ** 32);
  return (BigInt(seconds + NTP_EPOCH_OFFSET_S) << 32n) | BigInt(fraction >>> 0);
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

export class RtpWriter {
  /** Unix ms of the last (non-retransmitted) packet sent: the SR's NTP time. Set by the caller. */
  lastSentMs = 0;
  private readonly headerLike: HeaderLike & { buf: Buffer };

  constructor(private readonly sender: RTCRtpSender) {
    const buf = Buffer.alloc(0);
    this.headerLike = { ssrc: 0, sequenceNumber: 0, serializeSize: 0, buf, serialize: () => this.headerLike.buf };
    // werift's RTCP loop reads sender.ntpTimestamp for its SRs: computed from our clock on demand.
    Object.defineProperty(sender, 'ntpTimestamp', {
      configurable: true,
      get: () => ntpFromUnixMs(this.lastSentMs || nowMs()),
      set: () => undefined,
    });
  }

  /** The RTP header with this sender's extensions, as bytes. Exported for tests through `header()`. */
  header(f: RtpFields, sentMs: number, padding: boolean): Buffer | null {
    const internals = this.sender as unknown as { headerExtensions: { id: number; uri: string }[]; mid?: string };
    const dtls = this.sender.dtlsTransport as unknown as { transportSequenceNumber: number };
    let extLen = 0;
    const mid = internals.mid;
    for (const ext of internals.headerExtensions) {
      if (ext.id < 1 || ext.id > 14) return null; // two-byte form: werift's path
      if (ext.uri === RTP_EXTENSION_URI.sdesMid && mid) {
        if (mid.length > 16) return null;
        extLen += 1 + mid.length;
      } else if (ext.uri === RTP_EXTENSION_URI.absSendTime) extLen += 4;
      else if (ext.uri === RTP_EXTENSION_URI.transportWideCC) extLen += 3;
    }
    const extWords = Math.ceil(extLen / 4);
    const size = 12 + (extLen > 0 ? 4 + extWords * 4 : 0);
    const b = Buffer.alloc(size);
    b[0] = 0x80 | (padding ? 0x20 : 0) | (extLen > 0 ? 0x10 : 0);
    b[1] = (f.marker ? 0x80 : 0) | (f.payloadType & 0x7f);
    b.writeUInt16BE(f.seq & 0xffff, 2);
    b.writeUInt32BE(f.timestamp >>> 0, 4);
    b.writeUInt32BE(f.ssrc >>> 0, 8);
    if (extLen === 0) return b;
    b.writeUInt16BE(0xbede, 12);
    b.writeUInt16BE(extWords, 14);
    let o = 16;
    for (const ext of internals.headerExtensions) {
      if (ext.uri === RTP_EXTENSION_URI.sdesMid && mid) {
        b[o++] = (ext.id << 4) | (mid.length - 1);
        o += b.write(mid, o, 'latin1');
      } else if (ext.uri === RTP_EXTENSION_URI.absSendTime) {
        b[o++] = (ext.id << 4) | 2;
        b.writeUIntBE(absSendTime(sentMs), o, 3);
        o += 3;
      } else if (ext.uri === RTP_EXTENSION_URI.transportWideCC) {
        dtls.transportSequenceNumber = (dtls.transportSequenceNumber + 1) & 0xffff;
        b[o++] = (ext.id << 4) | 1;
        b.writeUInt16BE(dtls.transportSequenceNumber, o);
        o += 2;
      }
    }
    return b; // the rest is zero: padding of the extension block
  }

  /**
   * Encrypt and send. Returns the bytes sent, or -1 when this writer cannot
   * (the caller falls back to werift's path), 0 when the transport is not up.
   */
  write(f: RtpFields, payload: Buffer, sentMs: number = nowMs()): number {
    const dtls = this.sender.dtlsTransport as unknown as DtlsInternals | undefined;
    if (!dtls || dtls.state !== 'connected') return 0;
    const connection = dtls.iceTransport.connection;
    const pair = connection.nominated;
    const socket = pair?.protocol.transport.socket;
    // UDP pairs only (TURN and TCP relay through other transports): werift's path for those.
    if (!pair || !socket || typeof socket.send !== 'function') return -1;
    const header = this.header(f, sentMs, false);
    if (!header) return -1;
    if (!connection.canSendApplicationData() || pair.protocol.transport.closed) return 0;
    const context = dtls.srtp.localContext;
    const state = context.getSrtpSsrcState(f.ssrc);
    context.updateRolloverCount(f.seq, state);
    const h = this.headerLike;
    h.ssrc = f.ssrc;
    h.sequenceNumber = f.seq;
    h.buf = header;
    h.serializeSize = header.length;
    const datagram = context.cipher.encryptRtp(h, payload, state.rolloverCounter);
    // Through werift's ICE connection (one promise chain per packet, it counts the pair's
    // stats). Writing on the pair's socket directly saved a little more CPU, but the room
    // test in Chromium then stalled decoding in about one run of three (not understood yet;
    // see docs/BENCHMARKS.md), so this stays on werift's path.
    void connection.send(datagram).catch(() => undefined);
    dtls.packetsSent++;
    dtls.bytesSent += datagram.length;
    return datagram.length;
  }
}
