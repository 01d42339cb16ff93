/**
 * The server's HTTP policy, shared by listen() and attach() (facecast.ts): the pages'
 * Content-Security-Policy and security headers, the WebSocket origin check, and the CLI's
 * policy for errors nothing caught.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Logger } from 'pino';

/**
 * What the pages may load and talk to: only this server (scripts, workers, models, wasm,
 * the signaling socket), wasm compiled from there, camera and remote streams; no inline
 * script, no framing by other sites, no plugins.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' blob: 'wasm-unsafe-eval'", // blob: the tfjs wasm threads' worker script
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob: mediastream:",
  "style-src 'self' 'unsafe-inline'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The policy with other origins the pages may connect to (the cluster's other nodes: a reconnect goes to any). */
export function contentSecurityPolicy(connectOrigins: readonly string[]): string {
  if (connectOrigins.length === 0) return CONTENT_SECURITY_POLICY;
  const extra = connectOrigins.flatMap((o) => [o, o.replace(/^http/, 'ws')]).join(' ');
  return CONTENT_SECURITY_POLICY.replace("connect-src 'self'", `connect-src 'self' ${extra}`);
}

export const SECURITY_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
};

/**
 * A browser's WebSocket carries the page's Origin: allowed when it is this server's own
 * (same host, as the browser addressed it) or listed; a client without one (not a browser) is allowed.
 */
export function originAllowed(req: IncomingMessage, allowed: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (allowed.includes(url.origin)) return true;
  return url.host === req.headers.host && (url.protocol === 'http:' || url.protocol === 'https:');
}

/**
 * The CLI's policy for errors nothing caught in the main thread (an embedding app keeps
 * its own): an uncaught exception or an unhandled rejection is logged at `error` with
 * its stack, and the server serves on: every socket, request and worker already has its
 * own error handling, so what reaches here is a bug to report, not a reason to drop every
 * call. (A room worker's uncaught error ends that worker instead: sfu-worker.ts.)
 */
export function installProcessGuards(log: Logger): void {
  process.on('uncaughtException', (err, origin) => log.error({ err, origin }, 'uncaught exception in the main thread (logged; serving on)'));
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled rejection in the main thread (logged; serving on)'));
}

/**
 * What facecast's own server gets (listen()): slow clients cut (headers within 10 s, the
 * whole request within 30 s, 60 s idle), and a request Node's parser refuses answered once.
 */
export function hardenServer(http: Server, log: Logger): void {
  http.headersTimeout = 10_000;
  http.requestTimeout = 30_000;
  http.keepAliveTimeout = 5_000;
  http.timeout = 60_000;
  http.on('clientError', (err: Error & { code?: string }, socket) => {
    log.debug({ err: err.message, code: err.code }, 'bad HTTP request');
    if (!socket.writable || (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n`);
  });
}
