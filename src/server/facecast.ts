/**
 * The public API (the package's main export): `createFacecast(options)` makes a Facecast, which
 * serves signaling (/ws), WHIP/WHEP, the HTTP API and, with listen(), the browser app. The CLI
 * (`facecast serve`) and the test helpers are thin shells over it.
 *
 *   const facecast = createFacecast({ port: 8080, authorize: (req, claims) => ({ allow: true }) });
 *   facecast.on('participant-joined', ({ room, participant }) => ...);
 *   await facecast.listen();                      // its own HTTP(S) server, with the app
 *   facecast.attach(server, { path: '/facecast' }); // or: on your http/https/Express server
 *
 * (Over 400 lines on purpose: the public class, and the request and upgrade paths that
 * listen() and attach() share; admission is in auth.ts, the HTTP policy in server.ts.)
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { pino, type Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { MAX_MESSAGE_BYTES, parseClientMessage } from '../protocol/messages.js';
import { installIceGuard } from '../sfu/werift/ice-guard.js';
import type { Participant } from '../sfu/participant.js';
import type { RecordingStatus } from '../sfu/recording/recorder.js';
import { type Admission, type Authorize, admit, type Grant } from './auth.js';
import type { Cluster, NodeInfo } from './cluster/cluster.js';
import { ClusterFront } from './cluster/front.js';
import { RELAY_HEADER } from './cluster/relay.js';

export type { Authorize, AuthorizeRequest, AuthorizeResult } from './auth.js';
import { ConfigError, resolveSettings, type FacecastSettings, type ServerConfig } from './config.js';
import { type HttpRequestData, type HttpResponseData, jsonResponse, textResponse } from './http-data.js';
import { DEFAULT_MAX_MESSAGE_RATE } from './rate-limit.js';
import { ensureRecordDir } from './recording-api.js';
import { LocalRoomHost, type RoomHost } from './room-host.js';
import { hardenServer, originAllowed, SECURITY_HEADERS } from './server.js';
import type { ControlOp, FacecastEventMap, HostState } from './sfu-host.js';
import { guardSocket } from './socket-guard.js';
import { defaultMounts, serveStatic, type Mount } from './static.js';
import { tlsCredentials } from './tls.js';
import { ORIGIN_NODE_HEADER } from './whip.js';
import { WorkerPool } from './worker-pool.js';

export interface FacecastOptions extends Partial<FacecastSettings> {
  /** Where log lines go (default: pino at `logLevel`, on stdout). */
  logger?: Logger;
  /** Your own admission check, for every WebSocket and WHIP/WHEP offer. */
  authorize?: Authorize;
}

/** The JSON served at /api/state. */
export interface ServerState extends HostState {
  uptimeMs: number;
  /** With --redis: this node, and every live node (the rooms and peers above are the whole cluster's, each with its `node`). */
  cluster?: { node: string; nodes: NodeInfo[] };
}

/** A room, as rooms() lists it. */
export interface RoomInfo {
  name: string;
  /** The room worker serving it (room workers only). */
  worker?: number;
  participants: { id: string; name: string; tracks: { id: string; kind: string; codec: string }[] }[];
}

/** A call the rooms refused (no such room or participant, recording off ...): `status` is the HTTP API's. */
export class FacecastError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'FacecastError';
  }
}

/** Make a Facecast from options (checked now: a bad one throws ConfigError). */
export function createFacecast(options: FacecastOptions = {}): Facecast {
  const { logger, authorize, ...settings } = options;
  return new Facecast(resolveSettings(settings), { logger, authorize });
}

interface Mounted {
  server: Server;
  prefix: string;
  app: boolean;
  detach(): void;
}

const HTTP_ROUTE = /^\/(?:whip|whep)\/|^\/api\/rooms\//;

export class Facecast extends EventEmitter<FacecastEventMap> {
  readonly log: Logger;
  private readonly host: RoomHost;
  private readonly started: Promise<void>;
  private readonly startedAt = Date.now();
  private readonly mounts: Mount[];
  private readonly wss: WebSocketServer;
  private readonly admission: Admission;
  private readonly mounted: Mounted[] = [];
  private ownServer: Server | undefined;
  private closing: Promise<void> | undefined;
  /** After listen(): where it serves. */
  url = '';
  port = 0;

  /** Prefer createFacecast(options); this takes settings already resolved (internal, benchmarks). */
  constructor(
    readonly config: ServerConfig,
    opts: { logger?: Logger; authorize?: Authorize } = {},
  ) {
    super();
    this.log = opts.logger ?? pino({ level: config.logLevel });
    this.admission = { authSecret: config.authSecret, authorize: opts.authorize, log: this.log };
    installIceGuard(); // drop unauthenticated STUN and media from unvalidated addresses (see ice-guard.ts)
    if (config.record) ensureRecordDir(config.record); // here, so that a bad DIR stops the start with one line
    this.mounts = defaultMounts(config.webRoot);
    const workers = config.workers ?? 0;
    this.host = workers > 0 ? new WorkerPool(config, workers, this.log) : new LocalRoomHost(config, this.log);
    this.host.on('event', (e) => {
      this.front?.onHostEvent(e);
      (this.emit as (name: string, data: unknown) => boolean)(e.name, e.data);
    });
    this.started = this.host.ready();
    this.started.catch(() => undefined);
    // Frames a bit over the protocol limit get a clear `error`; beyond this the socket closes (1009).
    // Pings are answered by guardSocket (socket-guard.ts), at a bounded rate.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 4 * MAX_MESSAGE_BYTES, autoPong: false });
    this.wss.on('error', (err) => this.log.warn({ err }, 'WebSocket server error'));
    // A cluster node (--redis): what it does differently is all in cluster/front.ts.
    const capacity = (config.limits?.maxParticipants ?? 200) * Math.max(1, workers);
    this.front = config.cluster ? new ClusterFront(config.cluster.redisUrl, capacity, { host: this.host, log: this.log, isClosing: () => this.closing !== undefined }) : undefined;
  }

  /** Register in the cluster once this node's URL is known (listen() or attach()); once. */
  private joinCluster(url: string | undefined): Promise<void> | undefined {
    if (!this.front) return undefined;
    if (this.front.ready) return this.front.ready;
    const nodeUrl = this.config.cluster?.nodeUrl ?? url;
    if (!nodeUrl) throw new ConfigError('attach() with --redis needs nodeUrl (--node-url): how other nodes reach this one');
    return this.front.join(nodeUrl);
  }

  /** Resolves once rooms can be served (room workers started); rejects if they cannot start. */
  ready(): Promise<void> {
    return this.started;
  }

  /** With --redis: this node's part in the cluster (relay, routing, cascading; cluster/front.ts). */
  private readonly front: ClusterFront | undefined;

  /** With --redis: the cluster registry and room placement. */
  get cluster(): Cluster | undefined {
    return this.front?.cluster;
  }

  /** The room workers (`workers` > 0), for tests and diagnostics. */
  get workers(): WorkerPool | undefined {
    return this.host instanceof WorkerPool ? this.host : undefined;
  }

  /** This thread's participants (`workers: 0`; empty with room workers: use state()). */
  get participants(): ReadonlyMap<string, Participant> {
    return this.host instanceof LocalRoomHost ? this.host.sfu.participants : new Map();
  }

  /** Serve on a server of its own (HTTPS with `tls*` settings), with the browser app. */
  async listen(opts: { port?: number; host?: string } = {}): Promise<{ url: string; port: number }> {
    await this.started;
    const config = this.config;
    const tls = config.tls ? await tlsCredentials(config.tls, opts.host ?? config.host) : undefined;
    if (tls?.fingerprint) this.log.info({ sha256: tls.fingerprint }, 'self-signed TLS certificate made for this run');
    // Timeouts below are checked every 2 s (Node's default: 30 s).
    const httpOptions = { connectionsCheckingInterval: 2000 };
    const server: Server = tls ? createHttpsServer({ ...httpOptions, cert: tls.cert, key: tls.key }) : createServer(httpOptions);
    hardenServer(server, this.log);
    this.mount(server, '', true);
    const host = opts.host ?? config.host;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? config.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.ownServer = server;
    this.port = (server.address() as AddressInfo).port;
    this.url = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
    this.log.info({ url: this.url }, 'facecast listening');
    try {
      await this.joinCluster(this.url);
    } catch (err) {
      await this.close().catch(() => undefined);
      throw err;
    }
    return { url: this.url, port: this.port };
  }

  /**
   * Serve signaling (`PATH/ws`), WHIP/WHEP (`PATH/whip/ROOM`, `PATH/whep/ROOM`) and the API
   * (`PATH/api/state`, `PATH/api/rooms/...`, `PATH/healthz`, `PATH/metrics`) on your own
   * http/https server (an Express app's too). Everything else stays your server's.
   */
  attach(server: Server, opts: { path?: string } = {}): void {
    const prefix = (opts.path ?? '/facecast').replace(/\/+$/, '');
    if (prefix !== '' && !/^\/[A-Za-z0-9._~/-]*$/.test(prefix)) throw new ConfigError(`attach: path "${opts.path}" must start with "/"`);
    this.mount(server, prefix, false);
    this.joinCluster(undefined)?.catch((err: Error) => this.log.error({ err: err.message }, 'could not join the cluster'));
  }

  /** The JSON served at /api/state, fresh (from every room worker). */
  async state(opts: { scope?: 'cluster' | 'node' } = {}): Promise<ServerState> {
    await this.started;
    const local: ServerState = { uptimeMs: Date.now() - this.startedAt, ...(await this.host.state()) };
    return this.front && opts.scope !== 'node' ? this.front.state(local) : local;
  }

  /** With --redis: the live nodes and their load (/api/nodes); without: none. */
  async nodes(): Promise<NodeInfo[]> {
    await this.started;
    return this.front?.nodes() ?? [];
  }

  /** Every room with its participants and their published tracks. */
  async rooms(): Promise<RoomInfo[]> {
    const s = await this.state();
    const byId = new Map(s.peers.map((p) => [p.id, p]));
    return s.rooms.map((r) => ({
      name: r.name,
      ...(r.worker === undefined ? {} : { worker: r.worker }),
      participants: r.participants.flatMap((id) => {
        const p = byId.get(id);
        return p ? [{ id, name: p.name, tracks: p.tracks.map((t) => ({ id: t.id, kind: t.kind, codec: t.codec })) }] : [];
      }),
    }));
  }

  /** End every call in `room`; false when there is no such room. */
  async closeRoom(room: string): Promise<boolean> {
    return (await this.control({ op: 'close-room', room }, false)) !== undefined;
  }

  /** End `name`'s call in `room`; false when nobody by that name is there. */
  async removeParticipant(room: string, name: string): Promise<boolean> {
    return (await this.control({ op: 'remove-participant', room, name }, false)) !== undefined;
  }

  /** Record `name`'s camera in `room` to the `record` directory (FacecastError without it). */
  async startRecording(room: string, name: string): Promise<RecordingStatus> {
    return (await this.control({ op: 'recording', verb: 'start', room, name }, true)) as RecordingStatus;
  }

  /** Stop and finalize `name`'s recording; resolves once the file is complete. */
  async stopRecording(room: string, name: string): Promise<RecordingStatus> {
    return (await this.control({ op: 'recording', verb: 'stop', room, name }, true)) as RecordingStatus;
  }

  private async control(c: ControlOp, throwOnMissing: boolean): Promise<unknown> {
    await this.started;
    const { status, body } = await this.host.control(c);
    if (status < 300) return body;
    if (status === 404 && !throwOnMissing) return undefined;
    throw new FacecastError(status, (body as { error?: string }).error ?? `failed (${status})`);
  }

  /** Tell every client, end every call, stop serving (its own server; an attached one is left running). */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    // Tell every signaling client first (1001: going away), then end the calls.
    const notice = JSON.stringify({ type: 'error', code: 'shutting-down', message: 'the server is shutting down; reconnect later' });
    for (const ws of this.wss.clients) {
      if (ws.readyState !== ws.OPEN) continue;
      ws.send(notice);
      ws.close(1001, 'server shutting down');
    }
    await this.started.catch(() => undefined);
    await this.front?.closeRelays();
    // The rooms held here, before the calls end: their claims go with this node.
    const held = this.front
      ? await this.host.state().then(
          (s) => s.rooms.map((r) => r.name),
          () => [],
        )
      : [];
    await this.host.close();
    await this.front?.close(held);
    // Sockets whose close handshake has not finished by now are cut.
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    for (const m of this.mounted.splice(0)) m.detach();
    const own = this.ownServer;
    if (own) {
      own.closeAllConnections();
      await new Promise<void>((resolve) => own.close(() => resolve()));
    }
  }

  /** Take `prefix`'s requests and upgrades on `server`; `app`: the pages and static files too (listen()). */
  private mount(server: Server, prefix: string, app: boolean): void {
    const others = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
    const fallback =
      app || others.length === 0
        ? undefined
        : (req: IncomingMessage, res: ServerResponse) => {
            for (const l of others) l.call(server, req, res);
          };
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? '/').split('?')[0]!;
      if (!app && path !== prefix && !path.startsWith(`${prefix}/`)) return fallback ? fallback(req, res) : void res.writeHead(404).end();
      this.request(req, res, prefix, app, fallback);
    };
    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if ((req.url ?? '').split('?')[0] === `${prefix}/ws`) return this.upgrade(req, socket, head);
      if (server.listenerCount('upgrade') === 1) socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
    };
    if (!app) server.removeAllListeners('request');
    server.on('request', onRequest);
    server.on('upgrade', onUpgrade);
    const entry: Mounted = {
      server,
      prefix,
      app,
      detach: () => {
        server.off('request', onRequest);
        server.off('upgrade', onUpgrade);
        if (!app) for (const l of others) if (!server.listeners('request').includes(l)) server.on('request', l);
      },
    };
    this.mounted.push(entry);
  }

  private request(req: IncomingMessage, res: ServerResponse, prefix: string, app: boolean, fallback?: (req: IncomingMessage, res: ServerResponse) => void): void {
    // Every request gets an id: in the X-Request-Id header and on its log lines.
    const reqId = randomUUID().slice(0, 8);
    const started = performance.now();
    const rlog = this.log.child({ req: reqId });
    // A client that resets mid-request or mid-response: that request ends, nothing else.
    req.on('error', (err) => rlog.debug({ err: err.message }, 'request stream error'));
    res.on('error', (err) => rlog.debug({ err: err.message }, 'response stream error'));
    res.once('finish', () => {
      const line = { method: req.method, path: (req.url ?? '/').split('?')[0], status: res.statusCode, ms: Math.round(performance.now() - started) };
      if (res.statusCode >= 500) rlog.warn(line, 'request');
      else rlog.debug(line, 'request');
    });
    const path = (req.url ?? '/').split('?')[0]!.slice(prefix.length) || '/';
    this.route(req, res, path, prefix, app, fallback, reqId).catch((err: unknown) => {
      rlog.error({ err }, 'request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    });
  }

  private async route(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    prefix: string,
    app: boolean,
    fallback: ((req: IncomingMessage, res: ServerResponse) => void) | undefined,
    reqId: string,
  ): Promise<void> {
    const send = (r: HttpResponseData) => {
      for (const [k, v] of Object.entries(this.front?.securityHeaders() ?? SECURITY_HEADERS)) res.setHeader(k, v);
      res.setHeader('x-request-id', reqId);
      res.writeHead(r.status, r.headers).end(req.method === 'HEAD' ? undefined : r.body);
    };
    if (HTTP_ROUTE.test(path)) return send(await this.roomRequest(req, path, prefix));
    if (this.front && path === '/cluster/push' && (req.method === 'POST' || req.method === 'DELETE')) return send(await this.front.pushRequest(req));
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(textResponse(405, 'method not allowed', { allow: 'GET, HEAD' }));
    if (path === '/healthz') return send(jsonResponse(200, { ok: true }));
    if (path === '/api/state') {
      const scope = new URL(req.url ?? '/', 'http://x').searchParams.get('scope') === 'node' ? 'node' : 'cluster';
      return send(jsonResponse(200, await this.state({ scope })));
    }
    if (path === '/api/nodes') {
      if (!this.front) return send(jsonResponse(404, { error: 'not a cluster node (start with --redis URL)' }));
      return send(jsonResponse(200, { node: this.front.cluster.id, nodes: await this.nodes() }));
    }
    if (path === '/metrics') {
      await this.started;
      const { contentType, text } = await this.host.metrics();
      return send({ status: 200, headers: { 'content-type': contentType, 'cache-control': 'no-store' }, body: text + (this.front?.metrics() ?? '') });
    }
    if (app) {
      const page = /^\/(room|watch)\/([^/]*)\/?$/.exec(path);
      // /room/NAME serves the room app, /watch/NAME the WHEP player; the name is checked here too.
      if (page && !/^[A-Za-z0-9_-]{1,64}$/.test(page[2]!)) return send(textResponse(400, 'room names are 1-64 letters, digits, "_" or "-"'));
      if (page) req.url = `/${page[1]}.html`;
      for (const [k, v] of Object.entries(this.front?.securityHeaders() ?? SECURITY_HEADERS)) res.setHeader(k, v);
      res.setHeader('x-request-id', reqId);
      if (await serveStatic(req, res, this.mounts)) return;
    }
    if (fallback) return fallback(req, res);
    send(textResponse(404, 'not found'));
  }

  /** WHIP/WHEP and the recording API: the body read once (at most the limit), then to the room's host. */
  private async roomRequest(req: IncomingMessage, path: string, prefix: string): Promise<HttpResponseData> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_MESSAGE_BYTES) {
        req.resume();
        return textResponse(413, `body over ${MAX_MESSAGE_BYTES} bytes`, { connection: 'close', 'access-control-allow-origin': '*' });
      }
      chunks.push(chunk);
    }
    const m = /^\/(whip|whep|api\/rooms)\/([^/?]+)/.exec(path);
    let room: string | undefined;
    try {
      room = m ? decodeURIComponent(m[2]!) : undefined;
    } catch {
      room = undefined; // any host answers 400 for it
    }
    const data: HttpRequestData = {
      method: req.method ?? 'GET',
      url: path + (req.url?.includes('?') ? req.url.slice(req.url.indexOf('?')) : ''),
      headers: req.headers,
      body: new Uint8Array(Buffer.concat(chunks)),
    };
    let grant: Grant | undefined;
    const kind = m?.[1];
    // Another node of the cluster: a push of a publisher to this node (push.ts), or its DELETE.
    delete data.headers[ORIGIN_NODE_HEADER]; // only ever set here
    const fromNode = await this.front?.fromNode(req);
    if (fromNode && room !== undefined && kind === 'whip') return this.host.http({ ...data, headers: { ...data.headers, [ORIGIN_NODE_HEADER]: fromNode.via } }, undefined, room);
    if (req.method === 'POST' && (kind === 'whip' || kind === 'whep')) {
      const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const verdict = await admit(this.admission, { kind, req, room }, bearer);
      if (!verdict.ok) return textResponse(verdict.status, verdict.reason, { 'www-authenticate': 'Bearer realm="facecast"', 'access-control-allow-origin': '*' });
      grant = verdict.grant;
    }
    await this.started;
    // A cluster node: here, or a 307 to the room's node.
    const routed = this.front && room !== undefined ? await this.front.routeRoomRequest(data, kind, room) : 'here';
    if (routed !== 'here') return routed;
    const res = await this.host.http(data, grant, room);
    const location = res.headers.location;
    if (prefix && typeof location === 'string' && location.startsWith('/')) res.headers.location = prefix + location;
    return res;
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const reqId = randomUUID().slice(0, 8);
    const log = this.log;
    // The raw socket can fail (a reset) at any time before ws takes it, even while the token is checked.
    socket.on('error', (err: Error & { code?: string }) => log.debug({ req: reqId, err: err.message, code: err.code }, 'socket error before the WebSocket opened'));
    if (this.closing) return void socket.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\n');
    // In a cluster, a page served by any node (alive or since gone) may connect here: the client reconnects to any node.
    if (!originAllowed(req, [...(this.config.allowedOrigins ?? []), ...(this.front?.allowedOrigins() ?? [])])) {
      // A page on another site must not drive this server with its visitor's browser.
      log.warn({ origin: req.headers.origin }, 'WebSocket from a foreign origin refused');
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\norigin not allowed (see --allow-origin)\n');
      return;
    }
    const relayToken = req.headers[RELAY_HEADER];
    if (this.front && typeof relayToken === 'string') return this.acceptRelay(this.front, req, socket, head, reqId, relayToken);
    const token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token');
    void admit(this.admission, { kind: 'websocket', req }, token).then(async (verdict) => {
      if (!verdict.ok) {
        log.info({ reason: verdict.reason }, 'WebSocket refused');
        const status = verdict.status === 401 ? '401 Unauthorized' : '403 Forbidden';
        socket.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${verdict.reason}\n`);
        return;
      }
      try {
        await this.started;
      } catch {
        return void socket.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\n');
      }
      this.wss.handleUpgrade(req, socket as Socket, head, (ws) => this.accept(ws, reqId, verdict.grant));
    });
  }

  /**
   * A signaling socket: `welcome` now (the only place it is made), the session at its first message.
   * `relayed`: a client of another node whose room is here (that node sent the welcome, with this id).
   */
  private accept(ws: WebSocket, reqId: string, grant: Grant | undefined, relayed?: { id: string; via: string }): void {
    const id = relayed?.id ?? randomUUID().slice(0, 8);
    const plog = this.log.child({ req: reqId, peer: id, ...(relayed ? { via: relayed.via } : {}) });
    plog.info(relayed ? 'peer connected through another node' : 'peer connected');
    guardSocket(ws, plog, { maxPingRate: this.config.maxMessageRate ?? DEFAULT_MAX_MESSAGE_RATE, firstMessageMs: this.config.iceTimeoutS * 1000 });
    const nodes = this.front?.welcomeNodes() ?? {};
    if (!relayed) ws.send(JSON.stringify({ type: 'welcome', peerId: id, iceServers: this.config.ice.iceServers, ...nodes }));
    ws.once('message', (data: Buffer, binary: boolean) => {
      if (this.closing) return;
      // Parsed once, here: it places the session (a join goes where its room is) and the session takes it as is.
      const parsed = parseClientMessage(binary ? new Uint8Array(data) : data.toString('utf8'));
      const room = parsed.ok && parsed.message.type === 'join' ? parsed.message.room : undefined;
      const start = { id, grant, first: { data, parsed } };
      // Not a cluster, the echo page (no join) or already relayed here: this node serves it.
      if (!this.front || room === undefined || relayed) return this.host.openSession(ws, start, room, plog, reqId);
      void this.front.placeSession(ws, start, { data, binary }, room, plog, () => this.host.openSession(ws, start, room, plog, reqId));
    });
  }

  /** `/ws` from another node, for a room on this one: its token instead of the client's admission. */
  private acceptRelay(front: ClusterFront, req: IncomingMessage, socket: Duplex, head: Buffer, reqId: string, token: string): void {
    void (async () => {
      const claims = await front.verifyRelay(token);
      if (!claims) {
        this.log.warn({ req: reqId }, 'relayed WebSocket with a bad token refused');
        return void socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nbad relay token\n');
      }
      try {
        await this.started;
      } catch {
        return void socket.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\n');
      }
      const relayed = { id: claims.sid, via: claims.via };
      this.wss.handleUpgrade(req, socket as Socket, head, (ws) => this.accept(ws, reqId, claims.grant ?? undefined, relayed));
    })();
  }
}

/** What the test helpers and benchmarks hold: a listening Facecast. */
export type FacecastServer = Facecast;

/** A Facecast from settings already resolved, listening on config.host:config.port (benchmarks, tests of raw configs). */
export async function startServer(config: ServerConfig, logger?: Logger): Promise<Facecast> {
  const facecast = new Facecast(config, { logger });
  try {
    await facecast.listen();
  } catch (err) {
    await facecast.close().catch(() => undefined);
    throw err;
  }
  return facecast;
}
