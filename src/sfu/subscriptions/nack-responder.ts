/**
 * A Forwarder's answers to its subscriber's NACKs: the cache of what was sent (PacketCache),
 * what may be resent (RetransmitLimiter), and losses only a keyframe can repair (a packet
 * the SFU never had, NACKed again NEVER_HAD_KEYFRAME_AFTER_MS after the first time: the
 * publisher did not resend it in time either). It resends nothing itself: `resend` does.
 */
import { PacketCache } from './packet-cache.js';
import { type RefuseReason, RetransmitLimiter, type SentRecord } from './retransmit-limiter.js';

const NEVER_HAD_KEYFRAME_AFTER_MS = 250;

export interface NackCounts {
  nackMisses: number;
  refused: Record<RefuseReason, number>;
}

export interface NackOutcome {
  /** At least one packet was resent. */
  answered: boolean;
  /** Ask the publisher for a keyframe: a packet the SFU never had is still wanted. */
  keyframe: boolean;
  /** Over its retransmission budget two seconds running (retransmit-limiter.ts). */
  congested: boolean;
}

export class NackResponder<E extends SentRecord> {
  private readonly cache = new PacketCache<E>(1024);
  private readonly limiter = new RetransmitLimiter();
  /** Highest sequence number sent (-1: none yet). */
  private lastSeq = -1;
  /** NACKed packets the SFU never had: seq -> when first asked for. */
  private readonly neverHadSince = new Map<number, number>();

  /** A packet went out (not a resend) as `seq`. */
  sent(seq: number, entry: E): void {
    if (this.lastSeq < 0 || ((seq - this.lastSeq) & 0xffff) < 0x8000) this.lastSeq = seq;
    this.cache.put(seq, entry);
    this.limiter.forwarded();
  }

  /** One NACK's lost sequence numbers: resend what may be, count the rest in `counts`. */
  answer(lost: readonly number[], now: number, rttMs: number | undefined, counts: NackCounts, resend: (seq: number, entry: E) => void): NackOutcome {
    let answered = false;
    let keyframe = false;
    for (const seq of lost) {
      const entry = this.cache.get(seq);
      if (!entry) {
        counts.nackMisses++;
        // Within the cache's reach but not in it: never received from the publisher.
        if (this.lastSeq >= 0 && ((this.lastSeq - seq) & 0xffff) < this.cache.capacity && this.neverHad(seq, now)) keyframe = true;
        continue;
      }
      const refused = this.limiter.admit(entry, now, rttMs);
      if (refused) {
        counts.refused[refused]++;
        continue;
      }
      answered = true;
      resend(seq, entry);
    }
    return { answered, keyframe, congested: this.limiter.congested(now) };
  }

  clear(): void {
    this.cache.clear();
    this.neverHadSince.clear();
  }

  /** True when `seq`, never had, has been asked for long enough that only a keyframe helps. */
  private neverHad(seq: number, now: number): boolean {
    const first = this.neverHadSince.get(seq);
    if (first === undefined) {
      if (this.neverHadSince.size >= 256) this.neverHadSince.clear(); // bounded
      this.neverHadSince.set(seq, now);
      return false;
    }
    if (now - first < NEVER_HAD_KEYFRAME_AFTER_MS) return false;
    this.neverHadSince.clear();
    return true;
  }
}
