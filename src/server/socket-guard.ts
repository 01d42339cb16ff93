/**
 * What the main thread does for every signaling WebSocket the moment it is accepted,
 * whichever thread its room then lives on (so the two modes cannot differ here):
 *
 * - `error`: a protocol violation the `ws` library detects (a frame over the size limit,
 *   a bad opcode, invalid UTF-8, a bad close code, an unmasked or RSV-flagged frame, a
 *   length over 2^53) is emitted as an `error` on the socket; `ws` then closes it with
 *   the matching code (1009, 1002, 1007). Without a listener, Node would throw it and end
 *   the process. Here it is logged at debug and affects only that socket.
 * - pings: answered (pong) at up to --max-message-rate per second with the same bursts
 *   as messages; beyond that they go unanswered, and a socket that keeps flooding
 *   (10 s worth of unanswered pings) is closed with 1008 and a close frame.
 * - silence: a socket that sends no message within `firstMessageMs` of opening is
 *   closed (1008 "no message"), so half-open sockets do not pile up.
 */
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { MessageRateLimiter } from './rate-limit.js';

export interface SocketGuardOptions {
  /** Pings per second answered (0: every ping is answered). */
  maxPingRate: number;
  /** Close a socket that has sent no message by then (0: never). */
  firstMessageMs: number;
}

export function guardSocket(ws: WebSocket, log: Logger, opts: SocketGuardOptions): void {
  ws.on('error', (err: Error & { code?: string }) => log.debug({ err: err.message, code: err.code }, 'socket error: closed by the protocol layer'));
  const pings = new MessageRateLimiter(opts.maxPingRate);
  let flooded = false;
  ws.on('ping', (data: Buffer) => {
    if (flooded || ws.readyState !== ws.OPEN) return;
    const verdict = pings.take();
    if (verdict.accept) {
      ws.pong(data);
      return;
    }
    if (verdict.disconnect) {
      flooded = true;
      log.warn({ unanswered: pings.dropped }, 'ping flood: disconnecting');
      ws.close(1008, 'ping rate');
    }
  });
  if (opts.firstMessageMs > 0) {
    const timer = setTimeout(() => {
      if (ws.readyState !== ws.OPEN) return;
      log.info({ ms: opts.firstMessageMs }, 'no message on a new socket: closing it');
      ws.send(JSON.stringify({ type: 'error', code: 'timeout', message: `no message within ${Math.round(opts.firstMessageMs / 1000)} s of connecting: closed` }));
      ws.close(1008, 'no message');
    }, opts.firstMessageMs);
    timer.unref();
    ws.once('message', () => clearTimeout(timer));
    ws.once('close', () => clearTimeout(timer));
  }
}
