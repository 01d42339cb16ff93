/**
 * werift peer-connection settings: codecs and their RTCP feedback, header
 * extensions (with Chromium's ids), ICE pinned to one address.
 *
 * src/sfu/werift/ is the one place that knows werift's internals: these settings,
 * the SDP fix (sdp.ts), the sender fields the fast path keeps current (sender.ts),
 * the RTP writer (rtp-writer.ts), RTCP packets werift lacks (rtcp.ts) and the
 * STUN/DTLS guard (ice-guard.ts).
 */
import {
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
