import { add16, add32, diff16, SeqUnwrapper } from './seq.js';

export interface Rewritten {
  seq: number;
  timestamp: number;
}

/**
 * Maps the sequence numbers and timestamps of one or more successive sources
 * (a publisher's SSRC, a simulcast layer, a reconnected publisher) onto one
 * continuous outgoing stream.
 *
 * - Within a source, gaps are preserved (so the receiver can NACK them) and
 *   reordered packets keep their order.
 * - On a switch to a new source, the outgoing sequence continues at highest+1
 *   and the timestamp advances by the wall-clock time since the last packet.
 * - Packets of the new source older than its first forwarded packet are dropped.
 * - restart(): the same source after a pause (nothing forwarded meanwhile) continues
 *   like a new one, without the gap of what was not forwarded.
 */
export class RtpRewriter {
  private source: unknown = undefined;
  private seqOffset = 0;
  private tsOffset = 0;
  private unwrapper = new SeqUnwrapper();
  private firstExt = 0;
  private highestExt = -1;
  private highestOutSeq: number;
  private highestOutTs: number;
  private highestOutAtMs = 0;
  private started = false;

  constructor(
    private readonly clockRate: number,
    initialSeq = Math.floor(Math.random() * 0x10000),
    initialTs = Math.floor(Math.random() * 0x100000000),
  ) {
    // Stored as "the packet before the first one".
    this.highestOutSeq = add16(initialSeq, -1);
    this.highestOutTs = initialTs >>> 0;
  }

  /** The last sequence number forwarded (highest in order). */
  get lastSeq(): number {
    return this.highestOutSeq;
  }

  /** The timestamp of the highest forwarded packet. */
  get lastTimestamp(): number {
    return this.highestOutTs;
  }

  /** The next packet starts a new run (after a pause): no sequence gap for what was left out. */
  restart(): void {
    this.source = undefined;
  }

  /**
   * Rewrite one packet. `source` identifies the origin (compared by identity);
   * returns undefined when the packet must be dropped.
   */
  rewrite(source: unknown, seq: number, timestamp: number, nowMs: number): Rewritten | undefined {
    if (source !== this.source) this.switchTo(source, seq, timestamp, nowMs);
    const ext = this.unwrapper.unwrap(seq);
    if (ext < this.firstExt) return undefined;
    const out: Rewritten = { seq: add16(seq, this.seqOffset), timestamp: add32(timestamp, this.tsOffset) };
    if (ext > this.highestExt) {
      this.highestExt = ext;
      this.highestOutSeq = out.seq;
      this.highestOutTs = out.timestamp;
      this.highestOutAtMs = nowMs;
    }
    return out;
  }

  private switchTo(source: unknown, seq: number, timestamp: number, nowMs: number): void {
    const nextSeq = add16(this.highestOutSeq, 1);
    let nextTs = this.highestOutTs;
    if (this.started) {
      const elapsed = Math.max(0, nowMs - this.highestOutAtMs);
      nextTs = add32(nextTs, Math.max(1, Math.round((elapsed * this.clockRate) / 1000)));
    }
    this.source = source;
    this.started = true;
    this.seqOffset = diff16(seq, nextSeq) & 0xffff;
    this.tsOffset = (nextTs - timestamp) >>> 0;
    this.unwrapper = new SeqUnwrapper();
    this.firstExt = this.unwrapper.unwrap(seq);
    this.highestExt = this.firstExt - 1;
  }
}
