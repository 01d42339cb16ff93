import { EventEmitter } from 'node:events';
import {
  RTCPeerConnection,
  type MediaStreamTrack,
  type RTCIceCandidate,
  type RTCRtpTransceiver,
} from 'werift';
import type { IceCandidate } from '../protocol/messages.js';
import { checkSdp, SfuError } from './errors.js';
import { Forwarder } from './forwarder.js';
import { InboundTrack, type InboundTrackStats } from './inbound-track.js';
import { peerConfig, type IceSettings } from './werift.js';

export interface ParticipantOptions {
  ice: IceSettings;
  /** Send the participant's own video back to it (the echo). */
  echo: boolean;
  /** Close when ICE stays disconnected, or nothing (RTP/RTCP) arrives, this long (ms). */
  iceTimeoutMs?: number;
  /** Close when not connected this long after the first offer/answer (ms). */
  connectTimeoutMs?: number;
}

export interface ParticipantSnapshot {
  id: string;
  connectionState: string;
  iceConnectionState: string;
  dtlsState: string;
  signalingState: string;
  codec: string | null;
  tracks: Array<{ id: string; kind: string; ssrc: number | null; codec: string; subscribers: number } & InboundTrackStats>;
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  keyframeRequestsForwarded: number;
  keyframeRequestsReceived: number;
  nacksReceived: number;
  nacksAnswered: number;
  retransmissions: number;
  ageMs: number;
}

export interface ParticipantEvents {
  /** A local ICE candidate to trickle to the client; null = end of candidates. */
  candidate: [IceCandidate | null];
  /** The participant is gone (closed, failed, timed out). */
  closed: [reason: string];
}

/**
 * One client's peer connection: negotiation (either side may offer; the
 * server is the impolite peer), its published tracks and its forwarders.
 */
export class Participant extends EventEmitter<ParticipantEvents> {
  readonly createdAt = Date.now();
  readonly pc: RTCPeerConnection;
  readonly inbound = new Map<string, InboundTrack>();
  readonly forwarders = new Set<Forwarder>();
  private closed = false;
  private negotiated = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private iceTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private lastHeardAt = 0;
  private readonly iceTimeoutMs: number;
  private readonly connectTimeoutMs: number;

  constructor(
    readonly id: string,
    private readonly opts: ParticipantOptions,
  ) {
    super();
    this.iceTimeoutMs = opts.iceTimeoutMs ?? 30_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 30_000;
    this.pc = new RTCPeerConnection(peerConfig(opts.ice));
    this.pc.onTransceiverAdded.subscribe((t) => this.onTransceiverAdded(t));
    this.pc.onIceCandidate.subscribe((c) => this.onLocalCandidate(c));
    this.pc.connectionStateChange.subscribe((state) => this.onConnectionState(state));
    this.pc.iceConnectionStateChange.subscribe((state) => this.onIceState(state));
  }

  /** A JSON-ready picture of this participant for /api/state. */
  snapshot(): ParticipantSnapshot {
    const dtls = this.pc.dtlsTransports[0];
    const tracks = [...this.inbound.values()].map((t) => ({
      id: t.id,
      kind: t.kind,
      ssrc: t.ssrc ?? null,
      codec: t.mimeType,
      subscribers: t.subscriberCount,
      ...t.stats,
    }));
    const fwd = [...this.forwarders].map((f) => f.stats);
    const sum = <K extends string>(rows: Record<K, number>[], key: K) => rows.reduce((n, r) => n + r[key], 0);
    const codec = this.pc.getTransceivers().find((t) => t.kind === 'video')?.sender.codec?.mimeType ?? null;
    return {
      id: this.id,
      connectionState: this.pc.connectionState,
      iceConnectionState: this.pc.iceConnectionState,
      dtlsState: dtls?.state ?? 'new',
      signalingState: this.pc.signalingState,
      codec,
      tracks,
      packetsIn: sum(tracks, 'packetsIn'),
      bytesIn: sum(tracks, 'bytesIn'),
      packetsOut: sum(fwd, 'packetsOut'),
      bytesOut: sum(fwd, 'bytesOut'),
      keyframeRequestsForwarded: sum(tracks, 'keyframeRequestsSent'),
      keyframeRequestsReceived: sum(fwd, 'keyframeRequestsIn'),
      nacksReceived: sum(fwd, 'nacksIn'),
      nacksAnswered: sum(fwd, 'nacksAnswered'),
      retransmissions: sum(fwd, 'retransmissions'),
      ageMs: Date.now() - this.createdAt,
    };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Apply a client offer; returns the answer SDP. */
  async handleOffer(sdp: string): Promise<string> {
    this.assertOpen();
    checkSdp(sdp, 'offer');
    if (this.pc.signalingState === 'have-local-offer') {
      // Impolite peer: our offer wins; the client rolls back and answers it.
      throw new SfuError('wrong-state', 'offer collided with the server\'s offer; answer the server\'s offer instead');
    }
    try {
      await this.pc.setRemoteDescription({ type: 'offer', sdp });
    } catch (err) {
      throw new SfuError('bad-sdp', `offer rejected: ${(err as Error).message}`);
    }
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    this.startNegotiationClock();
    return this.pc.localDescription!.sdp;
  }

  /** Create a server-side offer (the client answers with `answer`). */
  async createOffer(): Promise<string> {
    this.assertOpen();
    if (this.pc.signalingState !== 'stable') {
      throw new SfuError('wrong-state', `cannot offer in signaling state ${this.pc.signalingState}`);
    }
    if (this.pc.getTransceivers().length === 0) {
      this.pc.addTransceiver('video', { direction: this.opts.echo ? 'sendrecv' : 'recvonly' });
    }
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    return this.pc.localDescription!.sdp;
  }

  async handleAnswer(sdp: string): Promise<void> {
    this.assertOpen();
    if (this.pc.signalingState !== 'have-local-offer') {
      throw new SfuError('wrong-state', `unexpected answer in signaling state ${this.pc.signalingState}`);
    }
    checkSdp(sdp, 'answer');
    try {
      await this.pc.setRemoteDescription({ type: 'answer', sdp });
    } catch (err) {
      throw new SfuError('bad-sdp', `answer rejected: ${(err as Error).message}`);
    }
    this.startNegotiationClock();
  }

  async addCandidate(candidate: IceCandidate | null): Promise<void> {
    this.assertOpen();
    if (!this.pc.remoteDescription) {
      throw new SfuError('no-offer', 'ICE candidate arrived before any offer or answer');
    }
    try {
      if (candidate === null) await this.pc.addIceCandidate(undefined);
      else
        await this.pc.addIceCandidate({
          candidate: candidate.candidate,
          sdpMid: candidate.sdpMid ?? undefined,
          sdpMLineIndex: candidate.sdpMLineIndex ?? undefined,
          usernameFragment: candidate.usernameFragment ?? undefined,
        });
    } catch (err) {
      throw new SfuError('bad-message', `ICE candidate rejected: ${(err as Error).message}`);
    }
  }

  async close(reason = 'closed'): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.iceTimer) clearTimeout(this.iceTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    for (const f of this.forwarders) f.close();
    this.forwarders.clear();
    for (const t of this.inbound.values()) t.close();
    this.inbound.clear();
    try {
      await this.pc.close();
    } catch {
      // already torn down
    }
    this.emit('closed', reason);
    this.removeAllListeners();
  }

  private assertOpen(): void {
    if (this.closed) throw new SfuError('wrong-state', 'this connection is closed');
  }

  private onTransceiverAdded(transceiver: RTCRtpTransceiver): void {
    if (this.opts.echo && transceiver.kind === 'video') transceiver.setDirection('sendrecv');
    transceiver.onTrack.subscribe((track) => this.onTrack(track, transceiver));
  }

  private onTrack(track: MediaStreamTrack, transceiver: RTCRtpTransceiver): void {
    if (this.closed) return;
    const inbound = new InboundTrack(track, transceiver.receiver);
    this.inbound.set(inbound.id, inbound);
    if (this.opts.echo && inbound.kind === 'video') {
      this.forwarders.add(new Forwarder(inbound, transceiver.sender));
    }
  }

  private onLocalCandidate(candidate: RTCIceCandidate | undefined): void {
    if (this.closed) return;
    if (!candidate) {
      this.emit('candidate', null);
      return;
    }
    const json = candidate.toJSON();
    this.emit('candidate', {
      candidate: json.candidate,
      sdpMid: json.sdpMid ?? null,
      sdpMLineIndex: json.sdpMLineIndex ?? null,
    });
  }

  private startNegotiationClock(): void {
    if (this.negotiated) return;
    this.negotiated = true;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.pc.connectionState !== 'connected') void this.close('connect-timeout');
    }, this.connectTimeoutMs);
    t.unref();
    this.timers.add(t);
  }

  private onConnectionState(state: string): void {
    if (state === 'failed' || state === 'closed') void this.close(`connection ${state}`);
    if (state === 'connected' && !this.watchdog) this.startWatchdog();
  }

  /**
   * werift only reports ICE `failed` after its own 30 s consent timeout, so the
   * participant watches its media itself: a connected browser sends RTP or at
   * least RTCP receiver reports every second; silence for iceTimeoutMs ends it.
   */
  private startWatchdog(): void {
    const transport = this.pc.dtlsTransports[0];
    if (!transport) return;
    this.lastHeardAt = performance.now();
    const heard = () => {
      this.lastHeardAt = performance.now();
    };
    transport.onRtp.subscribe(heard);
    transport.onRtcp.subscribe(heard);
    const every = Math.min(1000, this.iceTimeoutMs / 4);
    this.watchdog = setInterval(() => {
      if (performance.now() - this.lastHeardAt > this.iceTimeoutMs) void this.close('media timeout');
    }, every);
    this.watchdog.unref();
  }

  private onIceState(state: string): void {
    if (state === 'disconnected' || state === 'failed') {
      if (!this.iceTimer) {
        this.iceTimer = setTimeout(() => void this.close('ice-timeout'), state === 'failed' ? 0 : this.iceTimeoutMs);
        this.iceTimer.unref();
      }
    } else if (this.iceTimer && (state === 'connected' || state === 'completed')) {
      clearTimeout(this.iceTimer);
      this.iceTimer = undefined;
    }
  }
}
