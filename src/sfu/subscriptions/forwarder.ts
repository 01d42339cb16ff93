import { GenericNack, RtcpPayloadSpecificFeedback, type RTCRtpSender, type RtpPacket } from 'werift';
import { Vp8Munger } from '../codecs/vp8-munger.js';
import type { InboundTrack, PacketSink } from '../publications/inbound-track.js';
import { PSFB_FIR, PSFB_PLI, PSFB_REMB } from '../werift/rtcp.js';
import { RtpWriter } from '../werift/rtp-writer.js';
import { receiverReport } from '../werift/sender.js';
import { type LayerChoice, layerRank, selectLayer } from './layer-selector.js';
import { type NackCounts, NackResponder } from './nack-responder.js';
import { PausePolicy } from './pause-policy.js';
import type { SentRecord } from './retransmit-limiter.js';
import { RtpRewriter } from './rewriter.js';

export interface ForwarderStats {
  packetsOut: number;
  bytesOut: number;
  keyframeRequestsIn: number;
  /** NACK messages received from the subscriber. */
  nacksIn: number;
  /** NACK messages of which at least one packet was retransmitted from the cache. */
  nacksAnswered: number;
  /** Packets retransmitted. */
  retransmissions: number;
  nackMisses: number;
  /** NACKed packets not resent (retransmit-limiter.ts): sent too long ago, resent enough already, within an RTT of their last resend, over the subscriber's budget. */
  rtxRefusedTooOld: number;
  rtxRefusedTooMany: number;
  rtxRefusedTooSoon: number;
  rtxRefusedOverBudget: number;
  /** Times the subscriber was found over its retransmission budget for 2 s (each took it a layer down for CONGESTION_HOLD_MS). */
  rtxCongestion: number;
  /**
   * Keyframes asked of the publisher because the subscriber kept asking for a packet the
   * SFU never received (lost on the way in, not recovered): its decoder cannot go on without one.
   */
  keyframesForLoss: number;
  /** The subscriber's latest bandwidth estimate (REMB), bps, or null. */
  estimateBps: number | null;
}

/** What the NACK cache keeps per outgoing packet: the source packet, its rewritten fields, its resends. */
interface SentPacket extends SentRecord {
  source: RtpPacket;
  timestamp: number;
  /** The payload as sent, when it differs from the source's (VP8 picture id rewritten). */
  payload: Buffer;
}

/** Loss (fraction, from the subscriber's receiver reports) above which a layer steps down. */
const CONGESTED_LOSS = 0.1;
/** How long a congested subscriber stays one layer down. */
const CONGESTION_HOLD_MS = 5000;
/** A REMB older than this no longer counts (browsers send one about every second). */
const ESTIMATE_TTL_MS = 5000;

/**
 * One (track, subscriber) pair: owns all rewriting toward that subscriber
 * (SSRC, payload type, sequence numbers, timestamps, header extensions),
 * answers the subscriber's NACKs from its own cache (within the limits of
 * retransmit-limiter.ts) and turns its
 * PLI/FIR into coalesced keyframe requests upstream.
 *
 * The source packet is never mutated: werift hands the same object to every sink.
 */
export class Forwarder implements PacketSink {
  readonly stats: ForwarderStats = {
    packetsOut: 0,
    bytesOut: 0,
    keyframeRequestsIn: 0,
    nacksIn: 0,
    nacksAnswered: 0,
    retransmissions: 0,
    nackMisses: 0,
    rtxRefusedTooOld: 0,
    rtxRefusedTooMany: 0,
    rtxRefusedTooSoon: 0,
    rtxRefusedOverBudget: 0,
    rtxCongestion: 0,
    keyframesForLoss: 0,
    estimateBps: null,
  };
  private readonly rewriter: RtpRewriter;
  private readonly nacks = new NackResponder<SentPacket>();
  private readonly disposers: (() => void)[] = [];
  private readonly writer: RtpWriter;
  private readonly munger: Vp8Munger | undefined;
  private needKeyframe: boolean;
  private closed = false;
  /** Every simulcast layer of the published track (one entry without simulcast). */
  private layers: InboundTrack[];
  /** A layer we switch to at its next keyframe. */
  private target: InboundTrack | undefined;
  /** The subscriber's tile height: the smallest layer at least this tall is enough. */
  private maxHeight = Infinity;
  /** The highest layer the subscriber's budget allows (allocator.ts); undefined: no limit. */
  private ceiling: InboundTrack | undefined;
  /** Paused for bandwidth (nothing forwarded), grace and retries: pause-policy.ts. */
  private readonly pausing = new PausePolicy(performance.now());
  /** The subscriber does not show this video now (a 0 x 0 tile): nothing is forwarded. */
  private hidden = false;
  private congestedUntil = 0;
  /** Layer switches done (for state and tests). */
  layerSwitches = 0;

  constructor(
    private source: InboundTrack,
    readonly sender: RTCRtpSender,
    /** Told when the subscriber sends a new bandwidth estimate (Subscriptions re-allocates). */
    private readonly onEstimate?: () => void,
  ) {
    this.writer = new RtpWriter(sender);
    this.rewriter = new RtpRewriter(source.clockRate);
    this.munger = source.mimeType.toLowerCase() === 'video/vp8' ? new Vp8Munger() : undefined;
    this.needKeyframe = source.kind === 'video';
    this.layers = [source];
    source.addSink(this);
    if (this.needKeyframe) source.requestKeyframe(false);
  }

  private estimateAt = 0;
  private lastLayerChangeAt = 0;
  private maxHeightChangedAt = 0;

  /** The subscriber's bandwidth estimate (REMB), bps, if it sent one in the last 5 s. */
  get estimateBps(): number | null {
    return this.stats.estimateBps !== null && performance.now() - this.estimateAt < ESTIMATE_TTL_MS ? this.stats.estimateBps : null;
  }

  /** The simulcast layer (rid) being forwarded, if any. */
  get layer(): string | undefined {
    return this.source.rid;
  }

  /** Another simulcast layer of the same published track became available. */
  addLayer(layer: InboundTrack): void {
    if (this.layers.includes(layer)) return;
    this.layers.push(layer);
    this.chooseLayer();
  }

  /** The subscriber's tile for this track is `height` pixels tall (device pixels); 0: not shown. */
  setMaxHeight(height: number): void {
    const hide = height <= 0 && this.source.kind === 'video';
    if (hide !== this.hidden) {
      this.hidden = hide;
      if (!hide) this.restart();
    }
    if (height > 0) this.maxHeight = height;
    this.maxHeightChangedAt = performance.now();
    this.chooseLayer();
  }

  /** Nothing is forwarded: paused for bandwidth or not shown. */
  private get stopped(): boolean {
    return this.pausing.paused || this.hidden;
  }

  /** Forwarding again after a stop: the sequence goes on without the gap, from a keyframe. */
  private restart(): void {
    this.pausing.restarted(performance.now());
    this.rewriter.restart();
    this.needKeyframe = true;
    this.source.requestKeyframe(false);
  }

  /**
   * Dynacast (publications/dynacast.ts): the layer it would forward if every known layer
   * were sent (a layer nobody wants is off, so not live), and, until it has switched there,
   * the ones it forwards and awaits now. Nothing while stopped.
   */
  wants(layers: readonly InboundTrack[]): readonly InboundTrack[] {
    if (this.closed || this.stopped || this.source.kind !== 'video') return [];
    const desired = selectLayer(
      this.choice(
        layers.filter((l) => !l.isClosed),
        this.target ?? this.source,
        performance.now(),
      ),
    );
    const out = new Set<InboundTrack>();
    if (desired) out.add(desired);
    if (desired !== this.source && !this.source.isClosed) out.add(this.source);
    if (this.target && desired !== this.target) out.add(this.target);
    return [...out];
  }

  /** The tile height (Infinity: unknown), the published layers, the layer forwarded or awaited: what the allocator reads. */
  get demand(): { tileHeight: number; layers: readonly InboundTrack[]; current: InboundTrack | undefined; hidden: boolean } {
    return { tileHeight: this.maxHeight, layers: this.layers, current: this.pausing.paused ? undefined : (this.target ?? this.source), hidden: this.hidden };
  }

  get paused(): boolean {
    return this.pausing.paused;
  }

  /**
   * The allocator's decision: the highest layer this video may have (undefined: no limit),
   * or null: paused (nothing forwarded; it resumes at a keyframe).
   */
  allot(ceiling: InboundTrack | null | undefined): void {
    if (this.source.kind !== 'video') return;
    const wasPaused = this.pausing.paused;
    const verdict = this.pausing.decide(ceiling !== null, performance.now());
    if (verdict === 'paused') return;
    this.ceiling = verdict === 'lowest' ? this.layers.reduce((low, l) => (layerRank(l) < layerRank(low) ? l : low)) : (ceiling ?? undefined);
    if (wasPaused && !this.hidden) this.restart();
    this.chooseLayer();
  }

  /** What selectLayer reads: these layers, this forwarder's tile, ceiling, congestion and switch times. */
  private choice(live: InboundTrack[], current: InboundTrack, now: number): LayerChoice<InboundTrack> {
    return {
      live,
      current,
      maxHeight: this.maxHeight,
      ceiling: this.ceiling,
      congested: now < this.congestedUntil,
      now,
      lastLayerChangeAt: this.lastLayerChangeAt,
      maxHeightChangedAt: this.maxHeightChangedAt,
    };
  }

  /** Pick the layer (layer-selector.ts) for the tile size, the estimate and the loss; switch at that layer's keyframe. */
  private chooseLayer(): void {
    // Layers the publisher is sending now (it drops the top ones when short of bandwidth or CPU).
    const live = this.layers.filter((l) => l.isActive);
    const current = this.target ?? this.source;
    if (this.closed || live.length === 0 || (live.length === 1 && live[0] === current)) return;
    const now = performance.now();
    const next = selectLayer(this.choice(live, current, now));
    if (!next) return;
    if (next !== current) this.lastLayerChangeAt = now;
    this.switchLayer(next);
  }

  private switchLayer(layer: InboundTrack): void {
    if (layer === this.target) return;
    if (this.target && this.target !== this.source) this.target.removeSink(this);
    if (layer === this.source) {
      this.target = undefined;
      return;
    }
    this.target = layer;
    layer.addSink(this);
    layer.requestKeyframe(false);
  }

  get ready(): boolean {
    if (this.closed || this.sender.dtlsTransport?.state !== 'connected' || this.sender.codec === undefined) return false;
    if (!this.listening) this.listen();
    return true;
  }

  get currentSource(): InboundTrack {
    return this.source;
  }

  private listening = false;

  /**
   * Feedback is demultiplexed here by media SSRC: werift's router sends PSFB to
   * whatever owns the *sender* SSRC, which on a sendrecv transceiver is the receiver.
   * Attached once the sender's transport is connected (a new transceiver has none before).
   */
  private listen(): void {
    this.listening = true;
    const transport = this.sender.dtlsTransport;
    this.disposers.push(transport.onRtcp.subscribe((packet) => this.onRtcp(packet)).unSubscribe);
  }

  /** Move to another source (a reconnected publisher): continues seq/ts, waits for a keyframe. */
  switchSource(source: InboundTrack): void {
    if (source === this.source) return;
    this.source.removeSink(this);
    if (this.target) this.target.removeSink(this);
    this.target = undefined;
    this.layers = [source];
    this.source = source;
    source.addSink(this);
    if (source.kind === 'video') {
      this.needKeyframe = true;
      source.requestKeyframe(false);
    }
  }

  write(packet: RtpPacket, keyframe: boolean, from: InboundTrack = this.source): void {
    if (this.stopped) return;
    if (this.admit(keyframe, from)) this.forward(packet);
  }

  /** Whether a packet from `from` goes out: layer takeover at a keyframe, transport up, keyframe gate. */
  protected admit(keyframe: boolean, from: InboundTrack): boolean {
    if (from !== this.source) {
      // A pending layer: take it over at its keyframe, else ignore it.
      if (from !== this.target || !keyframe) return false;
      this.source.removeSink(this);
      this.source = from;
      this.target = undefined;
      this.layerSwitches++;
    }
    if (!this.ready) {
      if (this.source.kind === 'video') this.needKeyframe = true;
      return false;
    }
    if (this.needKeyframe) {
      if (!keyframe) {
        this.source.requestKeyframe(false);
        return false;
      }
      this.needKeyframe = false;
    }
    return true;
  }

  /** Rewrite (seq, timestamp, VP8 picture id), keep for NACKs, send. */
  protected forward(packet: RtpPacket): void {
    const now = performance.now();
    const out = this.rewriter.rewrite(packet.header.ssrc, packet.header.sequenceNumber, packet.header.timestamp, now);
    if (!out) return;
    const payload = this.munger ? this.munger.munge(this.source, packet.payload) : packet.payload;
    this.nacks.sent(out.seq, { source: packet, timestamp: out.timestamp, payload, sentAt: now, resends: 0, lastResentAt: 0 });
    this.send(packet, payload, out.seq, out.timestamp, false, now);
  }

  /** The subscriber's round-trip time (s) and loss fraction from its receiver reports, if any yet. */
  get receiverReport(): { rttS: number | undefined; fractionLost: number | undefined } {
    return receiverReport(this.sender);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.source.removeSink(this);
    this.target?.removeSink(this);
    for (const dispose of this.disposers) dispose();
    this.nacks.clear();
  }

  /** `now`: performance.now(), read once per packet by the caller. */
  private send(packet: RtpPacket, body: Buffer, seq: number, timestamp: number, retransmission: boolean, now: number): void {
    this.stats.packetsOut++;
    this.stats.bytesOut += packet.payload.length;
    if (retransmission) this.stats.retransmissions++;
    const src = packet.header;
    this.writer.write(seq, timestamp, src.marker, body, src.padding ? src.paddingSize : 0, retransmission, now);
  }

  private onRtcp(packet: unknown): void {
    if (this.closed) return;
    const ssrc = this.sender.ssrc;
    if (packet instanceof RtcpPayloadSpecificFeedback) {
      const fb = packet.feedback as { count: number; mediaSsrc?: number; fir?: { ssrc: number }[]; ssrcFeedbacks?: number[]; bitrate?: bigint };
      if (fb.count === PSFB_REMB) {
        if (fb.ssrcFeedbacks?.includes(ssrc) && typeof fb.bitrate === 'bigint') {
          this.stats.estimateBps = Number(fb.bitrate);
          this.estimateAt = performance.now();
          if (this.onEstimate) this.onEstimate();
          else this.chooseLayer();
        }
        return;
      }
      const forUs = fb.count === PSFB_PLI ? fb.mediaSsrc === ssrc : fb.count === PSFB_FIR && !!fb.fir?.some((e) => e.ssrc === ssrc);
      if (forUs) {
        this.stats.keyframeRequestsIn++;
        this.source.requestKeyframe();
      }
      return;
    }
    const reports = (packet as { type?: number; reports?: { ssrc: number; fractionLost: number }[] }).reports;
    if ((packet as { type?: number }).type === 201 && reports) {
      const mine = reports.find((r) => r.ssrc === ssrc);
      if (mine) {
        if (mine.fractionLost / 256 > CONGESTED_LOSS) this.congestedUntil = performance.now() + CONGESTION_HOLD_MS;
        this.chooseLayer(); // about once a second: also steps back up once the loss is gone
      }
      return;
    }
    const feedback = (packet as { feedback?: unknown }).feedback;
    if (feedback instanceof GenericNack && feedback.mediaSourceSsrc === ssrc) {
      this.stats.nacksIn++;
      const now = performance.now();
      const rttS = receiverReport(this.sender).rttS;
      const counts: NackCounts = { nackMisses: 0, refused: { 'too-old': 0, 'too-many': 0, 'too-soon': 0, 'over-budget': 0 } };
      const outcome = this.nacks.answer(feedback.lost, now, rttS === undefined ? undefined : rttS * 1000, counts, (seq, sent) =>
        this.send(sent.source, sent.payload, seq, sent.timestamp, true, now),
      );
      const st = this.stats;
      st.nackMisses += counts.nackMisses;
      st.rtxRefusedTooOld += counts.refused['too-old'];
      st.rtxRefusedTooMany += counts.refused['too-many'];
      st.rtxRefusedTooSoon += counts.refused['too-soon'];
      st.rtxRefusedOverBudget += counts.refused['over-budget'];
      if (outcome.answered) st.nacksAnswered++;
      if (outcome.keyframe) {
        // Coalesced upstream (at most one PLI per 500 ms for all subscribers).
        st.keyframesForLoss++;
        this.source.requestKeyframe(false);
      }
      if (outcome.congested) {
        // It asks for more than it can take: what it gets must shrink (one layer down, held).
        if (now >= this.congestedUntil) this.stats.rtxCongestion++;
        this.congestedUntil = now + CONGESTION_HOLD_MS;
        this.chooseLayer();
      }
    }
  }
}
