import { EventEmitter } from 'node:events';
import { MediaStream, RTCPeerConnection, type RTCDataChannel, type MediaStreamTrack, type RTCIceCandidate, type RTCRtpTransceiver } from 'werift';
import { DATA_CHANNEL_LABEL, parseFacesUp, type FacesDown, type FacesUp } from '../protocol/detections.js';
import type { IceCandidate } from '../protocol/messages.js';
import { checkSdp, SfuError } from './errors.js';
import { Forwarder, type ForwarderStats, type ForwardingMode } from './forwarder.js';
import { InboundTrack, type InboundTrackStats } from './inbound-track.js';
import { peerConfig, pinHeaderExtensionIds, reviveSender, unrejectInactive, type IceSettings } from './werift.js';

export interface ParticipantOptions {
  ice: IceSettings;
  /** Close when ICE stays disconnected, or nothing (RTP/RTCP) arrives, this long (ms). */
  iceTimeoutMs?: number;
  /** Close when not connected this long after the first offer/answer (ms). */
  connectTimeoutMs?: number;
  /** `naive`: werift's own sender path, for benchmarks' baseline (see Forwarder). */
  forwarding?: ForwardingMode;
  /** Most tracks one participant may publish (simulcast layers of one track count once; default 8). */
  maxTracks?: number;
}

/** How often each publisher gets a REMB summarizing its subscribers' estimates. */
const REMB_INTERVAL_MS = 1000;
/** Never ask a publisher for less than this (its lowest layer keeps flowing). */
const MIN_REMB_BPS = 150_000;

export interface SubscriptionSnapshot extends ForwarderStats {
  trackId: string;
  publisherId: string;
  kind: string;
  ssrc: number;
  /** Simulcast layer (rid) forwarded, null without simulcast; and switches so far. */
  layer: string | null;
  layerSwitches: number;
}

export interface ParticipantSnapshot {
  id: string;
  name: string;
  room: string | null;
  echo: boolean;
  connectionState: string;
  iceConnectionState: string;
  dtlsState: string;
  signalingState: string;
  codec: string | null;
  tracks: Array<{ id: string; kind: string; ssrc: number | null; codec: string; subscribers: number } & InboundTrackStats>;
  subscriptions: SubscriptionSnapshot[];
  /** Metadata mode: the face count of the latest published detection, and the channel's counters. */
  faces: { count: number; detector: string; frame: number; ageMs: number } | null;
  data: { messagesIn: number; messagesDropped: number; messagesOut: number };
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
  /** A server-initiated offer for the client to answer. */
  offer: [sdp: string];
  /** The client published a track. */
  track: [InboundTrack];
  /** Face detection results the client published on its `facecast` data channel. */
  faces: [FacesUp];
  /** Something the client asked for is refused (its media is not forwarded): tell the client. */
  refused: [code: 'forbidden' | 'too-many-tracks', message: string];
  /** The participant is gone (closed, failed, timed out). */
  closed: [reason: string];
}

/** One subscribed track: the sendonly transceiver toward this participant and its forwarder. */
interface Subscription {
  transceiver: RTCRtpTransceiver;
  forwarder: Forwarder;
}

/**
 * One client's peer connection: negotiation (either side may offer; the server
 * is the impolite peer and serializes its own offers), the tracks the client
 * publishes, and the forwarders of the tracks it subscribes to. Which tracks it
 * subscribes to is the Room's business.
 */
export class Participant extends EventEmitter<ParticipantEvents> {
  readonly createdAt = Date.now();
  readonly pc: RTCPeerConnection;
  /** Tracks this participant publishes, by id. */
  readonly published = new Map<string, InboundTrack>();
  /** Tracks this participant receives, by subscription key. */
  private readonly subscriptions = new Map<string, Subscription>();
  name: string;
  room: string | null = null;
  echo = false;
  /** From the room token when auth is on: may this participant send media / receive others'? */
  canPublish = true;
  canSubscribe = true;
  private toldForbidden = false;
  /** The latest detection result this participant published (metadata mode). */
  lastFaces: { count: number; detector: string; frame: number; at: number } | null = null;
  readonly dataStats = { messagesIn: 0, messagesDropped: 0, messagesOut: 0 };
  private dataChannel: RTCDataChannel | undefined;
  private dataWindowStart = 0;
  private dataWindowCount = 0;
  private closed = false;
  private negotiated = false;
  /**
   * WHIP/WHEP: the client's one offer fixes the m-lines and the server never offers.
   * Subscriptions then go only onto free receiving m-lines of that offer, while it is
   * being answered (see handleOffer); others are dropped. Set before the offer.
   */
  fixedMedia = false;
  /** A remote candidate other than the unspecified address was added. */
  private usableRemoteCandidate = false;
  /** Transceivers of ended subscriptions (inactive once negotiated), for the next ones. */
  private readonly freeTransceivers: RTCRtpTransceiver[] = [];
  /** The first offer (the client's or ours) is being applied: subscriptions need not wait. */
  private exchangeStarted = false;
  /** Subscriptions asked for before the first offer/answer exchange, by key. */
  private readonly waitingSubscriptions = new Map<string, { tracks: InboundTrack[]; streamId: string }>();
  private offering = false;
  /** A client offer is being applied and answered. */
  private answering = false;
  private readonly forwarding: ForwardingMode;
  private readonly maxTracks: number;
  private readonly earlyCandidates: (IceCandidate | null)[] = [];
  private wantsOffer = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private watchdog: NodeJS.Timeout | undefined;
  private lastHeardAt = 0;
  private readonly iceTimeoutMs: number;
  private readonly connectTimeoutMs: number;

  constructor(
    readonly id: string,
    opts: ParticipantOptions,
  ) {
    super();
    this.name = `guest-${id}`;
    this.iceTimeoutMs = opts.iceTimeoutMs ?? 30_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 30_000;
    this.forwarding = opts.forwarding ?? 'fast';
    this.maxTracks = opts.maxTracks ?? 8;
    this.pc = new RTCPeerConnection(peerConfig(opts.ice));
    pinHeaderExtensionIds(this.pc);
    this.pc.onRemoteTransceiverAdded.subscribe((t) => this.onRemoteTransceiver(t));
    this.pc.onIceCandidate.subscribe((c) => this.onLocalCandidate(c));
    this.pc.connectionStateChange.subscribe((state) => this.onConnectionState(state));
    this.pc.onDataChannel.subscribe((channel) => this.onDataChannel(channel));
    const remb = setInterval(() => this.summarizeEstimates(), REMB_INTERVAL_MS);
    remb.unref();
    this.timers.add(remb);
  }

  /**
   * Congestion feedback toward this publisher: per published video (all its simulcast
   * layers together), one REMB with the largest estimate among its subscribers, so it
   * sends no more than the best-connected one can take (lower layers serve the others).
   */
  private summarizeEstimates(): void {
    if (this.closed) return;
    const groups = new Map<string, InboundTrack[]>();
    for (const t of this.published.values()) {
      if (t.kind !== 'video' || t.isClosed) continue;
      const list = groups.get(t.group) ?? [];
      list.push(t);
      groups.set(t.group, list);
    }
    for (const layers of groups.values()) {
      const estimates = layers.flatMap((l) => l.sinkEstimates());
      if (estimates.length === 0) continue;
      const ssrcs = layers.flatMap((l) => (l.ssrc === undefined ? [] : [l.ssrc]));
      if (ssrcs.length) layers[0]!.sendRemb(Math.max(MIN_REMB_BPS, ...estimates), ssrcs);
    }
  }

  /** Relay another participant's detection result to this client (if it has the channel open). */
  sendFaces(message: FacesDown): void {
    const channel = this.dataChannel;
    if (this.closed || !channel || channel.readyState !== 'open') return;
    try {
      channel.send(JSON.stringify(message));
      this.dataStats.messagesOut++;
    } catch {
      // channel closing: nothing to do
    }
  }

  private onDataChannel(channel: RTCDataChannel): void {
    if (channel.label !== DATA_CHANNEL_LABEL || this.dataChannel) return;
    this.dataChannel = channel;
    channel.onMessage.subscribe((data) => {
      if (this.closed) return;
      // At most 60 results a second (one per frame at 60 fps); invalid ones are dropped.
      const now = performance.now();
      if (now - this.dataWindowStart > 1000) {
        this.dataWindowStart = now;
        this.dataWindowCount = 0;
      }
      const faces = ++this.dataWindowCount <= 60 ? parseFacesUp(typeof data === 'string' ? data : new Uint8Array(data)) : undefined;
      if (!faces) {
        this.dataStats.messagesDropped++;
        return;
      }
      this.dataStats.messagesIn++;
      this.lastFaces = { count: faces.faces.length, detector: faces.detector, frame: faces.frame, at: Date.now() };
      this.emit('faces', faces);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Apply a client offer; returns the answer SDP. */
  async handleOffer(sdp: string): Promise<string> {
    this.assertOpen();
    checkSdp(sdp, 'offer');
    // `offering`: our offer is being made (still "stable" until setLocalDescription ends);
    // its new transceivers have no mid yet, and werift would match the client's m-lines to them.
    if (this.pc.signalingState === 'have-local-offer' || this.offering) {
      // Impolite peer: our offer wins; the polite client rolls back and answers it.
      throw new SfuError('glare', "offer collided with the server's offer; answer the server's offer instead");
    }
    // `answering`: werift reports "stable" until setRemoteDescription is nearly done; no
    // server offer may start in between (it would be made against a half-applied offer).
    this.answering = true;
    try {
      try {
        await this.pc.setRemoteDescription({ type: 'offer', sdp });
      } catch (err) {
        throw new SfuError('bad-sdp', `offer rejected: ${(err as Error).message}`);
      }
      // Subscriptions waited while werift matched the offer's m-lines (a transceiver of ours
      // would have taken one of them). Now they go onto m-lines on which the client offered
      // to receive (a viewer, WHEP), else onto new ones offered after the answer.
      this.exchangeStarted = true;
      this.startWaitingSubscriptions();
      const answer = await this.pc.createAnswer();
      await this.pc.setLocalDescription(answer);
    } catch (err) {
      // Closed meanwhile (the client left, a timeout): werift's InvalidStateError is no internal failure.
      this.assertOpen();
      throw err;
    } finally {
      this.answering = false;
    }
    this.startNegotiationClock();
    this.startWaitingSubscriptions();
    queueMicrotask(() => this.maybeOffer());
    return unrejectInactive(this.pc.localDescription!.sdp);
  }

  /** Create a server-side offer now (client asked with `negotiate`). */
  async createOffer(): Promise<string> {
    this.assertOpen();
    if (this.pc.signalingState !== 'stable' || this.offering || this.answering) {
      throw new SfuError('wrong-state', `cannot offer now: a negotiation is in progress (signaling state ${this.pc.signalingState})`);
    }
    if (!this.exchangeStarted) {
      // The server makes the first offer: it carries the subscriptions made so far.
      this.exchangeStarted = true;
      this.startWaitingSubscriptions();
    }
    if (this.pc.getTransceivers().length === 0) {
      // Nothing negotiated yet: offer to receive the client's video.
      const t = this.pc.addTransceiver('video', { direction: 'recvonly' });
      t.onTrack.subscribe((track) => this.onTrack(track, t));
    }
    this.offering = true;
    this.wantsOffer = false;
    try {
      await this.pc.setLocalDescription(await this.pc.createOffer());
    } catch (err) {
      this.offering = false;
      this.assertOpen(); // closed meanwhile: wrong-state, not an internal failure
      throw err;
    }
    return unrejectInactive(this.pc.localDescription!.sdp);
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
    } finally {
      this.offering = false;
    }
    const early = this.earlyCandidates.splice(0);
    for (const c of early) await this.applyCandidate(c).catch(() => undefined);
    this.startNegotiationClock();
    this.startWaitingSubscriptions();
    queueMicrotask(() => this.maybeOffer());
  }

  async addCandidate(candidate: IceCandidate | null): Promise<void> {
    this.assertOpen();
    if (!this.pc.remoteDescription) {
      // The client may trickle its candidates before the answer to our offer arrives.
      if (this.pc.signalingState === 'have-local-offer' && this.earlyCandidates.length < 64) {
        this.earlyCandidates.push(candidate);
        return;
      }
      throw new SfuError('no-offer', 'ICE candidate arrived before any offer or answer');
    }
    await this.applyCandidate(candidate);
  }

  private async applyCandidate(candidate: IceCandidate | null): Promise<void> {
    // A browser without a camera/microphone grant may offer only the unspecified address
    // (0.0.0.0 / ::), which nobody can reach: skip those. Its checks still arrive from its
    // real address (a peer-reflexive candidate), so end-of-candidates is held back until a
    // usable candidate came: werift would otherwise fail ICE at once with no pairs.
    if (candidate !== null && /^\S+ \d+ \S+ \d+ (0\.0\.0\.0|::) /.test(candidate.candidate.replace(/^candidate:/, ''))) return;
    if (candidate === null && !this.usableRemoteCandidate) return;
    if (candidate !== null) this.usableRemoteCandidate = true;
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

  /**
   * Start receiving `track` (another participant's, or our own for the echo).
   * Before the first offer/answer exchange the subscription waits (its m-line
   * would otherwise take the place of one in the client's first offer) and
   * undefined is returned; it starts right after that exchange.
   */
  subscribe(track: InboundTrack, streamId: string, key = track.id): Forwarder | undefined {
    if (!this.canSubscribe) return undefined;
    if (!this.exchangeStarted) {
      const waiting = this.waitingSubscriptions.get(key);
      if (waiting) waiting.tracks.push(track);
      else this.waitingSubscriptions.set(key, { tracks: [track], streamId });
      return undefined;
    }
    const existing = this.subscriptions.get(key);
    if (existing) {
      const fwd = existing.forwarder;
      // Same key: a reconnected publisher's track (take it over), or another simulcast layer.
      if (fwd.currentSource.isClosed || fwd.currentSource.group !== track.group) fwd.switchSource(track);
      else fwd.addLayer(track);
      return fwd;
    }
    const offered = this.freeOfferedTransceiver(track.kind);
    if (offered) {
      offered.setDirection('sendonly');
      offered.sender.setStreams([new MediaStream({ id: streamId })]);
    }
    // fixedMedia (WHEP): the offer's m-lines are all there is.
    const transceiver =
      offered ??
      (this.fixedMedia
        ? undefined
        : (this.reuseTransceiver(track.kind, streamId) ?? this.pc.addTransceiver(track.kind, { direction: 'sendonly', streams: [new MediaStream({ id: streamId })] })));
    if (!transceiver) return undefined;
    const forwarder = new Forwarder(track, transceiver.sender, this.forwarding);
    this.subscriptions.set(key, { transceiver, forwarder });
    this.requestOffer();
    return forwarder;
  }

  /**
   * An m-line an ended subscription left (inactive, or about to be), made to send
   * `streamId` as a new stream (new SSRC and msid: the browser sees a new track on it): a long-lived participant in a busy room keeps a
   * bounded SDP instead of one more m-line per visitor.
   */
  private reuseTransceiver(kind: 'audio' | 'video', streamId: string): RTCRtpTransceiver | undefined {
    const i = this.freeTransceivers.findIndex((t) => t.kind === kind);
    if (i < 0) return undefined;
    const transceiver = this.freeTransceivers.splice(i, 1)[0]!;
    reviveSender(transceiver.sender, streamId);
    transceiver.setDirection('sendonly');
    return transceiver;
  }

  /**
   * An m-line the client offered to receive on (recvonly: a viewer, WHEP) that
   * carries nothing yet. Not a sendrecv one: the client publishes on that.
   */
  private freeOfferedTransceiver(kind: 'audio' | 'video'): RTCRtpTransceiver | undefined {
    const used = new Set([...this.subscriptions.values()].map((s) => s.transceiver));
    return this.pc.getTransceivers().find((t) => t.kind === kind && !used.has(t) && !this.freeTransceivers.includes(t) && t.offerDirection === 'sendonly');
  }

  /** The client's tile for `publisherName`'s video is `height` px tall: pick layers to match. */
  setTileHeight(publisherName: string, height: number): void {
    for (const [key, sub] of this.subscriptions) {
      if (key.startsWith(`${publisherName}/video/`)) sub.forwarder.setMaxHeight(height);
    }
  }

  /** The forwarder of a subscription, if any. */
  subscription(key: string): Forwarder | undefined {
    return this.subscriptions.get(key)?.forwarder;
  }

  /** Stop receiving a subscription; its m-line goes inactive at the next negotiation. */
  unsubscribe(key: string): void {
    this.waitingSubscriptions.delete(key);
    const sub = this.subscriptions.get(key);
    if (!sub) return;
    this.subscriptions.delete(key);
    sub.forwarder.close();
    if (!this.closed) {
      this.pc.removeTrack(sub.transceiver.sender);
      if (!this.fixedMedia) this.freeTransceivers.push(sub.transceiver);
      this.requestOffer();
    }
  }

  get subscriptionKeys(): string[] {
    return [...this.subscriptions.keys()];
  }

  /** A JSON-ready picture of this participant for /api/state. */
  snapshot(): ParticipantSnapshot {
    const dtls = this.pc.dtlsTransports[0];
    const tracks = [...this.published.values()].map((t) => ({
      id: t.id,
      kind: t.kind,
      ssrc: t.ssrc ?? null,
      codec: t.mimeType,
      subscribers: t.subscriberCount,
      ...t.stats,
    }));
    const subscriptions: SubscriptionSnapshot[] = [...this.subscriptions.values()].map(({ forwarder: f }) => ({
      trackId: f.currentSource.id,
      publisherId: f.currentSource.publisherId,
      kind: f.currentSource.kind,
      ssrc: f.sender.ssrc,
      layer: f.layer ?? null,
      layerSwitches: f.layerSwitches,
      ...f.stats,
    }));
    const sum = <K extends string>(rows: Record<K, number>[], key: K) => rows.reduce((n, r) => n + r[key], 0);
    const codec =
      [...this.published.values()].find((t) => t.kind === 'video')?.mimeType ?? this.pc.getTransceivers().find((t) => t.kind === 'video')?.sender.codec?.mimeType ?? null;
    return {
      id: this.id,
      name: this.name,
      room: this.room,
      echo: this.echo,
      connectionState: this.pc.connectionState,
      iceConnectionState: this.pc.iceConnectionState,
      dtlsState: dtls?.state ?? 'new',
      signalingState: this.pc.signalingState,
      codec,
      tracks,
      subscriptions,
      faces: this.lastFaces && { count: this.lastFaces.count, detector: this.lastFaces.detector, frame: this.lastFaces.frame, ageMs: Date.now() - this.lastFaces.at },
      data: { ...this.dataStats },
      packetsIn: sum(tracks, 'packetsIn'),
      bytesIn: sum(tracks, 'bytesIn'),
      packetsOut: sum(subscriptions, 'packetsOut'),
      bytesOut: sum(subscriptions, 'bytesOut'),
      keyframeRequestsForwarded: sum(tracks, 'keyframeRequestsSent'),
      keyframeRequestsReceived: sum(subscriptions, 'keyframeRequestsIn'),
      nacksReceived: sum(subscriptions, 'nacksIn'),
      nacksAnswered: sum(subscriptions, 'nacksAnswered'),
      retransmissions: sum(subscriptions, 'retransmissions'),
      ageMs: Date.now() - this.createdAt,
    };
  }

  async close(reason = 'closed'): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.watchdog) clearInterval(this.watchdog);
    for (const { forwarder } of this.subscriptions.values()) forwarder.close();
    this.subscriptions.clear();
    this.waitingSubscriptions.clear();
    for (const t of this.published.values()) t.close();
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

  /** The subscriptions made before the first exchange (their tracks may have ended meanwhile). */
  private startWaitingSubscriptions(): void {
    if (this.closed) return;
    const waiting = [...this.waitingSubscriptions];
    this.waitingSubscriptions.clear();
    for (const [key, { tracks, streamId }] of waiting) {
      for (const track of tracks) if (!track.isClosed) this.subscribe(track, streamId, key);
    }
  }

  /** Ask for a server offer as soon as signaling is stable (coalesces many changes into one). */
  private requestOffer(): void {
    this.wantsOffer = true;
    queueMicrotask(() => this.maybeOffer());
  }

  private maybeOffer(): void {
    if (this.closed || this.fixedMedia || !this.wantsOffer || this.offering || this.answering) return;
    // The first exchange is the client's (or an explicit `negotiate`): wait for it.
    if (!this.pc.remoteDescription || this.pc.signalingState !== 'stable') return;
    this.createOffer().then(
      (sdp) => this.emit('offer', sdp),
      () => {
        this.offering = false;
      },
    );
  }

  private onRemoteTransceiver(transceiver: RTCRtpTransceiver): void {
    // The server never sends on an m-line the client created: it answers recvonly.
    if (transceiver.direction === 'sendrecv') transceiver.setDirection('recvonly');
    transceiver.onTrack.subscribe((track) => this.onTrack(track, transceiver));
  }

  private onTrack(track: MediaStreamTrack, transceiver: RTCRtpTransceiver): void {
    if (this.closed) return;
    // An m-line the client offered recvonly carries nothing from it (werift still makes a track).
    if (transceiver.offerDirection === 'sendonly') return;
    // With simulcast the layers are the rid tracks; an SSRC-signalled track beside them is not media.
    if (!track.rid && Object.keys(transceiver.receiver.trackByRID).length > 0) return;
    if (!this.canPublish) {
      // The token does not allow publishing: media on this m-line goes nowhere; the client
      // hears so once, when media first arrives (an m-line alone is not an attempt).
      const { unSubscribe } = track.onReceiveRtp.subscribe(() => {
        unSubscribe();
        if (this.toldForbidden || this.closed) return;
        this.toldForbidden = true;
        this.emit('refused', 'forbidden', 'your room token does not allow publishing: your media is not forwarded');
      });
      return;
    }
    const groups = new Set([...this.published.values()].map((t) => t.group));
    if (!groups.has(transceiver.id) && groups.size >= this.maxTracks) {
      this.emit('refused', 'too-many-tracks', `at most ${this.maxTracks} tracks per participant: this one is not forwarded`);
      return;
    }
    const inbound = new InboundTrack(track, transceiver.receiver, this.id, transceiver.id);
    this.published.set(inbound.id, inbound);
    this.emit('track', inbound);
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
   * participant watches the peer itself: anything heard (RTP, RTCP, or STUN on
   * the selected pair: the peer's consent checks and its answers to ours, about
   * every 5 s) keeps it alive; silence for iceTimeoutMs ends it. Timeouts under
   * ~10 s can therefore drop an idle viewer that only exchanges STUN.
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
    const stun = () => {
      const pair = this.pc.iceTransports[0]?.connection.nominated;
      return pair ? pair.requestsReceived + pair.responsesReceived : 0;
    };
    let stunSeen = stun();
    const every = Math.min(1000, this.iceTimeoutMs / 4);
    this.watchdog = setInterval(() => {
      const now = stun();
      if (now !== stunSeen) {
        stunSeen = now;
        heard();
      }
      if (performance.now() - this.lastHeardAt > this.iceTimeoutMs) void this.close('media timeout');
    }, every);
    this.watchdog.unref();
  }
}
