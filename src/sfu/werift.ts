/**
 * The werift surface the SFU uses, in one place: peer-connection settings,
 * codecs and header extensions, and the few RTCP helpers werift lacks.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  ReceiverEstimatedMaxBitrate,
  RtcpPayloadSpecificFeedback,
  RTCRtpCodecParameters,
  useAbsSendTime,
  useFIR,
  useNACK,
  usePLI,
  useREMB,
  useRepairedRtpStreamId,
  useSdesMid,
  useSdesRTPStreamId,
  type RTCPeerConnection,
  type RTCPeerConnectionConfig,
} from 'werift';

export const VP8_PAYLOAD_TYPE = 96;
export const H264_PAYLOAD_TYPE = 102;
export const OPUS_PAYLOAD_TYPE = 111;

// transport-cc is not offered: werift negotiates it but sends no usable feedback, and
// Chromium's send-side estimate then collapses to ~30 kbps. goog-remb is: subscribers'
// receive-side estimates (REMB, computed from abs-send-time) pick their simulcast layer,
// and the SFU sends each publisher a REMB summarizing its subscribers'.
const videoFeedback = () => [useNACK(), usePLI(), useFIR(), useREMB()];

export function videoCodecs(): RTCRtpCodecParameters[] {
  return [
    new RTCRtpCodecParameters({
      mimeType: 'video/VP8',
      clockRate: 90000,
      payloadType: VP8_PAYLOAD_TYPE,
      rtcpFeedback: videoFeedback(),
    }),
    new RTCRtpCodecParameters({
      mimeType: 'video/H264',
      clockRate: 90000,
      payloadType: H264_PAYLOAD_TYPE,
      rtcpFeedback: videoFeedback(),
      parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
    }),
  ];
}

export function audioCodecs(): RTCRtpCodecParameters[] {
  return [
    new RTCRtpCodecParameters({
      mimeType: 'audio/opus',
      clockRate: 48000,
      channels: 2,
      payloadType: OPUS_PAYLOAD_TYPE,
      rtcpFeedback: [],
      parameters: 'minptime=10;useinbandfec=1',
    }),
  ];
}

/**
 * Header extension ids as Chromium numbers them. werift numbers its configured
 * extensions 1, 2, 3... across audio and video, which gives one URI two ids and
 * reuses Chromium's ids for other URIs (abs-send-time on 4, Chromium's
 * transport-cc): Chromium then refuses the server's offer ("RTP extension ID
 * reassignment not supported"). One id per URI, the browser's, avoids that.
 */
const HEADER_EXTENSION_IDS: Record<string, number> = {
  'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time': 2,
  'urn:ietf:params:rtp-hdrext:sdes:mid': 9,
  'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id': 10,
  'urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id': 11,
};

/** Give the extensions `pc` offers on its own m-lines the ids above (call right after constructing it). */
export function pinHeaderExtensionIds(pc: RTCPeerConnection): void {
  const { audio = [], video = [] } = pc.config.headerExtensions;
  for (const ext of [...audio, ...video]) {
    const id = HEADER_EXTENSION_IDS[ext.uri];
    if (id !== undefined) ext.id = id;
  }
}

export interface IceSettings {
  iceServers: { urls: string; username?: string; credential?: string }[];
  /** Only gather candidates on this IPv4 address (e.g. 127.0.0.1 in tests). */
  interfaceAddress?: string;
  portRange?: [number, number];
}

export function peerConfig(ice: IceSettings): RTCPeerConnectionConfig {
  const config: RTCPeerConnectionConfig = {
    codecs: { video: videoCodecs(), audio: audioCodecs() },
    headerExtensions: {
      video: [useSdesMid(), useAbsSendTime(), useSdesRTPStreamId(), useRepairedRtpStreamId()],
      audio: [useSdesMid(), useAbsSendTime()],
    },
    iceServers: ice.iceServers,
    iceUseIpv6: false,
    bundlePolicy: 'max-bundle',
  };
  if (ice.interfaceAddress) {
    // werift's interface filter skips loopback and then falls back to every
    // interface, so turn host discovery off and name the one address instead.
    const only = ice.interfaceAddress;
    config.iceUseIpv4 = false;
    config.iceInterfaceAddresses = { udp4: only };
    config.iceAdditionalHostAddresses = [only];
    if (only.startsWith('127.')) {
      // Loopback only: never answer, check or send to any other address, including
      // peer-reflexive ones learned from incoming checks (those skip the pair filter).
      const loopback = (a: string) => a.startsWith('127.');
      config.iceFilterCandidatePair = (pair) => loopback(pair.remoteCandidate.host) && loopback(pair.localCandidate.host);
      config.iceFilterStunResponse = (_message, addr) => loopback(addr[0]);
    }
  }
  if (ice.portRange) config.icePortRange = ice.portRange;
  return config;
}

/**
 * RTCRtpSender fields that werift declares private but that a forwarder
 * writing RTP itself (bypassing sender.sendRtp) must read or keep current,
 * so that werift's own RTCP loop sends correct sender reports.
 */
export interface SenderInternals {
  headerExtensions: { id: number; uri: string }[];
  mid?: string;
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  rtcpRunning: boolean;
  runRtcp(): Promise<void>;
}

export const senderInternals = (sender: unknown): SenderInternals => sender as SenderInternals;

/** What a stopped werift sender needs reset to carry a new stream on the same m-line. */
interface ReusableSender {
  ssrc: number;
  trackId: string;
  streamId: string | undefined;
  stopped: boolean;
  rtcpCancel: AbortController;
  packetCount: number;
  octetCount: number;
}

/**
 * Make a sender that removeTrack() stopped send again, as a new stream: a new
 * SSRC (the receiver starts a fresh stream, no sequence jump on the old one), a
 * new track id and the given stream id (msid), fresh SR counters.
 */
export function reviveSender(sender: unknown, streamId: string): void {
  const s = sender as ReusableSender;
  s.ssrc = randomBytes(4).readUInt32BE(0);
  s.trackId = randomUUID();
  s.streamId = streamId;
  s.stopped = false;
  s.rtcpCancel = new AbortController();
  s.packetCount = 0;
  s.octetCount = 0;
}

/**
 * werift writes port 0 on every inactive m-line, which in SDP means rejected
 * (stopped for good): the browser would stop the transceiver, and the SFU could
 * never reuse that m-line. An inactive m-line that is not rejected has a real
 * port; 9 (discard) as on the others.
 */
export function unrejectInactive(sdp: string): string {
  const sections = sdp.split(/(?=^m=)/m);
  return sections.map((section) => (section.startsWith('m=') && /^a=inactive\r?$/m.test(section) ? section.replace(/^(m=\w+) 0 /, '$1 9 ') : section)).join('');
}

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
