import type { MediaStreamTrack, RTCRtpReceiver, RtpPacket } from 'werift';
import { KeyframeRequester } from './keyframe-requester.js';
import { isKeyframe } from './vp8.js';

export interface InboundTrackStats {
  packetsIn: number;
  bytesIn: number;
  keyframesIn: number;
  /** PLIs sent to the publisher (after coalescing). */
  keyframeRequestsSent: number;
  /** PLI/FIR received from subscribers for this track. */
  keyframeRequestsReceived: number;
}

/** Something that takes a publisher's packets: a Forwarder. */
export interface PacketSink {
  write(packet: RtpPacket, keyframe: boolean): void;
}

/**
 * One stream a participant publishes (one SSRC / simulcast layer).
 * Fans packets out to its sinks without copying them; owns the keyframe
 * request throttle toward the publisher.
 */
export class InboundTrack {
  readonly id: string;
  readonly kind: 'audio' | 'video';
  readonly stats: InboundTrackStats = {
    packetsIn: 0,
    bytesIn: 0,
    keyframesIn: 0,
    keyframeRequestsSent: 0,
    keyframeRequestsReceived: 0,
  };
  private readonly sinks = new Set<PacketSink>();
  private readonly keyframes: KeyframeRequester;
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(
    readonly track: MediaStreamTrack,
    private readonly receiver: RTCRtpReceiver,
    /** The publishing participant's id. */
    readonly publisherId: string,
  ) {
    this.id = track.id ?? track.uuid;
    this.kind = track.kind === 'audio' ? 'audio' : 'video';
    this.keyframes = new KeyframeRequester({
      send: () => {
        const ssrc = this.track.ssrc;
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

  get ssrc(): number | undefined {
    return this.track.ssrc;
  }

  get subscriberCount(): number {
    return this.sinks.size;
  }

  addSink(sink: PacketSink): void {
    if (this.closed) throw new Error('track is closed');
    this.sinks.add(sink);
  }

  removeSink(sink: PacketSink): void {
    this.sinks.delete(sink);
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
    this.sinks.clear();
  }

  private onPacket(packet: RtpPacket): void {
    if (this.closed) return;
    this.stats.packetsIn++;
    this.stats.bytesIn += packet.payload.length;
    const keyframe = this.kind === 'video' && isKeyframe(this.mimeType, packet.payload);
    if (keyframe) {
      this.stats.keyframesIn++;
      this.keyframes.keyframeReceived();
    }
    for (const sink of this.sinks) sink.write(packet, keyframe);
  }
}
