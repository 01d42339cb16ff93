/**
 * The browser's RTCPeerConnection to the SFU: publishes one video track (one
 * encoding or the simulcast layers; more tracks with addTrack()) and receives
 * what the SFU sends back (the echo page's echo, or the others' tracks on the
 * m-lines the server adds), plus the `facecast` data channel.
 *
 * Perfect negotiation with the browser as the POLITE peer (it rolls back its own
 * offer on glare): the browser offers on negotiationneeded; the server may offer
 * too. ICE is trickled both ways; remote candidates that come before any remote
 * description are held. Session (session.ts) feeds it the server's messages.
 */
import { DATA_CHANNEL_LABEL } from '../../src/protocol/detections.js';
import type { ClientMessage, IceCandidate, ServerMessage } from '../../src/protocol/messages.js';

type NegotiationMessage = Extract<ServerMessage, { type: 'offer' | 'answer' | 'ice' }>;

export interface PublisherOptions {
  track: MediaStreamTrack;
  stream: MediaStream;
  send(msg: ClientMessage): void;
  /** No STUN/TURN by default: everything is on one host / LAN. */
  iceServers?: RTCIceServer[];
  /** 'relay': only through the TURN servers in iceServers (default 'all'). */
  iceTransportPolicy?: RTCIceTransportPolicy;
  /** Preferred codec, e.g. 'video/VP8'. */
  preferredCodec?: string;
  /**
   * Direction of the published video's transceiver (default sendrecv: the echo
   * page; the room page sends only, everything it receives comes on m-lines the
   * server adds).
   */
  direction?: 'sendrecv' | 'sendonly';
  /**
   * Publish simulcast layers (rid q/h/f at 1/4, 1/2 and full size) instead of
   * one encoding. The SFU picks a layer per subscriber.
   */
  simulcast?: boolean;
  /** A remote track arrived (`ev.streams[0]`, or a new stream when it has none). */
  onTrack?(stream: MediaStream, track: MediaStreamTrack, transceiver: RTCRtpTransceiver): void;
  onConnectionState?(state: RTCPeerConnectionState): void;
  onError?(context: string, err: unknown): void;
  /** A message on the `facecast` data channel (FacesDown from the SFU). */
  onData?(data: unknown): void;
  /** The `facecast` data channel opened or closed. */
  onDataState?(state: RTCDataChannelState): void;
}

/** The simulcast layers, low to high (the SFU orders them by rid, then by measured size). */
export const SIMULCAST_ENCODINGS: RTCRtpEncodingParameters[] = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000, maxFramerate: 30 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000, maxFramerate: 30 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000, maxFramerate: 30 },
];

export class Publisher {
  readonly pc: RTCPeerConnection;
  readonly transceiver: RTCRtpTransceiver;
  /**
   * The `facecast` data channel (metadata overlay mode), created before the
   * first offer so that the offer carries the SCTP section. If the SFU opens a
   * channel with the same label, that one replaces it for receiving.
   */
  channel: RTCDataChannel;
  private makingOffer = false;
  private ignoreOffer = false;
  private isSettingRemoteAnswerPending = false;
  private readonly polite = true;
  /** Remote candidates that arrived before any remote description (the server may trickle first). */
  private pendingCandidates: (RTCIceCandidateInit | null)[] = [];
  /** Incoming signaling is applied strictly in order. */
  private queue: Promise<void> = Promise.resolve();
  /** Layer changes (dynacast) are applied in order too. */
  private layersQueue: Promise<void> = Promise.resolve();

  constructor(private readonly opts: PublisherOptions) {
    const pc = new RTCPeerConnection({ iceServers: opts.iceServers ?? [], iceTransportPolicy: opts.iceTransportPolicy ?? 'all', bundlePolicy: 'max-bundle' });
    this.pc = pc;

    if ('contentHint' in opts.track) opts.track.contentHint = 'motion';
    this.transceiver = pc.addTransceiver(opts.track, {
      direction: opts.direction ?? 'sendrecv',
      streams: [opts.stream],
      sendEncodings: opts.simulcast ? SIMULCAST_ENCODINGS : [{ maxFramerate: 30 }],
    });
    preferCodec(this.transceiver, opts.preferredCodec ?? 'video/VP8');
    void maintainFramerate(this.transceiver.sender);
    this.channel = this.wireChannel(pc.createDataChannel(DATA_CHANNEL_LABEL, { ordered: true }));
    pc.ondatachannel = (ev) => {
      if (ev.channel.label !== DATA_CHANNEL_LABEL) return;
      this.wireChannel(ev.channel);
      if (this.channel.readyState !== 'open') this.channel = ev.channel;
    };

    pc.onnegotiationneeded = () => void this.makeOffer();
    pc.onicecandidate = ({ candidate }) => {
      if (!candidate || !candidate.candidate) {
        this.opts.send({ type: 'ice', candidate: null });
        return;
      }
      const c = candidate.toJSON();
      this.opts.send({
        type: 'ice',
        candidate: {
          candidate: c.candidate ?? candidate.candidate,
          sdpMid: c.sdpMid ?? null,
          sdpMLineIndex: c.sdpMLineIndex ?? null,
          usernameFragment: c.usernameFragment ?? null,
        },
      });
    };
    pc.onicecandidateerror = (ev) => {
      const e = ev as RTCPeerConnectionIceErrorEvent;
      console.debug('facecast: ice candidate error', e.url, e.errorCode, e.errorText);
    };
    pc.ontrack = (ev) => {
      const stream = ev.streams[0] ?? new MediaStream([ev.track]);
      this.opts.onTrack?.(stream, ev.track, ev.transceiver);
    };
    pc.onconnectionstatechange = () => this.opts.onConnectionState?.(pc.connectionState);
  }

  private wireChannel(ch: RTCDataChannel): RTCDataChannel {
    ch.onmessage = (ev: MessageEvent) => this.opts.onData?.(ev.data);
    ch.onopen = () => this.opts.onDataState?.(ch.readyState);
    ch.onclose = () => this.opts.onDataState?.(ch.readyState);
    return ch;
  }

  /** Feed an offer/answer/ice message from the server. */
  handle(msg: NegotiationMessage): Promise<void> {
    this.queue = this.queue.then(() => this.apply(msg)).catch((err) => this.opts.onError?.(msg.type, err));
    return this.queue;
  }

  /**
   * Dynacast (the server's `layers` message): of the video on m-line `mid`, send only the
   * encodings whose rid is in `active` ('' for a track without simulcast); the others are
   * turned off (`encodings[i].active = false`) until the server wants them again.
   */
  setActiveLayers(mid: string, active: readonly string[]): Promise<void> {
    this.layersQueue = this.layersQueue
      .then(async () => {
        const sender = this.pc.getTransceivers().find((t) => t.mid === mid)?.sender;
        if (!sender || sender.track?.kind !== 'video' || this.pc.signalingState === 'closed') return;
        const params = sender.getParameters();
        let changed = false;
        for (const e of params.encodings ?? []) {
          const on = active.includes(e.rid ?? '');
          if (e.active !== on) {
            e.active = on;
            changed = true;
          }
        }
        if (changed) await sender.setParameters(params);
      })
      .catch((err) => this.opts.onError?.('layers', err));
    return this.layersQueue;
  }

  /**
   * Also send `track` (e.g. the microphone), sendonly in the published stream.
   * negotiationneeded then offers again (glare is handled as for the first offer).
   */
  addTrack(track: MediaStreamTrack): RTCRtpTransceiver {
    return this.pc.addTransceiver(track, { direction: 'sendonly', streams: [this.opts.stream] });
  }

  close(): void {
    this.pc.close();
  }

  private async addCandidate(init: RTCIceCandidateInit | null): Promise<void> {
    try {
      if (init === null) await this.pc.addIceCandidate();
      else await this.pc.addIceCandidate(init);
    } catch (err) {
      if (!this.ignoreOffer) throw err;
    }
  }

  private async makeOffer(): Promise<void> {
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      const sdp = this.pc.localDescription?.sdp;
      if (sdp && this.pc.localDescription?.type === 'offer') this.opts.send({ type: 'offer', sdp });
    } catch (err) {
      this.opts.onError?.('offer', err);
    } finally {
      this.makingOffer = false;
    }
  }

  private async apply(msg: NegotiationMessage): Promise<void> {
    const pc = this.pc;
    if (pc.signalingState === 'closed') return;
    if (msg.type === 'ice') {
      const init = msg.candidate === null ? null : toCandidateInit(msg.candidate);
      if (!pc.remoteDescription) this.pendingCandidates.push(init);
      else await this.addCandidate(init);
      return;
    }
    const description: RTCSessionDescriptionInit = { type: msg.type, sdp: msg.sdp };
    const readyForOffer = !this.makingOffer && (pc.signalingState === 'stable' || this.isSettingRemoteAnswerPending);
    const offerCollision = description.type === 'offer' && !readyForOffer;
    this.ignoreOffer = !this.polite && offerCollision;
    if (this.ignoreOffer) return;
    if (description.type === 'answer' && pc.signalingState !== 'have-local-offer') {
      // An answer to an offer we already rolled back (glare): nothing to apply.
      console.debug('facecast: ignoring answer in state', pc.signalingState);
      return;
    }
    this.isSettingRemoteAnswerPending = description.type === 'answer';
    try {
      await pc.setRemoteDescription(description); // rolls back our own offer on glare
    } finally {
      this.isSettingRemoteAnswerPending = false;
    }
    for (const c of this.pendingCandidates.splice(0)) await this.addCandidate(c);
    if (description.type === 'offer') {
      await pc.setLocalDescription();
      const sdp = pc.localDescription?.sdp;
      if (sdp) this.opts.send({ type: 'answer', sdp });
    }
  }
}

function toCandidateInit(c: IceCandidate): RTCIceCandidateInit {
  return {
    candidate: c.candidate,
    sdpMid: c.sdpMid ?? null,
    sdpMLineIndex: c.sdpMLineIndex ?? null,
    usernameFragment: c.usernameFragment ?? null,
  };
}

/** Put `mimeType` first in the transceiver's codec list (keeping the rest, e.g. RTX). */
function preferCodec(transceiver: RTCRtpTransceiver, mimeType: string): void {
  if (typeof transceiver.setCodecPreferences !== 'function') return;
  const caps = RTCRtpReceiver.getCapabilities?.('video');
  if (!caps) return;
  const want = mimeType.toLowerCase();
  const first = caps.codecs.filter((c) => c.mimeType.toLowerCase() === want);
  if (!first.length) return;
  const rest = caps.codecs.filter((c) => c.mimeType.toLowerCase() !== want);
  try {
    transceiver.setCodecPreferences([...first, ...rest]);
  } catch (err) {
    console.warn('facecast: setCodecPreferences failed', err);
  }
}

/** Under bandwidth/CPU pressure, lower resolution rather than frame rate. */
async function maintainFramerate(sender: RTCRtpSender): Promise<void> {
  try {
    const params = sender.getParameters() as RTCRtpSendParameters & { degradationPreference?: string };
    params.degradationPreference = 'maintain-framerate';
    await sender.setParameters(params);
  } catch (err) {
    console.debug('facecast: degradationPreference not applied', err);
  }
}
