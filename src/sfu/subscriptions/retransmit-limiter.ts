/**
 * Retransmission control for one forwarded stream: which NACKed packets the Forwarder resends.
 *
 * Without it an SFU answers every NACK every time: a subscriber that falls behind (or lies)
 * multiplies the very load that made it fall behind. The rules, per subscriber and stream:
 *  - a packet is resent at most MAX_RESENDS times, and not again within one RTT of its last
 *    resend (the earlier copy may still be on its way);
 *  - a NACK for a packet sent more than MAX_AGE_MS ago is ignored: a real-time receiver has
 *    played past it (or will ask for a keyframe);
 *  - a budget: every forwarded packet earns BUDGET_SHARE of one retransmission, up to
 *    BUDGET_BURST saved; a resend spends one. What is refused is counted by reason.
 *  - a subscriber over budget in two consecutive seconds is congested: the Forwarder takes
 *    it one layer down (layer-selector.ts).
 *
 * Pure: every call takes the clock (`now`, ms) from the caller, so tests use a fake one.
 */

export type RefuseReason = 'too-old' | 'too-many' | 'too-soon' | 'over-budget';

/** What the limiter keeps per sent packet (in the Forwarder's NACK cache entry). */
export interface SentRecord {
  /** When the packet was first sent (ms). */
  sentAt: number;
  /** Times resent so far. */
  resends: number;
  /** When it was last resent (ms; 0: never). */
  lastResentAt: number;
}

export interface RetransmitLimits {
  /** Resends of one packet at most. */
  maxResends: number;
  /** NACKs for packets first sent longer ago than this are ignored (ms). */
  maxAgeMs: number;
  /** Share of forwarded packets the subscriber may have resent (0..1). */
  budgetShare: number;
  /** Retransmissions that can be saved up (a loss burst after a quiet time). */
  budgetBurst: number;
  /** The RTT window's bounds (ms), and the RTT assumed before a receiver report gives one. */
  minWindowMs: number;
  maxWindowMs: number;
  defaultRttMs: number;
}

export const DEFAULT_RETRANSMIT_LIMITS: RetransmitLimits = {
  maxResends: 3,
  maxAgeMs: 1000,
  budgetShare: 0.1,
  budgetBurst: 64,
  minWindowMs: 10,
  maxWindowMs: 500,
  defaultRttMs: 100,
};

/** The budget is kept in thousandths of a retransmission: integers, no float drift. */
const UNIT = 1000;

export class RetransmitLimiter {
  private credit: number;
  private readonly earn: number;
  private readonly cap: number;
  /** Start of the 1 s window we count over-budget refusals in, and whether it had one. */
  private windowStart = 0;
  private overInWindow = false;
  private overInPreviousWindow = false;

  constructor(readonly limits: RetransmitLimits = DEFAULT_RETRANSMIT_LIMITS) {
    this.cap = limits.budgetBurst * UNIT;
    this.earn = Math.round(limits.budgetShare * UNIT);
    this.credit = this.cap;
  }

  /** A packet was forwarded (not a resend): it earns a share of one retransmission. */
  forwarded(): void {
    this.credit = Math.min(this.cap, this.credit + this.earn);
  }

  /**
   * May `sent` be resent now? On yes (null) it is counted as resent and the budget spent;
   * otherwise the reason it is not.
   */
  admit(sent: SentRecord, now: number, rttMs: number | undefined): RefuseReason | null {
    const l = this.limits;
    if (now - sent.sentAt > l.maxAgeMs) return 'too-old';
    if (sent.resends >= l.maxResends) return 'too-many';
    if (sent.resends > 0) {
      const rtt = rttMs ?? l.defaultRttMs;
      const window = Math.min(l.maxWindowMs, Math.max(l.minWindowMs, rtt));
      if (now - sent.lastResentAt < window) return 'too-soon';
    }
    if (this.credit < UNIT) {
      this.markOver(now);
      return 'over-budget';
    }
    this.credit -= UNIT;
    sent.resends++;
    sent.lastResentAt = now;
    return null;
  }

  /** Over budget in this second and the one before: the subscriber cannot take what it asks for. */
  congested(now: number): boolean {
    this.roll(now);
    return this.overInWindow && this.overInPreviousWindow;
  }

  /** Retransmissions the subscriber could have now (for state and tests). */
  get available(): number {
    return Math.floor(this.credit / UNIT);
  }

  private markOver(now: number): void {
    this.roll(now);
    this.overInWindow = true;
  }

  private roll(now: number): void {
    if (now - this.windowStart < 1000) return;
    // A whole second or more passed: the window before this one is the last one only if adjacent.
    this.overInPreviousWindow = now - this.windowStart < 2000 && this.overInWindow;
    this.overInWindow = false;
    this.windowStart = now;
  }
}
