/**
 * The werift surface the SFU uses, in one place: peer-connection settings,
 * codecs and header extensions, and the few RTCP helpers werift lacks.
 */
import {
  RTCRtpCodecParameters,
  useAbsSendTime,
  useFIR,
  useNACK,
  usePLI,
  useRepairedRtpStreamId,
  useSdesMid,
  useSdesRTPStreamId,
  type RTCPeerConnectionConfig,
} from 'werift';

export const VP8_PAYLOAD_TYPE = 96;
export const H264_PAYLOAD_TYPE = 102;
export const OPUS_PAYLOAD_TYPE = 111;

// transport-cc is not offered yet: werift negotiates it but sends no usable feedback,
// and Chromium's send-side estimate then collapses to ~30 kbps. Nor is goog-remb:
// werift never sends REMB. Loss-based control from receiver reports keeps the
// browser near its target bitrate instead.
const videoFeedback = () => [useNACK(), usePLI(), useFIR()];

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

/** RTCP payload-specific feedback formats (RFC 4585 / 5104). */
export const PSFB_PLI = 1;
export const PSFB_FIR = 4;
