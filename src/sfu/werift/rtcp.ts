import { ReceiverEstimatedMaxBitrate, RtcpPayloadSpecificFeedback } from 'werift';

/** RTCP payload-specific feedback formats (RFC 4585 / 5104). */
export const PSFB_PLI = 1;
export const PSFB_FIR = 4;
export const PSFB_REMB = 15;

/** A REMB packet (draft-alvestrand-rmcat-remb) saying `bitrate` bps for `ssrcs`. */
export function rembPacket(senderSsrc: number, bitrate: number, ssrcs: number[]): RtcpPayloadSpecificFeedback {
  let exp = 0;
  let mantissa = Math.max(0, Math.floor(bitrate));
  while (mantissa >= 1 << 18) {
    mantissa = Math.floor(mantissa / 2);
    exp++;
  }
  const remb = new ReceiverEstimatedMaxBitrate({
    senderSsrc,
    mediaSsrc: 0,
    ssrcNum: ssrcs.length,
    brExp: exp,
    brMantissa: mantissa,
    bitrate: BigInt(mantissa) << BigInt(exp),
    ssrcFeedbacks: ssrcs,
  });
  return new RtcpPayloadSpecificFeedback({ feedback: remb });
}
