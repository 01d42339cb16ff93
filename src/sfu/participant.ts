/**
 * One client's peer connection, as the room sees it: who it is (id, name, room,
 * rights), and the parts that do the work, each in its own file:
 *   peer/negotiator.ts        offer/answer, glare, trickled ICE
 *   peer/liveness.ts          connect timeout, ICE failure, media watchdog
 *   peer/faces-channel.ts     the `facecast` data channel (metadata mode)
 *   publications/             the tracks it publishes, REMB toward it
 *   subscriptions/            the forwarders of the tracks it receives, m-line reuse
 * Which tracks it subscribes to is the Room's business.
 */
import { EventEmitter } from 'node:events';
import { RTCPeerConnection } from 'werift';
import type { FacesDown, FacesUp } from '../protocol/detections.js';
import type { IceCandidate } from '../protocol/messages.js';
import { FacesChannel } from './peer/faces-channel.js';
import { Liveness } from './peer/liveness.js';
import { Negotiator } from './peer/negotiator.js';
import type { InboundTrack, InboundTrackStats } from './publications/inbound-track.js';
import { Publications } from './publications/publications.js';
import type { Forwarder } from './subscriptions/forwarder.js';
import type { ForwardingMode } from './subscriptions/naive-forwarder.js';
import { type SubscriptionSnapshot, Subscriptions } from './subscriptions/subscriptions.js';
import { peerConfig, pinHeaderExtensionIds, type IceSettings } from './werift/config.js';

export type { SubscriptionSnapshot } from './subscriptions/subscriptions.js';

export interface ParticipantOptions {
  ice: IceSettings;
  /** Close when ICE stays disconnected, or nothing (RTP/RTCP) arrives, this long (ms). */
  iceTimeoutMs?: number;
  /** Close when not connected this long after the first offer/answer (ms). */
  connectTimeoutMs?: number;
  /** `naive`: werift's own sender path, for benchmarks' baseline (see NaiveForwarder). */
  forwarding?: ForwardingMode;
  /** Most tracks one participant may publish (simulcast layers of one track count once; default 8). */
  maxTracks?: number;
  /** Dynacast: tell this publisher which of its simulcast layers anyone receives (default true). */
  dynacast?: boolean;
  /** From the room token when auth is on: may this participant send media / receive others'? Default true. */
  canPublish?: boolean;
  canSubscribe?: boolean;
  /**
   * WHIP/WHEP: the client's one offer fixes the m-lines and the server never offers.
   * Subscriptions then go only onto free receiving m-lines of that offer, while it is
   * being answered; others are dropped.
   */
  fixedMedia?: boolean;
  /** Receive only this publisher's tracks (WHEP on /whep/ROOM/PUBLISHER). */
  onlyPublisher?: string;
  /** A publisher pushed here by another node of a cluster (its id): not counted against the limits, never pushed back there. */
  originNode?: string;
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
  /** NACKed packets not resent (every reason: too old, too many, too soon, over budget); per reason in `subscriptions`. */
  retransmissionsRefused: number;
  ageMs: number;
  /** Pushed here by this cluster node (a publisher of another node's part of the room). */
  originNode?: string;
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
  /** A video it receives is paused for bandwidth (allocator.ts); `name`: its publisher's stream (name). */
  'track-paused': [name: string, kind: 'video', reason: 'bandwidth'];
  /** That video comes again (at a keyframe). */
  'track-resumed': [name: string, kind: 'video'];
  /** Dynacast: send only these simulcast layers ('' without simulcast; none: nobody watches) of the video on `mid`. */
  layers: [mid: string, active: string[]];
  /** Something the client asked for is refused (its media is not forwarded): tell the client. */
  refused: [code: 'forbidden' | 'too-many-tracks', message: string];
  /** The participant is gone (closed, failed, timed out). */
  closed: [reason: string];
}

export class Participant extends EventEmitter<ParticipantEvents> {
  readonly createdAt = Date.now();
  readonly pc: RTCPeerConnection;
  readonly canPublish: boolean;
  readonly canSubscribe: boolean;
  /** See ParticipantOptions.originNode. */
  readonly originNode: string | undefined;
  private readonly negotiator: Negotiator;
  private readonly liveness: Liveness;
  private readonly faces: FacesChannel;
  private readonly publications: Publications;
  private readonly subscriptions: Subscriptions;
  private roomName: string | null = null;
  private displayName: string;
  private echoOn = false;
  private closed = false;

  constructor(
    readonly id: string,
    opts: ParticipantOptions,
  ) {
    super();
    this.displayName = `guest-${id}`;
    this.canPublish = opts.canPublish ?? true;
    this.canSubscribe = opts.canSubscribe ?? true;
    this.originNode = opts.originNode;
    this.pc = new RTCPeerConnection(peerConfig(opts.ice));
    pinHeaderExtensionIds(this.pc);
    const fixedMedia = opts.fixedMedia ?? false;
    this.negotiator = new Negotiator(this.pc, fixedMedia);
    this.publications = new Publications(id, { canPublish: this.canPublish, maxTracks: opts.maxTracks ?? 8, dynacast: opts.dynacast ?? true });
    this.subscriptions = new Subscriptions(this.pc, {
      forwarding: opts.forwarding ?? 'fast',
      fixedMedia,
      onlyPublisher: opts.onlyPublisher,
      requestOffer: () => this.negotiator.requestOffer(),
      onPaused: (_key, name, paused) => (paused ? this.emit('track-paused', name, 'video', 'bandwidth') : this.emit('track-resumed', name, 'video')),
    });
    this.liveness = new Liveness(this.pc, { iceTimeoutMs: opts.iceTimeoutMs ?? 30_000, connectTimeoutMs: opts.connectTimeoutMs ?? 30_000 }, (reason) => void this.close(reason));
    this.faces = new FacesChannel(this.pc, (faces) => this.emit('faces', faces));

    this.negotiator.on('candidate', (c) => this.emit('candidate', c));
    this.negotiator.on('offer', (sdp) => this.emit('offer', sdp));
    this.negotiator.on('transceiver', (t) => this.publications.receiveOn(t));
    this.negotiator.on('applying', () => this.subscriptions.begin());
    this.negotiator.on('exchanged', () => {
      this.liveness.negotiated();
      this.subscriptions.startWaiting();
    });
    this.publications.on('track', (track) => this.emit('track', track));
    this.publications.on('refused', (code, message) => this.emit('refused', code, message));
    this.publications.on('layers', (mid, active) => this.emit('layers', mid, active));
  }

  get name(): string {
    return this.displayName;
  }

  /** The room joined, null before. */
  get room(): string | null {
    return this.roomName;
  }

  /** Does it receive its own video back? */
  get echo(): boolean {
    return this.echoOn;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Tracks this participant publishes, by id. */
  get published(): ReadonlyMap<string, InboundTrack> {
    return this.publications.tracks;
  }

  /** Called by the Room it joins (name: the one asked for, else `guest-ID`). */
  joined(room: string, name: string | undefined, echo: boolean): void {
    this.roomName = room;
    if (name) this.displayName = name;
    this.echoOn = echo;
  }

  /** Called by its Room (which then subscribes or unsubscribes its own video). */
  setEcho(enabled: boolean): void {
    this.echoOn = enabled;
  }

  /** Apply a client offer; returns the answer SDP. */
  handleOffer(sdp: string): Promise<string> {
    return this.negotiator.handleOffer(sdp);
  }

  /** Create a server-side offer now (client asked with `negotiate`). */
  createOffer(): Promise<string> {
    return this.negotiator.createOffer();
  }

  handleAnswer(sdp: string): Promise<void> {
    return this.negotiator.handleAnswer(sdp);
  }

  addCandidate(candidate: IceCandidate | null): Promise<void> {
    return this.negotiator.addCandidate(candidate);
  }

  /**
   * Start receiving `track` (another participant's, or our own for the echo).
   * Before the first offer/answer exchange the subscription waits (undefined is returned).
   */
  subscribe(track: InboundTrack, streamId: string, key = track.id): Forwarder | undefined {
    if (!this.canSubscribe) return undefined;
    return this.subscriptions.subscribe(track, streamId, key);
  }

  /** Stop receiving a subscription; its m-line goes inactive at the next negotiation. */
  unsubscribe(key: string): void {
    this.subscriptions.unsubscribe(key);
  }

  /** The forwarder of a subscription, if any. */
  subscription(key: string): Forwarder | undefined {
    return this.subscriptions.get(key);
  }

  get subscriptionKeys(): string[] {
    return this.subscriptions.keys;
  }

  /** The client's tile for `publisherName`'s video is `height` px tall: pick layers to match. */
  setTileHeight(publisherName: string, height: number): void {
    this.subscriptions.setTileHeight(publisherName, height);
  }

  /** Relay another participant's detection result to this client (if it has the channel open). */
  sendFaces(message: FacesDown): void {
    if (!this.closed) this.faces.send(message);
  }

  /** A JSON-ready picture of this participant for /api/state. */
  snapshot(): ParticipantSnapshot {
    const dtls = this.pc.dtlsTransports[0];
    const published = [...this.publications.tracks.values()];
    const tracks = published.map((t) => ({ id: t.id, kind: t.kind, ssrc: t.ssrc ?? null, codec: t.mimeType, subscribers: t.subscriberCount, ...t.stats }));
    const subscriptions = this.subscriptions.snapshot();
    const sum = <K extends string>(rows: Record<K, number>[], key: K) => rows.reduce((n, r) => n + r[key], 0);
    const codec = published.find((t) => t.kind === 'video')?.mimeType ?? this.pc.getTransceivers().find((t) => t.kind === 'video')?.sender.codec?.mimeType ?? null;
    const last = this.faces.last;
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
      faces: last && { count: last.count, detector: last.detector, frame: last.frame, ageMs: Date.now() - last.at },
      data: { ...this.faces.stats },
      packetsIn: sum(tracks, 'packetsIn'),
      bytesIn: sum(tracks, 'bytesIn'),
      packetsOut: sum(subscriptions, 'packetsOut'),
      bytesOut: sum(subscriptions, 'bytesOut'),
      keyframeRequestsForwarded: sum(tracks, 'keyframeRequestsSent'),
      keyframeRequestsReceived: sum(subscriptions, 'keyframeRequestsIn'),
      nacksReceived: sum(subscriptions, 'nacksIn'),
      nacksAnswered: sum(subscriptions, 'nacksAnswered'),
      retransmissions: sum(subscriptions, 'retransmissions'),
      retransmissionsRefused: subscriptions.reduce((n, f) => n + f.rtxRefusedTooOld + f.rtxRefusedTooMany + f.rtxRefusedTooSoon + f.rtxRefusedOverBudget, 0),
      ageMs: Date.now() - this.createdAt,
      ...(this.originNode === undefined ? {} : { originNode: this.originNode }),
    };
  }

  async close(reason = 'closed'): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.negotiator.close();
    this.liveness.close();
    this.faces.close();
    this.subscriptions.close();
    this.publications.close();
    try {
      await this.pc.close();
    } catch {
      // already torn down
    }
    this.emit('closed', reason);
    this.removeAllListeners();
  }
}
