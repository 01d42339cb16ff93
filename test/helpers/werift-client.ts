/**
 * A werift peer that talks to the server over the real signaling WebSocket,
 * publishing one video track and receiving the echo. 127.0.0.1 only.
 */
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  useAbsSendTime,
  useNACK,
  usePLI,
  useSdesMid,
  useSdesRTPStreamId,
  type RTCIceCandidate,
  type RTCRtpTransceiver,
  type RtpPacket,
} from 'werift';
import WebSocket from 'ws';
import { pinHeaderExtensionIds } from '../../src/sfu/werift/config.js';
import { ServerMessage } from '../../src/protocol/messages.js';
import { waitFor } from './server.js';

export class TestClient {
  readonly pc: RTCPeerConnection;
  readonly ws: WebSocket;
  readonly received: RtpPacket[] = [];
  readonly messages: ServerMessage[] = [];
  readonly local = new MediaStreamTrack({ kind: 'video' });
  transceiver!: RTCRtpTransceiver;
  peerId = '';
  pliReceived = 0;
  /** performance.now() of each PLI received. */
  readonly pliTimes: number[] = [];
  readonly pliListeners: (() => void)[] = [];
  readonly opened: Promise<void>;

  /** `keep: false`: do not store received packets (load generators count them elsewhere). */
  constructor(url: string, opts: { keep?: boolean; token?: string } = {}) {
    this.pc = new RTCPeerConnection({
      codecs: {
        video: [new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96, rtcpFeedback: [useNACK(), usePLI()] })],
      },
      headerExtensions: { video: [useSdesMid(), useAbsSendTime(), useSdesRTPStreamId()] },
      iceServers: [],
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceInterfaceAddresses: { udp4: '127.0.0.1' },
      iceAdditionalHostAddresses: ['127.0.0.1'],
      iceFilterCandidatePair: (pair) => pair.remoteCandidate.host.startsWith('127.'),
    });
    // The ids Chromium uses, as the server does: one id per URI across the bundle.
    pinHeaderExtensionIds(this.pc);
    this.ws = new WebSocket(url.replace(/^http/, 'ws') + '/ws' + (opts.token ? `?token=${encodeURIComponent(opts.token)}` : ''));
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    // One message at a time, in order (an offer may follow the answer to ours at once).
    this.ws.on('message', (data) => {
      this.inbox = this.inbox.then(() => (this.closed ? undefined : this.onMessage(JSON.parse(String(data)))));
    });
    this.pc.onIceCandidate.subscribe((c) => {
      if (this.ws.readyState !== WebSocket.OPEN) return;
      // werift gathers during setLocalDescription: candidates go after the offer or answer, as a browser sends them.
      if (!this.describedOnce) {
        this.heldCandidates.push(c);
        return;
      }
      this.sendCandidate(c);
    });
    this.pc.onTrack.subscribe((track) => {
      if (opts.keep !== false) track.onReceiveRtp.subscribe((rtp) => this.received.push(rtp.clone()));
    });
  }

  /** Local candidates gathered before our first offer or answer went out. */
  private readonly heldCandidates: (RTCIceCandidate | undefined)[] = [];
  private describedOnce = false;

  private sendCandidate(c: RTCIceCandidate | undefined): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const json = c?.toJSON();
    this.ws.send(JSON.stringify({ type: 'ice', candidate: json ? { candidate: json.candidate, sdpMid: json.sdpMid, sdpMLineIndex: json.sdpMLineIndex } : null }));
  }

  /** Our offer or answer went out: the candidates held back follow it. */
  private described(): void {
    if (this.describedOnce) return;
    this.describedOnce = true;
    for (const c of this.heldCandidates.splice(0)) this.sendCandidate(c);
  }

  /** Open the socket, offer video (sendrecv, or recvonly for a viewer), wait until connected. */
  async connect(direction: 'sendrecv' | 'recvonly' = 'sendrecv'): Promise<void> {
    await this.opened;
    this.transceiver = direction === 'sendrecv' ? this.pc.addTransceiver(this.local, { direction }) : this.pc.addTransceiver('video', { direction });
    await this.offerAndConnect();
  }

  /** Offer what the peer connection has now; wait until connected. */
  async offerAndConnect(): Promise<void> {
    // werift gives every m-line its own ICE transport until BUNDLE is negotiated, and pc.close()
    // then leaves the orphaned ones' UDP sockets open: keep them all to stop in close().
    for (const t of this.pc.getTransceivers()) {
      const ice = t.sender.dtlsTransport?.iceTransport;
      if (ice) this.iceTransports.add(ice);
    }
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    this.watchPli();
    this.send({ type: 'offer', sdp: this.pc.localDescription!.sdp });
    this.described();
    await waitFor(() => this.pc.connectionState === 'connected', 10_000, 'client connected');
  }

  /** Messages received on the `facecast` data channel. */
  readonly dataMessages: unknown[] = [];
  dataChannel: ReturnType<RTCPeerConnection['createDataChannel']> | undefined;
  private orphanIce: { stop(): Promise<void> } | undefined;
  /** Every ICE transport the m-lines had before bundling (see offerAndConnect). */
  private readonly iceTransports = new Set<{ stop(): Promise<void> }>();

  /** Open the `facecast` data channel (call before connect/subscribeOnly so the offer carries it). */
  openDataChannel(): void {
    this.dataChannel = this.pc.createDataChannel('facecast');
    this.orphanIce = this.pc.sctpTransport?.dtlsTransport.iceTransport;
    this.dataChannel.onMessage.subscribe((data) => this.dataMessages.push(JSON.parse(String(data))));
  }

  /** Join a room (before connecting). */
  async join(room: string, name?: string, echo?: boolean): Promise<void> {
    await this.opened;
    this.send({ type: 'join', room, name, echo });
    await this.nextMessage((m) => m.type === 'joined' || m.type === 'error');
    const last = this.messages.at(-1)!;
    if (last.type === 'error') throw new Error(`join refused: ${last.code}: ${last.message}`);
  }

  /** Receive only: ask the server to offer what the room has; wait until connected. */
  async subscribeOnly(): Promise<void> {
    await this.opened;
    this.send({ type: 'negotiate' });
    await waitFor(() => this.pc.connectionState === 'connected', 10_000, 'subscriber connected');
  }

  /** Packets received per remote SSRC. */
  bySsrc(): Map<number, RtpPacket[]> {
    const out = new Map<number, RtpPacket[]>();
    for (const p of this.received) {
      const list = out.get(p.header.ssrc) ?? [];
      list.push(p);
      out.set(p.header.ssrc, list);
    }
    return out;
  }

  /** Ask the server to offer; answer it with our track; wait until connected. */
  async acceptServerOffer(): Promise<void> {
    await this.opened;
    const { unSubscribe } = this.pc.onTransceiverAdded.subscribe((t) => {
      if (t.kind !== 'video') return;
      unSubscribe(); // publish on the first video m-line only; later ones carry the echo
      this.transceiver = t;
      t.setDirection('sendrecv');
      void t.sender.replaceTrack(this.local);
    });
    this.send({ type: 'negotiate' });
    await waitFor(() => this.pc.connectionState === 'connected', 10_000, 'client connected');
    this.watchPli();
  }

  private watchPli(): void {
    // Count PLIs for our sender at the transport (werift's router misroutes PSFB on sendrecv).
    this.pc.dtlsTransports[0]!.onRtcp.subscribe((packet) => {
      const fb = (packet as { feedback?: { count?: number; mediaSsrc?: number } }).feedback;
      if (packet.type === 206 && fb?.count === 1 && fb.mediaSsrc === this.transceiver.sender.ssrc) {
        this.pliReceived++;
        this.pliTimes.push(performance.now());
        for (const listener of this.pliListeners) listener();
      }
    });
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Send one RTP packet from the published track. */
  sendRtp(packet: RtpPacket): void {
    this.local.writeRtp(packet);
  }

  nextMessage(predicate: (m: ServerMessage) => boolean, timeoutMs = 5000, from = this.messages.length): Promise<ServerMessage> {
    return waitFor(() => this.messages.slice(from).find(predicate), timeoutMs, 'a server message');
  }

  /** Incoming signaling, applied in order. */
  private inbox: Promise<void> = Promise.resolve();
  private closed = false;

  async close(): Promise<void> {
    this.closed = true;
    this.ws.close();
    await this.pc.close();
    // werift gives a data channel created before the first offer its own ICE transport,
    // which bundling then orphans: pc.close() leaves its UDP socket open. Close it too.
    await this.orphanIce?.stop().catch(() => undefined);
    for (const ice of this.iceTransports) await ice.stop().catch(() => undefined);
  }

  private async onMessage(raw: unknown): Promise<void> {
    const parsed = ServerMessage.safeParse(raw);
    if (!parsed.success) throw new Error(`server sent an invalid message: ${JSON.stringify(raw)}`);
    const m = parsed.data;
    this.messages.push(m);
    if (m.type === 'welcome') this.peerId = m.peerId;
    else if (m.type === 'answer') await this.pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
    else if (m.type === 'offer') {
      // With a data channel, werift's controlling ICE agent never completes its checks when a
      // re-offer is applied while they run (the call hangs in "checking", DTLS connected: 1 run in
      // 6 of the echo call with a data channel). A browser copes; this test peer waits for its ICE
      // first (at most 3 s), and drops the offer if it was closed meanwhile.
      if (this.dataChannel && this.pc.remoteDescription && this.pc.iceConnectionState === 'checking') {
        await waitFor(() => this.closed || this.pc.iceConnectionState !== 'checking', 3000, 'ICE checks done').catch(() => undefined);
        if (this.closed) return;
      }
      await this.pc.setRemoteDescription({ type: 'offer', sdp: m.sdp });
      await this.pc.setLocalDescription(await this.pc.createAnswer());
      this.send({ type: 'answer', sdp: this.pc.localDescription!.sdp });
      this.described();
    } else if (m.type === 'ice' && m.candidate)
      await this.pc.addIceCandidate({
        ...m.candidate,
        sdpMid: m.candidate.sdpMid ?? undefined,
        sdpMLineIndex: m.candidate.sdpMLineIndex ?? undefined,
        usernameFragment: m.candidate.usernameFragment ?? undefined,
      });
  }
}
