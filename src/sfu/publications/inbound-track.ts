import type { MediaStreamTrack, RTCRtpReceiver, RtpPacket } from 'werift';
import { KeyframeRequester } from './keyframe-requester.js';
import { isKeyframe, vp8KeyframeSize } from '../codecs/vp8.js';
import { rembPacket } from '../werift/rtcp.js';

export interface InboundTrackStats {
  packetsIn: number;
  bytesIn: number;
  keyframesIn: number;
  /** PLIs sent to the publisher (after coalescing). */
  keyframeRequestsSent: number;
  /** PLI/FIR received from subscribers for this track. */
  keyframeRequestsReceived: number;
  /** Losses too big for NACKs (an outage, a long jump in sequence numbers): each asked for a keyframe. */
  gapsIn: number;
  /** The latest REMB the SFU sent the publisher for this stream (bps), or null. */
  rembSentBps: number | null;
}

/** A stream with no packet for this long counts as stopped (browsers drop simulcast layers under constraint). */
const ACTIVE_WITHIN_MS = 1500;
/**
 * A jump in the publisher's sequence numbers this large, or any jump after this long
 * without packets, is a loss NACKs cannot repair (an outage): ask for a keyframe at once
 * instead of waiting for a subscriber's decoder to give up (Chromium waits 3 s).
 */
const UNRECOVERABLE_GAP_PACKETS = 100;
const UNRECOVERABLE_GAP_MS = 1000;

/** Something that takes a publisher's packets: a subscriber's Forwarder (or NaiveForwarder), a Recorder. */
export interface PacketSink {
  write(packet: RtpPacket, keyframe: boolean, from: InboundTrack): void;
  /** The subscriber's bandwidth estimate (REMB), bps, when it has sent one lately. */
  readonly estimateBps?: number | null;
  /** Dynacast (dynacast.ts): the layers of this published video it needs now (none: empty). */
  wants?(layers: readonly InboundTrack[]): readonly InboundTrack[];
}

/**
 * One stream a participant publishes (one SSRC / simulcast layer).
 * Fans packets out to its sinks without copying them; owns the keyframe
 * request throttle toward the publisher.
 */
export class InboundTrack {
  readonly id: string;
  readonly kind: 'audio' | 'video';
  /** Simulcast layer id (rid), if the publisher sends layers. */
  readonly rid: string | undefined;
  /** Frame size from the latest VP8 keyframe. */
  width = 0;
  height = 0;
  private learnedSsrc: number | undefined;
  readonly stats: InboundTrackStats = {
    packetsIn: 0,
    bytesIn: 0,
    keyframesIn: 0,
    keyframeRequestsSent: 0,
    keyframeRequestsReceived: 0,
    gapsIn: 0,
    rembSentBps: null,
  };
  /** Received bitrate (RTP payload), bps, over the last full second. */
  bitrateBps = 0;
  /**
   * What this stream takes when it flows: the highest 1 s bitrate, decaying by a tenth a
   * second. Unlike bitrateBps it does not read low while a layer ramps up after being off
   * (dynacast), so the allocator does not mistake a restarting layer for a cheap one.
   */
  typicalBps = 0;
  private lastPacketAt = 0;
  /** Highest sequence number seen (-1: none yet). */
  private lastSeq = -1;
  private rateWindowStart = 0;
  private rateWindowBytes = 0;
  private readonly sinkSet = new Set<PacketSink>();
  /** Called when a sink is added or removed (Publications: dynacast). */
  onSinksChanged: (() => void) | undefined;
  private readonly keyframes: KeyframeRequester;
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(
    readonly track: MediaStreamTrack,
    private readonly receiver: RTCRtpReceiver,
    /** The publishing participant's id. */
    readonly publisherId: string,
    /** Layers of one published track share a group (the transceiver). */
    readonly group: string = track.uuid,
  ) {
    this.id = track.uuid;
    this.rid = track.rid;
    this.kind = track.kind === 'audio' ? 'audio' : 'video';
    this.keyframes = new KeyframeRequester({
      send: () => {
        const ssrc = this.ssrc;
        if (ssrc === undefined) return;
        this.stats.keyframeRequestsSent++;
        this.receiver.sendRtcpPLI(ssrc).catch(() => undefined);
      },
    });
    this.unsubscribe = track.onReceiveRtp.subscribe((packet) => this.onPacket(packet)).unSubscribe;
  }

  get mimeType(): string {
    return this.track.codec?.mimeType ?? (this.kind === 'audio' ? 'audio/opus' : 'video/VP8');
  }

  get clockRate(): number {
    return this.track.codec?.clockRate ?? (this.kind === 'audio' ? 48000 : 90000);
  }

  /** The media SSRC: signalled, or learned from the first packet (simulcast layers by rid). */
  get ssrc(): number | undefined {
    return this.track.ssrc ?? this.learnedSsrc;
  }

  get subscriberCount(): number {
    return this.sinkSet.size;
  }

  get sinks(): ReadonlySet<PacketSink> {
    return this.sinkSet;
  }

  addSink(sink: PacketSink): void {
    if (this.closed) throw new Error('track is closed');
    if (this.sinkSet.has(sink)) return;
    this.sinkSet.add(sink);
    this.onSinksChanged?.();
  }

  removeSink(sink: PacketSink): void {
    if (this.sinkSet.delete(sink)) this.onSinksChanged?.();
  }

  /**
   * Ask the publisher for a keyframe (coalesced; retried until one arrives).
   * `fromSubscriber`: a subscriber's PLI/FIR (counted), not the SFU's own need.
   */
  requestKeyframe(fromSubscriber = true): void {
    if (this.kind !== 'video' || this.closed) return;
    if (fromSubscriber) this.stats.keyframeRequestsReceived++;
    this.keyframes.request();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Stop receiving. Sinks are detached, not closed: whoever owns them (the Room)
   * decides whether they end or move to another source (a reconnected publisher).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.keyframes.close();
    this.sinkSet.clear();
    this.onSinksChanged = undefined;
  }

  /** Packets arrived lately (a simulcast layer the publisher stopped sending is not). */
  get isActive(): boolean {
    return !this.closed && performance.now() - this.lastPacketAt < ACTIVE_WITHIN_MS;
  }

  /** The freshest bandwidth estimates of the subscribers this stream goes to. */
  sinkEstimates(): number[] {
    const out: number[] = [];
    for (const sink of this.sinkSet) if (typeof sink.estimateBps === 'number') out.push(sink.estimateBps);
    return out;
  }

  /** Tell the publisher how much its subscribers can take (REMB for `ssrcs`, e.g. every layer). */
  sendRemb(bitrate: number, ssrcs: number[]): void {
    const transport = this.receiver.dtlsTransport;
    if (this.closed || !transport || transport.state !== 'connected') return;
    transport.sendRtcp([rembPacket(0, bitrate, ssrcs)]).catch(() => undefined);
    this.stats.rembSentBps = Math.round(bitrate);
  }

  private onPacket(packet: RtpPacket): void {
    if (this.closed) return;
    this.stats.packetsIn++;
    this.stats.bytesIn += packet.payload.length;
    const now = performance.now();
    // Forward distance from the highest sequence number so far (0: first packet, or a new SSRC).
    const seq = packet.header.sequenceNumber;
    const sameStream = this.lastSeq >= 0 && this.learnedSsrc === packet.header.ssrc;
    const jump = sameStream ? (seq - this.lastSeq) & 0xffff : 0;
    if (jump > 1 && jump < 0x8000 && this.kind === 'video' && (jump > UNRECOVERABLE_GAP_PACKETS || now - this.lastPacketAt > UNRECOVERABLE_GAP_MS)) {
      this.stats.gapsIn++;
      this.keyframes.request();
    }
    if (!sameStream || jump < 0x8000) this.lastSeq = seq; // a late (older) packet leaves it
    this.lastPacketAt = now;
    if (now - this.rateWindowStart >= 1000) {
      if (this.rateWindowStart > 0) {
        this.bitrateBps = Math.round((this.rateWindowBytes * 8 * 1000) / (now - this.rateWindowStart));
        this.typicalBps = Math.max(this.bitrateBps, Math.round(this.typicalBps * 0.9));
      }
      this.rateWindowStart = now;
      this.rateWindowBytes = 0;
    }
    this.rateWindowBytes += packet.payload.length;
    this.learnedSsrc = packet.header.ssrc;
    const keyframe = this.kind === 'video' && isKeyframe(this.mimeType, packet.payload);
    if (keyframe) {
      this.stats.keyframesIn++;
      this.keyframes.keyframeReceived();
      const size = vp8KeyframeSize(packet.payload);
      if (size) {
        this.width = size.width;
        this.height = size.height;
      }
    }
    for (const sink of this.sinkSet) sink.write(packet, keyframe, this);
  }
}
