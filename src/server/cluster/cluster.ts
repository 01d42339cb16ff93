/**
 * A facecast node in a cluster coordinated through Redis (`--redis URL`): the node registry,
 * room placement and the cluster-wide directory. Nothing here touches media or sockets.
 *
 * Every key has an owner and a lifetime (docs/SCALING.md):
 *   facecast:node:ID    JSON NodeRecord (url, load, this node's rooms and peers), PX 6 s,
 *                       written by node ID every 2 s: a node killed with SIGKILL is gone in 6 s,
 *                       and counted unavailable once its record is 5 s old.
 *   facecast:room:NAME  the id of the node that holds room NAME, claimed with SET NX PX 6 s
 *                       (the claim is atomic; the least-loaded live node is chosen), kept by
 *                       that node every 2 s while it holds the room (or was given it < 10 s ago)
 *   facecast:secret     the key nodes sign relay tokens with: SET NX by the first node, its
 *                       lifetime (60 s) extended by every node's heartbeat
 * A Redis restart: every node writes its record, its rooms' claims and the secret again at
 * its next heartbeat (the client reconnects by itself); the calls themselves never touch Redis.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { HostState } from '../sfu-host.js';

export const HEARTBEAT_MS = 2000;
export const NODE_TTL_MS = 6000;
/** A node whose record is older than this is unavailable (its key lives 1 s longer). */
export const NODE_STALE_MS = 5000;
export const ROOM_TTL_MS = 6000;
/** A room claimed for a node is kept this long before the node must be holding it. */
const CLAIM_GRACE_MS = 10_000;
const SECRET_TTL_MS = 60_000;
export const KEY_PREFIX = 'facecast:';

export interface NodeLoad {
  participants: number;
  /** Most participants it takes (--max-participants on each room worker): a full node is not given new rooms. */
  capacity: number;
  rooms: number;
  tracks: number;
  /** RTP packets in + out per second, over the last heartbeat. */
  packetsPerSecond: number;
  /** CPU time of the whole process (every thread) per second of wall time: 1 = one core. */
  cpu: number;
}

/** A node as /api/nodes lists it. */
export interface NodeInfo {
  id: string;
  /** How other nodes and redirected clients reach it (--node-url). */
  url: string;
  startedAt: number;
  /** When it last wrote its record (ms since the epoch). */
  updatedAt: number;
  load: NodeLoad;
}

/** What a node writes at each heartbeat. */
export interface NodeRecord extends NodeInfo {
  state: HostState;
}

/** Where a room is: this node, or another (its info). */
export type Placement = { local: true; node: NodeInfo } | { local: false; node: NodeInfo };

/** Keep the claim when it is ours (or nobody's: after a Redis restart); 1 when kept. */
const KEEP_CLAIM = `local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;
/** Delete the key only if it still holds ARGV[1]. */
const DELETE_IF = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export interface ClusterCounters {
  relayedSessions: number;
  relayFailures: number;
  redirects: number;
  redisErrors: number;
}

export class Cluster extends EventEmitter<{ error: [Error] }> {
  readonly id = randomUUID().slice(0, 8);
  readonly startedAt = Date.now();
  url = '';
  readonly counters: ClusterCounters = { relayedSessions: 0, relayFailures: 0, redirects: 0, redisErrors: 0 };
  private readonly redis: Redis;
  private timer: NodeJS.Timeout | undefined;
  /** Rooms claimed for this node and when (kept CLAIM_GRACE_MS before it must hold them). */
  private readonly claims = new Map<string, number>();
  private secret: string | undefined;
  private lastBeat: { at: number; cpu: NodeJS.CpuUsage; packets: number } | undefined;
  private last: NodeRecord | undefined;
  private beating: Promise<void> | undefined;
  private closed = false;
  private lastError: Error | undefined;
  /** Rooms whose claims the last heartbeat kept: released at once when no longer held, and at close(). */
  private kept = new Set<string>();
  /** Live nodes seen at the last listing (this one included). */
  liveNodes = 0;
  /** Their base URLs (this one's first), as of the last listing or heartbeat. */
  liveUrls: string[] = [];

  constructor(
    readonly redisUrl: string,
    private readonly log: Logger,
    /** This node's rooms and peers, fresh (every room worker). */
    private readonly localState: () => Promise<HostState>,
    /** Most participants this node takes. */
    private readonly capacity = Number.POSITIVE_INFINITY,
  ) {
    super();
    this.redis = new Redis(redisUrl, {
      lazyConnect: true,
      // A call never waits on Redis for long: commands fail while it is down, the heartbeat tries again.
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      connectTimeout: 3000,
      retryStrategy: (times) => Math.min(200 * times, 1000),
    });
    this.redis.on('error', (err) => {
      this.lastError = err;
      this.counters.redisErrors++;
      this.log.debug({ err: err.message }, 'redis connection error');
    });
  }

  /** Connect, register (the first heartbeat), then beat every 2 s. Rejects with a clear line if Redis cannot be reached. */
  async start(url: string): Promise<void> {
    this.url = url.replace(/\/+$/, '');
    try {
      await this.redis.connect();
    } catch (err) {
      this.redis.disconnect();
      // ioredis reports the cause (ECONNREFUSED, a DNS failure, NOAUTH ...) as an error event first.
      throw new Error(`cannot reach Redis at ${redactUrl(this.redisUrl)}: ${(this.lastError ?? (err as Error)).message}`);
    }
    await this.beat();
    this.timer = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.timer.unref();
    this.log.info({ node: this.id, url: this.url, redis: redactUrl(this.redisUrl) }, 'cluster node registered');
  }

  /** The origins of the live nodes (a page served by one may open the signaling socket of any). */
  liveOrigins(): string[] {
    return [...new Set(this.liveUrls.flatMap((u) => (URL.canParse(u) ? [new URL(u).origin] : [])))];
  }

  /**
   * Every node origin seen since this node started (at most 1024): a page served by a node that
   * has died since may still reconnect here.
   */
  knownOrigins(): string[] {
    for (const o of this.liveOrigins()) {
      if (this.known.size >= 1024) break;
      this.known.add(o);
    }
    return [...this.known];
  }
  private readonly known = new Set<string>();

  /** The latest record this node wrote (its load and state). */
  get record(): NodeRecord | undefined {
    return this.last;
  }

  /** One heartbeat: load, record, claims, secret. Errors are logged, never thrown (Redis may be restarting). */
  beat(): Promise<void> {
    this.beating ??= this.doBeat().finally(() => {
      this.beating = undefined;
    });
    return this.beating;
  }

  private async doBeat(): Promise<void> {
    if (this.closed) return;
    let state: HostState;
    try {
      state = await this.localState();
    } catch (err) {
      this.log.warn({ err }, 'cluster heartbeat: local state failed');
      return;
    }
    if (this.closed) return; // closing while the rooms were asked: close() releases the claims
    const now = Date.now();
    const record: NodeRecord = { id: this.id, url: this.url, startedAt: this.startedAt, updatedAt: now, load: this.load(state, now), state };
    this.last = record;
    const held = new Set(state.rooms.map((r) => r.name).filter(placeable));
    for (const [room, at] of this.claims) if (held.has(room) || now - at > CLAIM_GRACE_MS) this.claims.delete(room);
    try {
      const m = this.redis.multi();
      m.set(this.nodeKey(this.id), JSON.stringify(record), 'PX', NODE_TTL_MS);
      const keep = new Set([...held, ...this.claims.keys()]);
      for (const room of keep) m.eval(KEEP_CLAIM, 1, this.roomKey(room), this.id, ROOM_TTL_MS);
      // A room that closed here: its claim goes now, not when it expires.
      for (const room of this.kept) if (!keep.has(room)) m.eval(DELETE_IF, 1, this.roomKey(room), this.id);
      this.kept = keep;
      m.set(`${KEY_PREFIX}secret`, randomBytes(32).toString('hex'), 'PX', SECRET_TTL_MS, 'NX');
      m.pexpire(`${KEY_PREFIX}secret`, SECRET_TTL_MS);
      m.get(`${KEY_PREFIX}secret`);
      const results = (await m.exec()) ?? [];
      const secret = results.at(-1)?.[1];
      if (typeof secret === 'string') this.secret = secret;
      await this.records(); // liveUrls / liveNodes for welcome, the origin check and /metrics
    } catch (err) {
      this.counters.redisErrors++;
      this.log.warn({ err: (err as Error).message }, 'cluster heartbeat: redis write failed (retrying in 2 s)');
    }
  }

  private load(state: HostState, now: number): NodeLoad {
    const cpu = process.cpuUsage();
    const packets = state.peers.reduce((n, p) => n + p.packetsIn + p.packetsOut, 0);
    const prev = this.lastBeat;
    this.lastBeat = { at: now, cpu, packets };
    const seconds = prev ? Math.max(0.001, (now - prev.at) / 1000) : 0;
    return {
      // Publishers pushed here by other nodes are counted there.
      participants: state.peers.filter((p) => p.originNode === undefined).length,
      capacity: this.capacity,
      rooms: state.rooms.length,
      tracks: state.peers.reduce((n, p) => n + p.tracks.length, 0),
      packetsPerSecond: prev ? Math.max(0, Math.round((packets - prev.packets) / seconds)) : 0,
      cpu: prev ? Math.round(((cpu.user - prev.cpu.user + cpu.system - prev.cpu.system) / 1e6 / seconds) * 100) / 100 : 0,
    };
  }

  /** Every live node's record (this one's included), by id. */
  async records(): Promise<NodeRecord[]> {
    const keys: string[] = [];
    let cursor = '0';
    let rounds = 0;
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', `${KEY_PREFIX}node:*`, 'COUNT', 200);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0' && ++rounds < 1000);
    if (keys.length === 0) return [];
    const values = await this.redis.mget(...keys);
    const now = Date.now();
    const out: NodeRecord[] = [];
    for (const v of values) {
      if (!v) continue;
      try {
        const r = JSON.parse(v) as NodeRecord;
        if (now - r.updatedAt <= NODE_STALE_MS) out.push(r);
      } catch {
        // not ours: ignored
      }
    }
    this.liveNodes = out.length;
    this.liveUrls = [...new Set([this.url, ...out.map((r) => r.url)])];
    return out.sort((a, b) => a.startedAt - b.startedAt || a.id.localeCompare(b.id));
  }

  /** The live nodes and their load (/api/nodes). */
  async nodes(): Promise<NodeInfo[]> {
    return (await this.records()).map(({ state: _state, ...info }) => info);
  }

  /**
   * Where `room` is, claiming it for the least-loaded live node (this one on a tie) when nobody
   * holds it. A claim whose node is unavailable is taken back first.
   */
  async place(room: string): Promise<Placement> {
    return (await this.claim(room)).placement;
  }

  /** place(), with the node records it decided on (placeParticipant uses them too). */
  private async claim(room: string): Promise<{ placement: Placement; records: NodeRecord[] }> {
    const key = this.roomKey(room);
    for (let attempt = 0; attempt < 4; attempt++) {
      const [owner, records] = await Promise.all([this.redis.get(key), this.records()]);
      const self = this.selfInfo(records);
      if (owner === this.id) return { placement: { local: true, node: self }, records };
      if (owner) {
        const held = records.find((r) => r.id === owner);
        if (held) return { placement: { local: false, node: strip(held) }, records };
        // Its node is gone (killed, or cut off): the room can be claimed again.
        await this.redis.eval(DELETE_IF, 1, key, owner);
        this.log.info({ room, node: owner }, 'room claim of an unavailable node released');
      }
      const target = leastLoaded(records, self);
      if ((await this.redis.set(key, target.id, 'PX', ROOM_TTL_MS, 'NX')) === 'OK') {
        if (target.id === this.id) this.claims.set(room, Date.now());
        this.log.debug({ room, node: target.id }, 'room placed');
        return { placement: target.id === this.id ? { local: true, node: self } : { local: false, node: target }, records };
      }
      // Somebody claimed it meanwhile: read it again.
    }
    throw new Error(`room "${room}": placement did not settle`);
  }

  /**
   * Where a participant joining `room` goes: the room's node, or, when that node is full, the
   * least-loaded node with room (this one on a tie), where the room continues (edge.ts). The
   * others' loads are their last heartbeat's (≤ 2 s old); this node's is counted now.
   */
  async placeParticipant(room: string): Promise<Placement> {
    const { placement: placed, records } = await this.claim(room);
    const here = (await this.localState()).peers.filter((p) => p.originNode === undefined).length;
    const withFreshSelf = records.map((r) => (r.id === this.id ? { ...r, load: { ...r.load, participants: here } } : r));
    const owner = withFreshSelf.find((r) => r.id === placed.node.id);
    if (!owner || !isFull(owner)) return placed;
    const self = withFreshSelf.find((r) => r.id === this.id);
    const target = leastLoaded(withFreshSelf, self ? strip(self) : this.selfInfo(records));
    if (isFull(target)) return placed; // everyone is full: the room's node answers server-full
    this.log.info({ room, owner: owner.id, node: target.id }, 'the room’s node is full: the participant goes to another node');
    return { local: target.id === this.id, node: target };
  }

  /** Where `room` is held now, without claiming it (undefined: nobody, or a node that is gone). */
  async owner(room: string): Promise<Placement | undefined> {
    const [owner, records] = await Promise.all([this.redis.get(this.roomKey(room)), this.records()]);
    if (!owner) return undefined;
    if (owner === this.id) return { local: true, node: this.selfInfo(records) };
    const held = records.find((r) => r.id === owner);
    return held ? { local: false, node: strip(held) } : undefined;
  }

  /** A room opened here (a room-created event): its claim is kept from now on, and released at close(). */
  roomOpened(room: string): void {
    if (!placeable(room)) return;
    this.kept.add(room);
    this.claims.delete(room);
  }

  /** A room closed here: its claim goes now (the next join may place it anywhere). */
  roomClosed(room: string): void {
    if (this.closed) return;
    this.kept.delete(room);
    this.claims.delete(room);
    this.redis.eval(DELETE_IF, 1, this.roomKey(room), this.id).catch(() => undefined); // else it expires in 6 s
  }

  /** A node that is unreachable though its record is fresh: drop its claim on `room` (it may be claimed again). */
  async releaseIfHeldBy(room: string, node: string): Promise<void> {
    await this.redis.eval(DELETE_IF, 1, this.roomKey(room), node);
  }

  /** The key relay tokens are signed with (read from Redis at each heartbeat). */
  async relaySecret(refresh = false): Promise<string> {
    if (refresh || !this.secret) {
      const s = await this.redis.get(`${KEY_PREFIX}secret`);
      if (s) this.secret = s;
    }
    if (!this.secret) throw new Error('no cluster secret in Redis yet');
    return this.secret;
  }

  private selfInfo(records: NodeRecord[]): NodeInfo {
    const mine = records.find((r) => r.id === this.id) ?? this.last;
    return mine ? strip(mine) : { id: this.id, url: this.url, startedAt: this.startedAt, updatedAt: Date.now(), load: emptyLoad() };
  }

  private nodeKey(id: string): string {
    return `${KEY_PREFIX}node:${id}`;
  }

  private roomKey(room: string): string {
    return `${KEY_PREFIX}room:${room}`;
  }

  /**
   * Leave the cluster: this node's record and claims are deleted (others may take its rooms at once).
   * `rooms`: the rooms it held just before its calls ended (claims made for it by another node that
   * no heartbeat has kept yet are among them).
   */
  async close(rooms: readonly string[] = []): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.beating?.catch(() => undefined);
    if (this.redis.status === 'ready') {
      try {
        const m = this.redis.multi();
        m.del(this.nodeKey(this.id));
        for (const room of new Set([...this.kept, ...this.claims.keys(), ...rooms])) m.eval(DELETE_IF, 1, this.roomKey(room), this.id);
        await m.exec();
      } catch (err) {
        this.log.debug({ err: (err as Error).message }, 'cluster: could not delete this node’s keys (they expire)');
      }
    }
    this.redis.disconnect();
  }
}

/** Rooms a join can name (the echo page's private `~echo-ID` rooms are never placed). */
const placeable = (room: string) => !room.startsWith('~');

const emptyLoad = (): NodeLoad => ({ participants: 0, capacity: Number.POSITIVE_INFINITY, rooms: 0, tracks: 0, packetsPerSecond: 0, cpu: 0 });

function strip(r: NodeRecord): NodeInfo {
  const { state: _state, ...info } = r;
  return info;
}

/**
 * A node with room for more (participants under its capacity), the fewest participants, then the
 * least CPU (by over half a core); `self` wins a tie (no relay for nothing). All full: the least full.
 */
const isFull = (n: NodeInfo) => n.load.participants >= (n.load.capacity ?? Number.POSITIVE_INFINITY);

export function leastLoaded(records: NodeRecord[], self: NodeInfo): NodeInfo {
  let best = self;
  for (const r of records) {
    if (r.id === self.id) continue;
    const a = r.load;
    const b = best.load;
    const better = isFull(best) !== isFull(r) ? isFull(best) : a.participants < b.participants || (a.participants === b.participants && a.cpu + 0.5 < b.cpu);
    if (better) best = strip(r);
  }
  return best;
}

/** redis://user:PASS@host -> redis://user:***@host (log lines). */
export function redactUrl(url: string): string {
  return url.replace(/^(\w+:\/\/[^:/@]*:)[^@]*@/, '$1***@');
}
