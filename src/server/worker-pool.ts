/**
 * Room worker threads (`--workers N`): the main thread keeps HTTP, the WebSocket
 * sockets, auth and routing; each room lives on one worker (sfu-worker.ts), which
 * runs its peer connections, so N rooms can use N cores.
 *
 * Routing: a signaling socket goes to a worker at its first message: a `join`
 * to the worker that has that room (or the least busy one, which then owns the
 * room until it reports the room gone); anything else (the echo page's offer) to
 * the least busy worker. WHIP/WHEP requests go to the worker of the room in
 * their path. A worker that crashes takes only its own rooms down: their
 * clients are told and disconnected, and a new worker takes its place.
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, Registry, collectDefaultMetrics } from 'prom-client';
import type { WebSocket } from 'ws';
import type { Grant } from './auth.js';
import type { ServerConfig } from './config.js';
import { textResponse, type HttpRequestData, type HttpResponseData } from './http-data.js';
import type { RoomHost } from './room-host.js';
import type { ControlOp, ControlResult, HostEvent, HostState, SessionStart } from './sfu-host.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.js';

type Pending = { resolve(value: never): void; timer: NodeJS.Timeout };
type Outgoing = ToWorker extends infer T ? (T extends { seq: number } ? Omit<T, 'seq'> : never) : never;

class RoomWorker {
  worker!: Worker;
  seq = 0;
  alive = false;
  /** Signaling sessions placed here. */
  readonly sessions = new Set<string>();
  readonly pending = new Map<number, Pending>();
  ready!: Promise<void>;
  constructor(readonly index: number) {}

  post(m: Outgoing): number {
    const seq = ++this.seq;
    if (this.alive) this.worker.postMessage({ ...m, seq } as ToWorker);
    return seq;
  }
}

interface SessionRoute {
  ws: WebSocket;
  worker: RoomWorker | null;
  room?: string;
}

export class WorkerPool extends EventEmitter<{ event: [HostEvent] }> implements RoomHost {
  private readonly workers: RoomWorker[];
  private readonly sessions = new Map<string, SessionRoute>();
  /** Room name -> its worker and the seq of the last message routed there for it. */
  private readonly rooms = new Map<string, { worker: RoomWorker; lastSeq: number }>();
  private nextRid = 1;
  private closing = false;
  private readonly mainRegistry = new Registry();
  /** Worker crashes since the start (a test and the state show it). */
  crashes = 0;

  constructor(
    private readonly config: ServerConfig,
    count: number,
    private readonly log: Logger,
  ) {
    super();
    collectDefaultMetrics({ register: this.mainRegistry });
    this.workers = Array.from({ length: count }, (_, i) => new RoomWorker(i));
    for (const w of this.workers) this.spawn(w);
  }

  get size(): number {
    return this.workers.length;
  }

  /** Resolves when every worker has started. */
  ready(): Promise<void> {
    return Promise.all(this.workers.map((w) => w.ready)).then(() => undefined);
  }

  private spawn(w: RoomWorker): void {
    const fromTs = import.meta.url.endsWith('.ts');
    const init: WorkerInit = { index: w.index, config: this.config };
    // Under tsx (tests, dev) a small .mjs registers tsx in the worker, then loads sfu-worker.ts.
    const worker = new Worker(new URL(fromTs ? './sfu-worker-tsx.mjs' : './sfu-worker.js', import.meta.url), { workerData: init });
    w.worker = worker;
    w.alive = true;
    w.ready = new Promise((resolve, reject) => {
      const onMessage = (m: FromWorker) => {
        if (m.t !== 'ready') return;
        worker.off('message', onMessage);
        resolve();
      };
      worker.on('message', onMessage);
      worker.once('exit', () => reject(new Error(`room worker ${w.index} exited while starting`)));
    });
    w.ready.catch(() => undefined);
    worker.on('message', (m: FromWorker) => this.onWorkerMessage(w, m));
    worker.on('error', (err) => this.log.error({ err, worker: w.index }, 'room worker crashed'));
    worker.on('messageerror', (err) => this.log.error({ err, worker: w.index }, 'a message from a room worker could not be read'));
    worker.once('exit', (code) => this.onExit(w, worker, code));
  }

  private onExit(w: RoomWorker, worker: Worker, code: number): void {
    if (w.worker !== worker) return;
    w.alive = false;
    for (const p of w.pending.values()) {
      clearTimeout(p.timer);
      p.resolve(undefined as never);
    }
    w.pending.clear();
    for (const [room, owner] of this.rooms) if (owner.worker === w) this.rooms.delete(room);
    const sids = [...w.sessions];
    w.sessions.clear();
    if (this.closing) return;
    this.crashes++;
    this.log.error({ worker: w.index, code, sessions: sids.length }, 'room worker exited: its clients are disconnected, a new worker starts');
    for (const sid of sids) {
      const s = this.sessions.get(sid);
      if (!s) continue;
      s.worker = null;
      if (s.ws.readyState === s.ws.OPEN) {
        s.ws.send(JSON.stringify({ type: 'error', code: 'internal', message: 'the room worker serving this call failed; reconnect' }));
        s.ws.close(1011, 'room worker failed');
      }
    }
    this.spawn(w);
  }

  private onWorkerMessage(w: RoomWorker, m: FromWorker): void {
    switch (m.t) {
      case 'send': {
        const s = this.sessions.get(m.sid);
        if (s && s.ws.readyState === s.ws.OPEN) s.ws.send(m.data);
        return;
      }
      case 'end':
        this.sessions.get(m.sid)?.ws.close(m.code, m.reason);
        return;
      case 'event':
        this.emit('event', m.event);
        return;
      case 'room-gone': {
        const owner = this.rooms.get(m.room);
        // Only if nothing was routed there for this room after the worker's report.
        if (owner?.worker === w && owner.lastSeq <= m.seq) this.rooms.delete(m.room);
        return;
      }
      case 'http':
      case 'control':
      case 'state':
      case 'metrics':
      case 'shutdown': {
        const p = w.pending.get(m.rid);
        if (!p) return;
        w.pending.delete(m.rid);
        clearTimeout(p.timer);
        const value = m.t === 'http' ? m.res : m.t === 'control' ? m.result : m.t === 'state' ? m.state : m.t === 'metrics' ? m.json : undefined;
        p.resolve(value as never);
        return;
      }
      default:
        return;
    }
  }

  /** Ask a worker; undefined when it does not answer in time or dies. */
  private ask<T>(w: RoomWorker, m: Outgoing & { rid: number }, timeoutMs = 5000): Promise<T | undefined> {
    if (!w.alive) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        w.pending.delete(m.rid);
        resolve(undefined);
      }, timeoutMs);
      w.pending.set(m.rid, { resolve: resolve as (v: never) => void, timer });
      w.post(m);
    });
  }

  private leastBusy(): RoomWorker {
    const alive = this.workers.filter((w) => w.alive);
    return (alive.length ? alive : this.workers).reduce((a, b) => (b.sessions.size < a.sessions.size ? b : a));
  }

  private workerForRoom(room: string): RoomWorker {
    const owner = this.rooms.get(room);
    if (owner?.worker.alive) return owner.worker;
    const w = this.leastBusy();
    this.rooms.set(room, { worker: w, lastSeq: w.seq + 1 });
    return w;
  }

  /** Note that something for `room` was just posted to `w` (see 'room-gone'). */
  private touch(room: string | undefined, w: RoomWorker, seq: number): void {
    if (!room) return;
    const owner = this.rooms.get(room);
    if (owner?.worker === w) owner.lastSeq = Math.max(owner.lastSeq, seq);
  }

  /** A signaling socket (welcome sent), placed by its first message: a join goes where its room is. */
  openSession(ws: WebSocket, start: SessionStart, room: string | undefined, _log: Logger, req: string): void {
    const sid = start.id;
    const w = room ? this.workerForRoom(room) : this.leastBusy();
    const route: SessionRoute = { ws, worker: w, room };
    this.sessions.set(sid, route);
    w.sessions.add(sid);
    const data = new Uint8Array(start.first.data);
    this.touch(room, w, w.post({ t: 'open', sid, grant: start.grant, req, first: { data, parsed: start.first.parsed } }));
    ws.on('message', (raw: Buffer, binary: boolean) => {
      const to = route.worker;
      if (to) this.touch(route.room, to, to.post({ t: 'msg', sid, data: new Uint8Array(raw), binary }));
    });
    ws.on('close', (code: number) => {
      this.sessions.delete(sid);
      const to = route.worker;
      if (!to) return;
      to.sessions.delete(sid);
      to.post({ t: 'closed', sid, code });
    });
  }

  /** A WHIP/WHEP or recording API request (body already read), answered by the room's worker. */
  async http(req: HttpRequestData, grant: Grant | undefined, room: string | undefined): Promise<HttpResponseData> {
    const w = room ? this.workerForRoom(room) : this.leastBusy();
    const answer = await this.ask<HttpResponseData>(w, { t: 'http', rid: this.nextRid++, req, grant }, 30_000);
    this.touch(room, w, w.seq);
    return answer ?? textResponse(503, 'the room worker did not answer; try again');
  }

  /** closeRoom, removeParticipant, recordings: on the room's worker (404 where no worker has it). */
  async control(c: ControlOp): Promise<ControlResult> {
    const owner = this.rooms.get(c.room);
    if (!owner?.worker.alive) return { status: 404, body: { error: `no room "${c.room}"` } };
    const result = await this.ask<ControlResult>(owner.worker, { t: 'control', rid: this.nextRid++, control: c }, 30_000);
    this.touch(c.room, owner.worker, owner.worker.seq);
    return result ?? { status: 503, body: { error: 'the room worker did not answer' } };
  }

  /** Every worker's rooms and peers, merged. */
  async state(): Promise<HostState> {
    const parts = await Promise.all(this.workers.map((w) => this.ask<HostState>(w, { t: 'state', rid: this.nextRid++ })));
    return {
      rooms: parts.flatMap((p, worker) => (p?.rooms ?? []).map((r) => ({ ...r, worker }))),
      peers: parts.flatMap((p) => p?.peers ?? []),
      ...(parts.some((p) => p?.pushes?.length) ? { pushes: parts.flatMap((p) => p?.pushes ?? []) } : {}),
    };
  }

  /** /metrics: the workers' metrics summed (per-worker series keep their `worker` label) plus this process's. */
  async metrics(): Promise<{ contentType: string; text: string }> {
    const parts = await Promise.all(this.workers.map((w) => this.ask<MetricObjectWithValues<MetricValue<string>>[]>(w, { t: 'metrics', rid: this.nextRid++ })));
    const aggregated = AggregatorRegistry.aggregate(parts.filter((p): p is MetricObjectWithValues<MetricValue<string>>[] => p !== undefined));
    const merged = Registry.merge([this.mainRegistry, aggregated as Registry]);
    return { contentType: merged.contentType, text: await merged.metrics() };
  }

  /** Test hook: make worker `index` throw an uncaught error. */
  crashWorkerForTest(index: number): void {
    this.workers[index]?.post({ t: 'crash' });
  }

  /** Index of the worker serving `room`, if any (tests, state). */
  workerOf(room: string): number | undefined {
    return this.rooms.get(room)?.worker.index;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => this.ask(w, { t: 'shutdown', rid: this.nextRid++ }, 5000)));
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
    this.mainRegistry.clear();
  }
}
