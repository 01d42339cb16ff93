/**
 * What one participant receives: a Forwarder per subscribed track on a
 * sendonly transceiver, keyed by the room's subscription key
 * (`PUBLISHER/KIND/N`, stable across a publisher's reconnects).
 *
 * m-line policy: before the first offer/answer exchange a subscription waits
 * (its m-line would take the place of one in the client's first offer). Then
 * it goes onto an m-line the client offered to receive on (a viewer, WHEP),
 * else onto one an ended subscription left (so a long-lived participant in a
 * busy room keeps a bounded SDP), else onto a new one; with fixed media (WHIP/
 * WHEP: the client's one offer is all there is) only onto offered ones.
 */
import { MediaStream, type RTCPeerConnection, type RTCRtpTransceiver } from 'werift';
import type { InboundTrack } from '../publications/inbound-track.js';
import { reviveSender } from '../werift/sender.js';
import { Forwarder, type ForwarderStats } from './forwarder.js';
import { type ForwardingMode, NaiveForwarder } from './naive-forwarder.js';

export interface SubscriptionSnapshot extends ForwarderStats {
  trackId: string;
  publisherId: string;
  kind: string;
  ssrc: number;
  /** Simulcast layer (rid) forwarded, null without simulcast; and switches so far. */
  layer: string | null;
  layerSwitches: number;
}

export interface SubscriptionsOptions {
  forwarding: ForwardingMode;
  /** WHIP/WHEP: only the m-lines of the client's one offer; the server never offers. */
  fixedMedia: boolean;
  /** Only this publisher's tracks (WHEP on /whep/ROOM/PUBLISHER). */
  onlyPublisher?: string;
  /** Ask for a server offer (m-lines were added, reused or stopped). */
  requestOffer(): void;
}

/** One subscribed track: the sendonly transceiver toward this participant and its forwarder. */
interface Subscription {
  transceiver: RTCRtpTransceiver;
  forwarder: Forwarder;
}

export class Subscriptions {
  private readonly subscriptions = new Map<string, Subscription>();
  /** Asked for before the first offer/answer exchange, by key. */
  private readonly waiting = new Map<string, { tracks: InboundTrack[]; streamId: string }>();
  /** Transceivers of ended subscriptions (inactive once negotiated), for the next ones. */
  private readonly freeTransceivers: RTCRtpTransceiver[] = [];
  /** The first offer (the client's or ours) is being applied: subscriptions need not wait. */
  private started = false;
  /** Inside begin(): an exchange is being applied, so the SDP about to be made covers offered m-lines. */
  private applying = false;
  private closed = false;

  constructor(
    private readonly pc: RTCPeerConnection,
    private readonly opts: SubscriptionsOptions,
  ) {}

  /**
   * Start receiving `track` (another participant's, or our own for the echo).
   * Before the first exchange the subscription waits and undefined is returned.
   */
  subscribe(track: InboundTrack, streamId: string, key = track.id): Forwarder | undefined {
    if (this.closed || (this.opts.onlyPublisher !== undefined && streamId !== this.opts.onlyPublisher)) return undefined;
    if (!this.started) {
      const waiting = this.waiting.get(key);
      if (waiting) waiting.tracks.push(track);
      else this.waiting.set(key, { tracks: [track], streamId });
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
    const transceiver =
      offered ??
      (this.opts.fixedMedia
        ? undefined
        : (this.reuseTransceiver(track.kind, streamId) ?? this.pc.addTransceiver(track.kind, { direction: 'sendonly', streams: [new MediaStream({ id: streamId })] })));
    if (!transceiver) return undefined;
    const forwarder = this.opts.forwarding === 'naive' ? new NaiveForwarder(track, transceiver.sender) : new Forwarder(track, transceiver.sender);
    this.subscriptions.set(key, { transceiver, forwarder });
    // An offered m-line taken while an exchange is applied is in the SDP being made; others need an offer.
    if (!(offered && this.applying)) this.opts.requestOffer();
    return forwarder;
  }

  /** The first exchange is under way (or done): the waiting subscriptions go onto m-lines now. */
  begin(): void {
    this.started = true;
    this.applying = true;
    try {
      this.startWaiting();
    } finally {
      this.applying = false;
    }
  }

  /** The subscriptions made before the first exchange (their tracks may have ended meanwhile). */
  startWaiting(): void {
    if (this.closed || !this.started) return;
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const [key, { tracks, streamId }] of waiting) {
      for (const track of tracks) if (!track.isClosed) this.subscribe(track, streamId, key);
    }
  }

  /** Stop receiving a subscription; its m-line goes inactive at the next negotiation. */
  unsubscribe(key: string): void {
    this.waiting.delete(key);
    const sub = this.subscriptions.get(key);
    if (!sub) return;
    this.subscriptions.delete(key);
    sub.forwarder.close();
    if (this.closed) return;
    this.pc.removeTrack(sub.transceiver.sender);
    if (!this.opts.fixedMedia) this.freeTransceivers.push(sub.transceiver);
    this.opts.requestOffer();
  }

  /** The forwarder of a subscription, if any. */
  get(key: string): Forwarder | undefined {
    return this.subscriptions.get(key)?.forwarder;
  }

  get keys(): string[] {
    return [...this.subscriptions.keys()];
  }

  /** The client's tile for `publisherName`'s video is `height` px tall: pick layers to match. */
  setTileHeight(publisherName: string, height: number): void {
    for (const [key, sub] of this.subscriptions) {
      if (key.startsWith(`${publisherName}/video/`)) sub.forwarder.setMaxHeight(height);
    }
  }

  snapshot(): SubscriptionSnapshot[] {
    return [...this.subscriptions.values()].map(({ forwarder: f }) => ({
      trackId: f.currentSource.id,
      publisherId: f.currentSource.publisherId,
      kind: f.currentSource.kind,
      ssrc: f.sender.ssrc,
      layer: f.layer ?? null,
      layerSwitches: f.layerSwitches,
      ...f.stats,
    }));
  }

  close(): void {
    this.closed = true;
    for (const { forwarder } of this.subscriptions.values()) forwarder.close();
    this.subscriptions.clear();
    this.waiting.clear();
  }

  /**
   * An m-line an ended subscription left (inactive, or about to be), made to send
   * `streamId` as a new stream (new SSRC and msid: the browser sees a new track on it).
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
}
