/**
 * A room worker thread: an SfuHost (rooms, participants, werift peer connections,
 * WHIP/WHEP sessions) driven by the main thread (worker-pool.ts). The main thread
 * keeps the sockets; here each signaling socket is a RemoteSocket and each WHIP
 * request a buffered stand-in, so SignalingSession and WhipEndpoints run unchanged.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { Counter, Gauge } from 'prom-client';
import { installIceGuard } from '../sfu/ice-guard.js';
import { SfuHost, type SessionSocket } from './sfu-host.js';
import type { FromWorker, HttpRequestData, HttpResponseData, ToWorker, WorkerInit } from './worker-protocol.js';

const port = parentPort;
if (!port) throw new Error('sfu-worker.ts runs as a worker thread');
const { index, config } = workerData as WorkerInit;
const post = (m: FromWorker) => port.postMessage(m);

/** The main thread's WebSocket, as SignalingSession sees it. */
class RemoteSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState: 0 | 1 | 2 | 3 = 1;
  constructor(readonly sid: string) {
    super();
  }
  send(data: string): void {
    if (this.readyState === this.OPEN) post({ t: 'send', sid: this.sid, data: String(data) });
  }
  close(code = 1000, reason = ''): void {
    if (this.readyState !== this.OPEN) return;
    this.readyState = 2; // closing: the main thread closes the real socket, then says 'closed'
    post({ t: 'end', sid: this.sid, code, reason });
  }
}

/** A WHIP/WHEP request whose body the main thread already read. */
function bufferedRequest(req: HttpRequestData): IncomingMessage {
  const stream = Readable.from(req.body.length ? [Buffer.from(req.body)] : []);
  return Object.assign(stream, { method: req.method, url: req.url, headers: req.headers }) as unknown as IncomingMessage;
}

/** Collects what WhipEndpoints writes; `done` resolves with it on end(). */
class BufferedResponse {
  statusCode = 200;
  headersSent = false;
  private readonly headers: Record<string, string | number | string[]> = {};
  private finish!: (res: HttpResponseData) => void;
  readonly done = new Promise<HttpResponseData>((resolve) => (this.finish = resolve));

  setHeader(name: string, value: string | number | string[]): this {
    this.headers[name.toLowerCase()] = value;
    return this;
  }
  getHeader(name: string): string | number | string[] | undefined {
    return this.headers[name.toLowerCase()];
  }
  writeHead(status: number, headers: Record<string, string | number | string[]> = {}): this {
    this.statusCode = status;
    for (const [k, v] of Object.entries(headers)) this.setHeader(k, v);
    this.headersSent = true;
    return this;
  }
  end(body?: string | Buffer): this {
    this.headersSent = true;
    this.finish({ status: this.statusCode, headers: this.headers, body: body === undefined ? new Uint8Array() : Buffer.from(body) });
    return this;
  }
}

// Synchronous writes to fd 1: lines logged just before the main thread ends this worker
// (shutdown: "recording finalized") must not wait in a buffer and be lost.
const log = pino({ level: config.logLevel }, pino.destination({ dest: 1, sync: true })).child({ worker: index });
// An error nothing caught here ends this worker, after a log line with its stack: the main
// thread then tells this worker's clients (error internal, close 1011) and starts a new one.
// (An unhandled rejection becomes one of these: Node's default --unhandled-rejections=throw.)
process.on('uncaughtException', (err, origin) => {
  log.fatal({ err, origin }, 'uncaught error in a room worker: ending the worker');
  process.exit(1);
});
installIceGuard();
let lastSeq = 0;
const host = new SfuHost(config, log, {
  defaultMetrics: false,
  onRoomGone: (room) => post({ t: 'room-gone', room, seq: lastSeq }),
});

// Per-worker load at /metrics: busy time of this thread's event loop (its CPU share).
const busy = new Counter({ name: 'facecast_worker_busy_seconds_total', help: 'Time a room worker thread spent running (not idle in its event loop).', labelNames: ['worker'], registers: [host.metrics.registry] });
const utilization = new Gauge({ name: 'facecast_worker_event_loop_utilization', help: 'Share of the last scrape interval a room worker thread was busy (0..1).', labelNames: ['worker'], registers: [host.metrics.registry], aggregator: 'max' });
let lastElu = performance.eventLoopUtilization();
const sampleLoad = () => {
  const now = performance.eventLoopUtilization();
  busy.reset();
  busy.inc({ worker: String(index) }, now.active / 1000);
  utilization.set({ worker: String(index) }, performance.eventLoopUtilization(now, lastElu).utilization);
  lastElu = now;
};

const sockets = new Map<string, RemoteSocket>();

port.on('message', (m: ToWorker) => {
  if (m.seq > lastSeq) lastSeq = m.seq;
  switch (m.t) {
    case 'open': {
      const ws = new RemoteSocket(m.sid);
      sockets.set(m.sid, ws);
      ws.once('close', () => sockets.delete(m.sid));
      host.openSession(ws as unknown as SessionSocket, m.sid, log.child({ req: m.req, peer: m.sid }), m.claims, false);
      return;
    }
    case 'msg':
      sockets.get(m.sid)?.emit('message', Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength), m.binary);
      return;
    case 'closed': {
      const ws = sockets.get(m.sid);
      if (!ws) return;
      ws.readyState = 3;
      ws.emit('close', m.code);
      return;
    }
    case 'http': {
      const res = new BufferedResponse();
      host.handleWhip(bufferedRequest(m.req), res as unknown as ServerResponse).catch((err: unknown) => {
        log.error({ err }, 'WHIP/WHEP request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
      void res.done.then((r) => post({ t: 'http', rid: m.rid, res: r }));
      return;
    }
    case 'state':
      post({ t: 'state', rid: m.rid, state: host.state() });
      return;
    case 'metrics':
      sampleLoad();
      void host.metrics.json().then((json) => post({ t: 'metrics', rid: m.rid, json }));
      return;
    case 'shutdown':
      void host.close().then(() => post({ t: 'shutdown', rid: m.rid }));
      return;
    case 'crash':
      setTimeout(() => {
        throw new Error(`room worker ${index}: crash requested (test hook)`);
      });
      return;
  }
});
post({ t: 'ready' });
