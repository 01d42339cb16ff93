/**
 * What one participant publishes: an InboundTrack per received stream (each
 * simulcast layer is one; the layers of one published track share a group),
 * the publishing rights and the track limit, and the congestion feedback
 * toward the publisher (one REMB per published video, every second), and
 * dynacast (dynacast.ts): which layers of each video anyone wants, told to the
 * publisher when that changes.
 */
import { EventEmitter } from 'node:events';
import type { MediaStreamTrack, RTCRtpTransceiver } from 'werift';
import { wantedRids } from './dynacast.js';
import { InboundTrack } from './inbound-track.js';

/** How often each publisher gets a REMB summarizing its subscribers' estimates. */
const REMB_INTERVAL_MS = 1000;
/**
 * Dynacast: a layer nobody wants any more stays on this long before the publisher is told to
 * stop it (turning on is at once). Subscribers' wishes move while they switch and while their
 * estimates settle; each change restarts the publisher's encoders, so quick flips cost frames.
 */
const LAYER_OFF_DELAY_MS = 3000;
/** Never ask a publisher for less than this (its lowest layer keeps flowing). */
const MIN_REMB_BPS = 150_000;

export interface PublicationsOptions {
  /** May this participant send media (the room token's right)? */
  canPublish: boolean;
  /** Most tracks (simulcast layers of one track count once). */
  maxTracks: number;
  /** Tell the publisher which layers anyone receives (dynacast.ts). */
  dynacast: boolean;
}

export interface PublicationsEvents {
  track: [InboundTrack];
  /** Dynacast: send only these layers (rids, '' without simulcast; none: the video is not watched) on m-line `mid`. */
  layers: [mid: string, active: string[]];
  refused: [code: 'forbidden' | 'too-many-tracks', message: string];
}

export class Publications extends EventEmitter<PublicationsEvents> {
  /** By track id. */
  readonly tracks = new Map<string, InboundTrack>();
  private toldForbidden = false;
  private closed = false;
  /** The transceiver of each published track (group), for its mid. */
  private readonly transceivers = new Map<string, RTCRtpTransceiver>();
  /** Per group: the layers last told to the publisher (as JSON). */
  private readonly toldLayers = new Map<string, string>();
  /** Per group and rid: when some sink last wanted it. */
  private readonly wantedAt = new Map<string, Map<string, number>>();
  private layersQueued = false;
  private readonly remb: NodeJS.Timeout;

  constructor(
    private readonly publisherId: string,
    private readonly opts: PublicationsOptions,
  ) {
    super();
    this.remb = setInterval(() => {
      this.summarizeEstimates();
      this.updateLayers(); // the Forwarders' wishes move with tiles, estimates and time
    }, REMB_INTERVAL_MS);
    this.remb.unref();
  }

  /** An m-line the client may publish on: its tracks (one, or one per simulcast layer) become InboundTracks. */
  receiveOn(transceiver: RTCRtpTransceiver): void {
    transceiver.onTrack.subscribe((track) => this.onTrack(track, transceiver));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.remb);
    for (const t of this.tracks.values()) t.close();
    this.removeAllListeners();
  }

  private onTrack(track: MediaStreamTrack, transceiver: RTCRtpTransceiver): void {
    if (this.closed) return;
    // An m-line the client offered recvonly carries nothing from it (werift still makes a track).
    if (transceiver.offerDirection === 'sendonly') return;
    // With simulcast the layers are the rid tracks; an SSRC-signalled track beside them is not media.
    if (!track.rid && Object.keys(transceiver.receiver.trackByRID).length > 0) return;
    if (!this.opts.canPublish) {
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
    const groups = new Set([...this.tracks.values()].map((t) => t.group));
    if (!groups.has(transceiver.id) && groups.size >= this.opts.maxTracks) {
      this.emit('refused', 'too-many-tracks', `at most ${this.opts.maxTracks} tracks per participant: this one is not forwarded`);
      return;
    }
    const inbound = new InboundTrack(track, transceiver.receiver, this.publisherId, transceiver.id);
    this.tracks.set(inbound.id, inbound);
    this.transceivers.set(transceiver.id, transceiver);
    if (inbound.kind === 'video') inbound.onSinksChanged = () => this.queueLayers();
    this.emit('track', inbound);
    this.queueLayers();
  }

  /** Sinks came or went: look again soon (once for a burst, e.g. a subscriber's switch). */
  private queueLayers(): void {
    if (this.layersQueued || this.closed) return;
    this.layersQueued = true;
    queueMicrotask(() => {
      this.layersQueued = false;
      this.updateLayers();
    });
  }

  /** Dynacast: per published video, the layers its sinks want; the publisher is told of changes. */
  private updateLayers(): void {
    if (this.closed || !this.opts.dynacast) return;
    for (const [group, layers] of this.videoGroups()) {
      const transceiver = this.transceivers.get(group);
      if (!transceiver?.mid) continue;
      const now = performance.now();
      const seen = this.wantedAt.get(group) ?? new Map<string, number>();
      this.wantedAt.set(group, seen);
      for (const rid of wantedRids(layers)) seen.set(rid, now);
      const active = [...seen]
        .filter(([, at]) => now - at < LAYER_OFF_DELAY_MS)
        .map(([rid]) => rid)
        .sort();
      const key = JSON.stringify(active); // [] and [''] differ
      if (this.toldLayers.get(group) === key) continue;
      this.toldLayers.set(group, key);
      this.emit('layers', transceiver.mid, active);
    }
  }

  /** Open video tracks by group (the layers of one published video). */
  private videoGroups(): Map<string, InboundTrack[]> {
    const groups = new Map<string, InboundTrack[]>();
    for (const t of this.tracks.values()) {
      if (t.kind !== 'video' || t.isClosed) continue;
      const list = groups.get(t.group) ?? [];
      list.push(t);
      groups.set(t.group, list);
    }
    return groups;
  }

  /**
   * Congestion feedback toward this publisher: per published video (all its simulcast
   * layers together), one REMB with the largest estimate among its subscribers, so it
   * sends no more than the best-connected one can take (lower layers serve the others).
   */
  private summarizeEstimates(): void {
    if (this.closed) return;
    for (const layers of this.videoGroups().values()) {
      const estimates = layers.flatMap((l) => l.sinkEstimates());
      if (estimates.length === 0) continue;
      const ssrcs = layers.flatMap((l) => (l.ssrc === undefined ? [] : [l.ssrc]));
      if (ssrcs.length) layers[0]!.sendRemb(Math.max(MIN_REMB_BPS, ...estimates), ssrcs);
    }
  }
}
