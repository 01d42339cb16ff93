/**
 * When a video the allocator has no room for is really paused, and when it is tried again.
 * One per Forwarder; pure (the clock is passed in), so its tests use a fake one.
 *
 *  - Grace: a new subscription, or one forwarded again after a stop (hidden tile, pause), is
 *    not paused for RESTART_GRACE_MS: the subscriber's receive-side estimate (REMB) follows
 *    what it receives, so after a time of receiving nothing it is low whatever the link.
 *  - Patience: the allocator must say "no room" for PAUSE_AFTER_MS without a break (the video
 *    has its lowest layer meanwhile): the burst after an outage (retransmissions, a keyframe)
 *    briefly puts what is sent above a dipping estimate, and a pause turns the publisher's
 *    encoder off (dynacast).
 *  - Retry: a paused video is tried again at its lowest layer after FIRST_RETRY_MS, then twice
 *    as long each time it is paused again, up to MAX_RETRY_MS (no probing here: an estimate
 *    cannot grow while nothing is received). The wait starts over once it has held for a while.
 */
export const RESTART_GRACE_MS = 5000;
export const PAUSE_AFTER_MS = 2000;
export const FIRST_RETRY_MS = 2000;
export const MAX_RETRY_MS = 30_000;
/** Forwarded this long past its grace without a pause: the next pause waits FIRST_RETRY_MS again. */
const HELD_MS = 10_000;

/** `allotted`: use the allocator's layer; `lowest`: the lowest layer (grace, patience, a retry); `paused`: nothing. */
export type PauseVerdict = 'allotted' | 'lowest' | 'paused';

export class PausePolicy {
  private pausedNow = false;
  private graceUntil: number;
  /** Since when there has been no room without a break (undefined: there is room). */
  private noRoomSince: number | undefined;
  private retryAt = 0;
  private retryDelayMs = FIRST_RETRY_MS;

  constructor(now: number) {
    this.graceUntil = now + RESTART_GRACE_MS;
  }

  get paused(): boolean {
    return this.pausedNow;
  }

  /** Forwarding (re)starts now (a new subscription, a tile shown again, a resume): a grace. */
  restarted(now: number): void {
    this.graceUntil = now + RESTART_GRACE_MS;
  }

  /** The allocator's answer now: room for the video (at some layer) or none. */
  decide(room: boolean, now: number): PauseVerdict {
    if (room) {
      this.noRoomSince = undefined;
      if (now > this.graceUntil + HELD_MS) this.retryDelayMs = FIRST_RETRY_MS;
      this.pausedNow = false;
      return 'allotted';
    }
    this.noRoomSince ??= now;
    if (this.pausedNow) {
      if (now < this.retryAt) return 'paused';
      this.pausedNow = false; // try again
      return 'lowest';
    }
    if (now < this.graceUntil || now - this.noRoomSince < PAUSE_AFTER_MS) return 'lowest';
    this.pausedNow = true;
    this.retryAt = now + this.retryDelayMs;
    this.retryDelayMs = Math.min(MAX_RETRY_MS, this.retryDelayMs * 2);
    return 'paused';
  }
}
