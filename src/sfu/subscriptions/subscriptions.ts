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
 *
 * Bandwidth: one budget for the participant (allocator.ts). On every estimate
 * the subscriber sends, every tile change and new layer, and once a second,
 * the allocator shares the estimate among the forwarders and gives each its
 * ceiling, or pauses it (`paused` / `resumed`, told to the client).
 */
import { MediaStream, type RTCPeerConnection, type RTCRtpTransceiver } from 'werift';
import type { InboundTrack } from '../publications/inbound-track.js';
import { reviveSender } from '../werift/sender.js';
import { allocate, type VideoDemand } from './allocator.js';
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
  /** Paused: the subscriber's bandwidth budget has no room for it even at its lowest layer. */
  paused: boolean;
}

export interface SubscriptionsOptions {
  forwarding: ForwardingMode;
  /** WHIP/WHEP: only the m-lines of the client's one offer; the server never offers. */
  fixedMedia: boolean;
  /** Only this publisher's tracks (WHEP on /whep/ROOM/PUBLISHER). */
  onlyPublisher?: string;
  /** Ask for a server offer (m-lines were added, reused or stopped). */
  requestOffer(): void;
  /** A video was paused for bandwidth (true) or resumed (false); `streamId`: its publisher's stream (name). */
  onPaused?(key: string, streamId: string, paused: boolean): void;
}

/** How often the budget is shared out again without a trigger (layers start and stop, bitrates move). */
const REALLOCATE_EVERY_MS = 1000;

/** One subscribed track: the sendonly transceiver toward this participant and its forwarder. */
interface Subscription {
  transceiver: RTCRtpTransceiver;
  forwarder: Forwarder;
  streamId: string;
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
  private allocationQueued = false;
  /** What was forwarded to this participant over the last second (payload bps), and the counter it came from. */
  private deliveredBps = 0;
  private deliveredMark = { at: 0, bytes: 0 };
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pc: RTCPeerConnection,
    private readonly opts: SubscriptionsOptions,
  ) {
    this.timer = setInterval(() => {
      this.measureDelivered();
      this.reallocate();
    }, REALLOCATE_EVERY_MS);
    this.timer.unref();
  }

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
      this.queueAllocation();
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
    const onEstimate = () => this.queueAllocation();
    const forwarder = this.opts.forwarding === 'naive' ? new NaiveForwarder(track, transceiver.sender, onEstimate) : new Forwarder(track, transceiver.sender, onEstimate);
    this.subscriptions.set(key, { transceiver, forwarder, streamId });
    this.queueAllocation();
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
    this.queueAllocation();
  }

  /** Share the budget again soon (once for a burst of triggers: every forwarder sees the same REMB). */
  private queueAllocation(): void {
    if (this.allocationQueued || this.closed) return;
    this.allocationQueued = true;
    queueMicrotask(() => {
      this.allocationQueued = false;
      this.reallocate();
    });
  }

  private measureDelivered(): void {
    let bytes = 0;
    for (const { forwarder } of this.subscriptions.values()) bytes += forwarder.stats.bytesOut;
    const now = performance.now();
    const { at, bytes: before } = this.deliveredMark;
    if (at > 0 && now > at && bytes >= before) this.deliveredBps = ((bytes - before) * 8 * 1000) / (now - at);
    this.deliveredMark = { at: now, bytes };
  }

  /** allocator.ts: the subscriber's one estimate shared by everything it receives. */
  private reallocate(): void {
    if (this.closed || this.subscriptions.size === 0) return;
    let estimateBps: number | null = null;
    let audioBps = 0;
    const videos: VideoDemand<InboundTrack>[] = [];
    for (const [key, { forwarder: f }] of this.subscriptions) {
      const e = f.estimateBps;
      if (e !== null && (estimateBps === null || e > estimateBps)) estimateBps = e;
      if (f.currentSource.kind === 'audio') {
        audioBps += f.currentSource.bitrateBps;
        continue;
      }
      const d = f.demand;
      if (d.hidden) continue; // not shown: takes no share
      // Every known layer, sent now or not: with dynacast a layer nobody wants is off (not live),
      // and a layer given here is what turns it on. The Forwarder forwards a live one under the ceiling.
      videos.push({ key, live: d.layers.filter((l) => !l.isClosed), tileHeight: d.tileHeight, current: d.current, paused: f.paused });
    }
    // A receive-side estimate (REMB) stays within about 1.5x of what arrives, so one at or above
    // what we send says nothing bad (after a publisher's outage it is near zero); only one below it
    // is congestion. Without congestion nothing is paused or taken below what it gets now.
    const congested = estimateBps !== null && estimateBps < this.deliveredBps;
    const allocation = allocate({ estimateBps, audioBps, videos, congested });
    for (const [key, ceiling] of allocation) {
      const sub = this.subscriptions.get(key);
      if (!sub) continue;
      const was = sub.forwarder.paused;
      sub.forwarder.allot(estimateBps === null ? undefined : ceiling);
      if (sub.forwarder.paused !== was) this.opts.onPaused?.(key, sub.streamId, sub.forwarder.paused);
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
      paused: f.paused,
      ...f.stats,
    }));
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
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
