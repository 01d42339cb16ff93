/**
 * The RTCRtpSender fields werift declares private that the SFU reads or keeps
 * current. The forwarder writes RTP itself (rtp-writer.ts), bypassing
 * sender.sendRtp, so werift's RTCP loop only sends correct sender reports if
 * something else updates its counters and clock: SenderReportState does.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { RTCRtpSender } from 'werift';

interface SenderInternals {
  headerExtensions: { id: number; uri: string }[];
  mid?: string;
  ssrc: number;
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  rtcpRunning: boolean;
  runRtcp(): Promise<void>;
  /** From the subscriber's receiver reports (werift computes them; undefined before the first). */
  rtt?: number;
  remoteFractionLost?: number;
  // reviveSender:
  trackId: string;
  streamId: string | undefined;
  stopped: boolean;
  rtcpCancel: AbortController;
}

const internals = (sender: RTCRtpSender): SenderInternals => sender as unknown as SenderInternals;

/** The header extensions negotiated for this sender (id and URI). Read per packet: no object is made. */
export function senderExtensions(sender: RTCRtpSender): readonly { id: number; uri: string }[] {
  return internals(sender).headerExtensions;
}

/** The sender's mid (undefined before negotiation). */
export function senderMid(sender: RTCRtpSender): string | undefined {
  return internals(sender).mid;
}

const NTP_EPOCH_OFFSET_S = 2_208_988_800;

/** 64-bit NTP time (32.32) of a Unix time in ms, as werift keeps it for sender reports. */
export function ntpFromUnixMs(ms: number): bigint {
  const seconds = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - seconds * 1000) / 1000) * 2 ** 32);
  return (BigInt(seconds + NTP_EPOCH_OFFSET_S) << 32n) | BigInt(fraction >>> 0);
}

/**
 * werift's sender-report state for a sender whose packets werift does not send:
 * the RTP timestamp, packet and octet counts of the last packet, and the NTP
 * time of it (kept in ms, turned into werift's BigInt only when an SR is built).
 */
export class SenderReportState {
  /** Unix ms of the last packet (not retransmission) sent: the SR's NTP time. */
  lastSentMs = 0;

  constructor(private readonly sender: RTCRtpSender) {
    // werift's RTCP loop reads sender.ntpTimestamp for its SRs: computed from our clock on demand.
    Object.defineProperty(sender, 'ntpTimestamp', {
      configurable: true,
      get: () => ntpFromUnixMs(this.lastSentMs || performance.timeOrigin + performance.now()),
      set: () => undefined,
    });
  }

  /** A packet went out: a retransmission (old timestamp) must not move the NTP/RTP pair. */
  sent(timestamp: number, payloadBytes: number, sentMs: number, retransmission: boolean): void {
    const s = internals(this.sender);
    if (!retransmission) {
      this.lastSentMs = sentMs;
      s.rtpTimestamp = timestamp;
      s.packetCount = (s.packetCount + 1) >>> 0;
      s.octetCount += payloadBytes;
    }
    if (!s.rtcpRunning) void s.runRtcp();
  }
}

/** The subscriber's round-trip time (s) and loss fraction (0..1) from its receiver reports, if any yet. */
export function receiverReport(sender: RTCRtpSender): { rttS: number | undefined; fractionLost: number | undefined } {
  const s = internals(sender);
  return {
    rttS: typeof s.rtt === 'number' && Number.isFinite(s.rtt) ? s.rtt : undefined,
    fractionLost: typeof s.remoteFractionLost === 'number' ? s.remoteFractionLost : undefined,
  };
}

/**
 * Make a sender that removeTrack() stopped send again, as a new stream: a new
 * SSRC (the receiver starts a fresh stream, no sequence jump on the old one), a
 * new track id and the given stream id (msid), fresh SR counters.
 */
export function reviveSender(sender: RTCRtpSender, streamId: string): void {
  const s = internals(sender);
  s.ssrc = randomBytes(4).readUInt32BE(0);
  s.trackId = randomUUID();
  s.streamId = streamId;
  s.stopped = false;
  s.rtcpCancel = new AbortController();
  s.packetCount = 0;
  s.octetCount = 0;
}
