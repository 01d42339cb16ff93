/**
 * Per-socket message rate limit: a token bucket of `burst` messages refilled at
 * `rate` per second. A client that keeps sending with the bucket empty has its
 * messages dropped; one that drops more than `rate * 10` messages in ten
 * seconds is flooding and gets disconnected.
 */
/** Signaling messages per second per socket unless configured (--max-message-rate). */
export const DEFAULT_MAX_MESSAGE_RATE = 50;

export interface RateVerdict {
  /** Handle the message. */
  accept: boolean;
  /** Tell the client it is being limited (at most once a second). */
  warn: boolean;
  /** Too much for too long: close the connection. */
  disconnect: boolean;
}

export class MessageRateLimiter {
  private tokens: number;
  private last: number;
  private lastWarnAt = -Infinity;
  private windowStart: number;
  private droppedInWindow = 0;
  /** Messages dropped since the start (for logs and tests). */
  dropped = 0;

  constructor(
    /** Sustained messages per second; 0 turns the limit off. */
    readonly rate: number,
    /** Messages accepted at once before the rate applies (default 2 s worth). */
    readonly burst = rate * 2,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = this.now();
    this.windowStart = this.last;
  }

  take(): RateVerdict {
    if (this.rate <= 0) return { accept: true, warn: false, disconnect: false };
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { accept: true, warn: false, disconnect: false };
    }
    this.dropped++;
    if (now - this.windowStart >= 10_000) {
      this.windowStart = now;
      this.droppedInWindow = 0;
    }
    this.droppedInWindow++;
    const warn = now - this.lastWarnAt >= 1000;
    if (warn) this.lastWarnAt = now;
    return { accept: false, warn, disconnect: this.droppedInWindow > this.rate * 10 };
  }
}
