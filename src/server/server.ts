import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { MAX_MESSAGE_BYTES, ROOM_NAME } from '../protocol/messages.js';
import { installIceGuard } from '../sfu/ice-guard.js';
import { AuthError, verifyToken, type RoomClaims } from './auth.js';
import type { Participant } from '../sfu/participant.js';
import { Rooms } from '../sfu/room.js';
import type { ServerConfig } from './config.js';
import { DEFAULT_MAX_MESSAGE_RATE } from './rate-limit.js';
import { ensureRecordDir, RECORDING_PATH } from './recording-api.js';
import { guardSocket } from './socket-guard.js';
import { SfuHost, type HostState } from './sfu-host.js';
import { defaultMounts, serveStatic, type Mount } from './static.js';
import { WorkerPool } from './worker-pool.js';
import { tlsCredentials } from './tls.js';

export interface FacecastServer {
  readonly url: string;
  readonly port: number;
  /** This thread's participants and rooms (empty with room workers: use state()). */
  readonly participants: ReadonlyMap<string, Participant>;
  readonly rooms: Rooms;
  readonly log: Logger;
  /** The JSON served at /api/state, fresh (from every room worker, with workers). */
  state(): Promise<ServerState>;
  /** The room workers (`workers` > 0). */
  readonly workers: WorkerPool | undefined;
  close(): Promise<void>;
}

export interface ServerState {
  uptimeMs: number;
  rooms: { name: string; participants: string[]; worker?: number }[];
  /** `recording`: the participant's active recording (--record), else null. */
  peers: HostState['peers'];
}

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

const SECURITY_HEADERS = {
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

/** Start the HTTP server, the signaling WebSocket at /ws and the SFU. */
export async function startServer(config: ServerConfig, logger?: Logger): Promise<FacecastServer> {
  const log = logger ?? pino({ level: config.logLevel });
  installIceGuard(); // drop unauthenticated STUN and media from unvalidated addresses (see ice-guard.ts)
  const startedAt = Date.now();
  const mounts: Mount[] = defaultMounts(config.webRoot);
  // The SFU: in this thread (--workers 0), or on room worker threads (worker-pool.ts).
  const workerCount = config.workers ?? 0;
  if (config.record) ensureRecordDir(config.record); // here, so that a bad DIR stops the start with one line
  const host = workerCount > 0 ? undefined : new SfuHost(config, log);
  const pool = workerCount > 0 ? new WorkerPool(config, workerCount, log) : undefined;
  if (pool) await pool.ready();
  const state = async (): Promise<ServerState> => {
    const rooms: HostState = host ? host.state() : await pool!.state();
    return { uptimeMs: Date.now() - startedAt, ...rooms };
  };

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
  };

  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    const path = (req.url ?? '/').split('?')[0];
    if (path?.startsWith('/whip/') || path?.startsWith('/whep/')) return host ? host.handleWhip(req, res) : pool!.handleWhip(req, res);
    // The recording API goes where the room is, like WHIP (recording-api.ts).
    if (RECORDING_PATH.test(path ?? '')) return host ? host.handleWhip(req, res) : pool!.handleWhip(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/healthz') return json(res, 200, { ok: true });
    const roomPage = /^\/(room|watch)\/([^/]*)\/?$/.exec(path ?? '');
    if (roomPage) {
      // /room/NAME serves the room app, /watch/NAME the WHEP player; the name is checked here too.
      if (!ROOM_NAME.test(roomPage[2]!)) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('room names are 1-64 letters, digits, "_" or "-"\n');
        return;
      }
      req.url = `/${roomPage[1]}.html`;
    }
    if (path === '/api/state') return json(res, 200, await state());
    if (path === '/metrics') {
      const { contentType, text } = host ? { contentType: host.metrics.contentType, text: await host.metrics.render() } : await pool!.metrics();
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : text);
      return;
    }
    if (await serveStatic(req, res, mounts)) return;
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  };

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    // Every request gets an id: in the X-Request-Id header and on its log lines.
    const reqId = randomUUID().slice(0, 8);
    const started = performance.now();
    res.setHeader('x-request-id', reqId);
    const rlog = log.child({ req: reqId });
    // A client that resets mid-request or mid-response: that request ends, nothing else.
    req.on('error', (err) => rlog.debug({ err: err.message }, 'request stream error'));
    res.on('error', (err) => rlog.debug({ err: err.message }, 'response stream error'));
    res.once('finish', () => {
      const line = { method: req.method, path: (req.url ?? '/').split('?')[0], status: res.statusCode, ms: Math.round(performance.now() - started) };
      if (res.statusCode >= 500) rlog.warn(line, 'request');
      else rlog.debug(line, 'request');
    });
    onRequest(req, res).catch((err: unknown) => {
      rlog.error({ err }, 'request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    });
  };
  const tls = config.tls ? await tlsCredentials(config.tls, config.host) : undefined;
  if (tls?.fingerprint) log.info({ sha256: tls.fingerprint }, 'self-signed TLS certificate made for this run');
  // Timeouts below are checked every 2 s (Node's default: 30 s).
  const httpOptions = { connectionsCheckingInterval: 2000 };
  const http: Server = tls ? createHttpsServer({ ...httpOptions, cert: tls.cert, key: tls.key }, handler) : createServer(httpOptions, handler);
  // Slow clients: the headers must be in within 10 s and the whole request within 30 s
  // (Node's defaults are 60 s and 5 min); a socket idle for 60 s between requests is closed.
  http.headersTimeout = 10_000;
  http.requestTimeout = 30_000;
  http.keepAliveTimeout = 5_000;
  http.timeout = 60_000;
  // A request Node's parser refuses (bad method or path bytes, headers over 16 KiB, a
  // timeout) or a socket error: answered when the socket can still take it, and logged.
  http.on('clientError', (err: Error & { code?: string }, socket) => {
    log.debug({ err: err.message, code: err.code }, 'bad HTTP request');
    if (!socket.writable || (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n`);
  });

  // Accept frames a bit over the protocol limit so oversize messages get a clear `error`
  // rather than a bare close; anything beyond this closes the socket (1009).
  // Pings are answered by guardSocket (socket-guard.ts), at a bounded rate.
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * MAX_MESSAGE_BYTES, autoPong: false });
  wss.on('error', (err) => log.warn({ err }, 'WebSocket server error'));
  const guard = { maxPingRate: config.maxMessageRate ?? DEFAULT_MAX_MESSAGE_RATE, firstMessageMs: config.iceTimeoutS * 1000 };
  http.on('upgrade', (req, socket, head) => {
    const reqId = randomUUID().slice(0, 8);
    // The raw socket can fail (a reset) at any time before ws takes it, even while the token is checked.
    socket.on('error', (err: Error & { code?: string }) => log.debug({ req: reqId, err: err.message, code: err.code }, 'socket error before the WebSocket opened'));
    if ((req.url ?? '').split('?')[0] !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
      return;
    }
    if (!originAllowed(req, config.allowedOrigins ?? [])) {
      // A page on another site must not drive this server with its visitor's browser.
      log.warn({ origin: req.headers.origin }, 'WebSocket from a foreign origin refused');
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\norigin not allowed (see --allow-origin)\n');
      return;
    }
    const accept = (claims: RoomClaims | undefined) =>
      wss.handleUpgrade(req, socket, head, (ws) => {
        const id = randomUUID().slice(0, 8);
        const plog = log.child({ req: reqId, peer: id });
        plog.info('peer connected');
        guardSocket(ws, plog, guard);
        // Welcome from here (the client joins after it); the session starts where the
        // socket's first message places it: in this thread, or on the room's worker.
        ws.send(JSON.stringify({ type: 'welcome', peerId: id, iceServers: config.ice.iceServers }));
        if (host) {
          ws.once('message', (data, binary) => {
            host.openSession(ws, id, plog, claims, false);
            ws.emit('message', data, binary); // to the session's own listener, now there
          });
          return;
        }
        pool!.acceptSocket(ws, id, reqId, claims);
      });
    if (!config.authSecret) return accept(undefined);
    const token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token');
    verifyToken(token, config.authSecret).then(accept, (err: unknown) => {
      const reason = err instanceof AuthError ? err.message : 'token check failed';
      log.info({ reason }, 'WebSocket refused: room token');
      socket.end(`HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${reason}\n`);
    });
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.port, config.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const port = (http.address() as AddressInfo).port;
  const url = `${tls ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  log.info({ url }, 'facecast listening');

  return {
    url,
    port,
    participants: host?.participants ?? new Map(),
    rooms: host?.rooms ?? new Rooms(),
    log,
    state,
    workers: pool,
    async close() {
      // Tell every signaling client first (1001: going away), then end the calls.
      const notice = JSON.stringify({ type: 'error', code: 'shutting-down', message: 'the server is shutting down; reconnect later' });
      for (const ws of wss.clients) {
        if (ws.readyState !== ws.OPEN) continue;
        ws.send(notice);
        ws.close(1001, 'server shutting down');
      }
      await (host ? host.close() : pool!.close());
      // Sockets whose close handshake has not finished by now are cut.
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
