/**
 * Ends a peer that will not (or no longer does) connect: not connected this
 * long after the first offer/answer exchange, ICE failed or closed, or nothing
 * heard from it for the ICE timeout.
 *
 * werift only reports ICE `failed` after its own 30 s consent timeout, so the
 * watchdog listens itself: anything heard (RTP, RTCP, or STUN on the selected
 * pair: the peer's consent checks and its answers to ours, about every 5 s)
 * keeps the peer alive. Timeouts under ~10 s can therefore drop an idle viewer
 * that only exchanges STUN.
 */
import type { RTCPeerConnection } from 'werift';

export interface LivenessOptions {
  /** Dead when ICE stays disconnected, or nothing (RTP/RTCP/STUN) arrives, this long (ms). */
  iceTimeoutMs: number;
  /** Dead when not connected this long after the first offer/answer (ms). */
  connectTimeoutMs: number;
}

export class Liveness {
  private connectClock: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private negotiatedOnce = false;
  private closed = false;

  constructor(
    private readonly pc: RTCPeerConnection,
    private readonly opts: LivenessOptions,
    private readonly onDead: (reason: string) => void,
  ) {
    pc.connectionStateChange.subscribe((state) => {
      if (this.closed) return;
      if (state === 'failed' || state === 'closed') this.onDead(`connection ${state}`);
      if (state === 'connected' && !this.watchdog) this.startWatchdog();
    });
  }

  /** An offer/answer exchange completed: the connect clock starts (once). */
  negotiated(): void {
    if (this.negotiatedOnce || this.closed) return;
    this.negotiatedOnce = true;
    this.connectClock = setTimeout(() => {
      this.connectClock = undefined;
      if (this.pc.connectionState !== 'connected') this.onDead('connect-timeout');
    }, this.opts.connectTimeoutMs);
    this.connectClock.unref();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.connectClock);
    clearInterval(this.watchdog);
  }

  private startWatchdog(): void {
    const transport = this.pc.dtlsTransports[0];
    if (!transport) return;
    let lastHeardAt = performance.now();
    const heard = () => {
      lastHeardAt = performance.now();
    };
    transport.onRtp.subscribe(heard);
    transport.onRtcp.subscribe(heard);
    const stun = () => {
      const pair = this.pc.iceTransports[0]?.connection.nominated;
      return pair ? pair.requestsReceived + pair.responsesReceived : 0;
    };
    let stunSeen = stun();
    const timeout = this.opts.iceTimeoutMs;
    this.watchdog = setInterval(
      () => {
        const now = stun();
        if (now !== stunSeen) {
          stunSeen = now;
          heard();
        }
        if (performance.now() - lastHeardAt > timeout) this.onDead('media timeout');
      },
      Math.min(1000, timeout / 4),
    );
    this.watchdog.unref();
  }
}
