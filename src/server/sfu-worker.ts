/**
 * A room worker thread: an SfuHost (rooms, participants, werift peer connections,
 * WHIP/WHEP sessions) driven by the main thread (worker-pool.ts). The main thread
 * keeps the sockets; here each signaling socket is a RemoteSocket. HTTP requests
 * arrive as plain data (http-data.ts), as in the main thread; the rooms' domain events go back.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { Counter, Gauge } from 'prom-client';
import { installIceGuard } from '../sfu/werift/ice-guard.js';
import { textResponse } from './http-data.js';
import { SfuHost } from './sfu-host.js';
import type { SessionSocket } from './signaling.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.js';

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
const host = new SfuHost(config, log, { defaultMetrics: false });
host.rooms.on('room-closed', (room) => post({ t: 'room-gone', room, seq: lastSeq }));
host.on('event', (event) => post({ t: 'event', event }));

// Per-worker load at /metrics: busy time of this thread's event loop (its CPU share).
const busy = new Counter({
  name: 'facecast_worker_busy_seconds_total',
  help: 'Time a room worker thread spent running (not idle in its event loop).',
  labelNames: ['worker'],
  registers: [host.metrics.registry],
});
const utilization = new Gauge({
  name: 'facecast_worker_event_loop_utilization',
  help: 'Share of the last scrape interval a room worker thread was busy (0..1).',
  labelNames: ['worker'],
  registers: [host.metrics.registry],
  aggregator: 'max',
});
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
      const first = { data: Buffer.from(m.first.data.buffer, m.first.data.byteOffset, m.first.data.byteLength), parsed: m.first.parsed };
      host.openSession(ws as unknown as SessionSocket, { id: m.sid, grant: m.grant, first }, log.child({ req: m.req, peer: m.sid }));
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
    case 'http':
      host.http(m.req, m.grant).then(
        (res) => post({ t: 'http', rid: m.rid, res }),
        (err: unknown) => {
          log.error({ err }, 'WHIP/WHEP request failed');
          post({ t: 'http', rid: m.rid, res: textResponse(500, 'internal error') });
        },
      );
      return;
    case 'control':
      host.control(m.control).then(
        (result) => post({ t: 'control', rid: m.rid, result }),
        (err: unknown) => {
          log.error({ err }, 'control request failed');
          post({ t: 'control', rid: m.rid, result: { status: 500, body: { error: 'internal error' } } });
        },
      );
      return;
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
