/**
 * Coalesces keyframe requests (PLI/FIR) toward one publisher stream:
 * at most one request per `minIntervalMs`, and a retry every `retryMs`
 * until a keyframe arrives.
 */
export interface KeyframeRequesterOptions {
  /** Sends one request upstream (a PLI). */
  send: () => void;
  minIntervalMs?: number;
  retryMs?: number;
  now?: () => number;
}

export class KeyframeRequester {
  private readonly send: () => void;
  private readonly minIntervalMs: number;
  private readonly retryMs: number;
  private readonly now: () => number;
  private lastSentAt = -Infinity;
  private waiting = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Requests actually sent upstream. */
  sent = 0;
  /** Requests received (before coalescing). */
  requested = 0;

  constructor(opts: KeyframeRequesterOptions) {
    this.send = opts.send;
    this.minIntervalMs = opts.minIntervalMs ?? 500;
    this.retryMs = opts.retryMs ?? 1000;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Ask for a keyframe; sent now, or as soon as the interval allows. */
  request(): void {
    if (this.closed) return;
    this.requested++;
    this.waiting = true;
    if (this.timer) return; // a send or retry is already scheduled
    const wait = this.lastSentAt + this.minIntervalMs - this.now();
    if (wait <= 0) this.fire();
    else this.schedule(wait);
  }

  /** A keyframe arrived: stop retrying. */
  keyframeReceived(): void {
    this.waiting = false;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** True while a request is outstanding. */
  get pending(): boolean {
    return this.waiting;
  }

  close(): void {
    this.closed = true;
    this.keyframeReceived();
  }

  private fire(): void {
    this.timer = undefined;
    if (this.closed || !this.waiting) return;
    this.lastSentAt = this.now();
    this.sent++;
    this.send();
    this.schedule(this.retryMs);
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => this.fire(), ms);
    this.timer.unref?.();
  }
}
