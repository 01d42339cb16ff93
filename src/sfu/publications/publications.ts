/**
 * What one participant publishes: an InboundTrack per received stream (each
 * simulcast layer is one; the layers of one published track share a group),
 * the publishing rights and the track limit, and the congestion feedback
 * toward the publisher (one REMB per published video, every second).
 */
import { EventEmitter } from 'node:events';
import type { MediaStreamTrack, RTCRtpTransceiver } from 'werift';
import { InboundTrack } from './inbound-track.js';

/** How often each publisher gets a REMB summarizing its subscribers' estimates. */
const REMB_INTERVAL_MS = 1000;
/** Never ask a publisher for less than this (its lowest layer keeps flowing). */
const MIN_REMB_BPS = 150_000;

export interface PublicationsOptions {
  /** May this participant send media (the room token's right)? */
  canPublish: boolean;
  /** Most tracks (simulcast layers of one track count once). */
  maxTracks: number;
}

export interface PublicationsEvents {
  track: [InboundTrack];
  refused: [code: 'forbidden' | 'too-many-tracks', message: string];
}

export class Publications extends EventEmitter<PublicationsEvents> {
  /** By track id. */
  readonly tracks = new Map<string, InboundTrack>();
  private toldForbidden = false;
  private closed = false;
  private readonly remb: NodeJS.Timeout;

  constructor(
    private readonly publisherId: string,
    private readonly opts: PublicationsOptions,
  ) {
    super();
    this.remb = setInterval(() => this.summarizeEstimates(), REMB_INTERVAL_MS);
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
    this.emit('track', inbound);
  }

  /**
   * Congestion feedback toward this publisher: per published video (all its simulcast
   * layers together), one REMB with the largest estimate among its subscribers, so it
   * sends no more than the best-connected one can take (lower layers serve the others).
   */
  private summarizeEstimates(): void {
    if (this.closed) return;
    const groups = new Map<string, InboundTrack[]>();
    for (const t of this.tracks.values()) {
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
}
