/**
 * Cascading (the edge side): WHEP viewers of a room held by another node are served by the node
 * they came to. The first one asks the room's node to push each publisher's tracks here once
 * (`POST /cluster/push`, push.ts); they arrive as local WHIP publishers of the same names, and
 * every viewer here is fanned out from them. When no viewer has been left for 5 s the pushes
 * are stopped at both ends. Runs in the main thread, next to the Cluster.
 */
import type { Logger } from 'pino';
import type { ControlOp, ControlResult, HostState } from '../sfu-host.js';
import type { Cluster, NodeInfo } from './cluster.js';
import { mintRelayToken, RELAY_HEADER } from './relay.js';

const EDGE_IDLE_MS = 5000;
const SWEEP_MS = 1000;

interface EdgeRoom {
  owner: NodeInfo;
  /** Names of the publishers pushed here (local WHIP participants of this room). */
  publishers: Set<string>;
  idleSince: number | undefined;
}

export interface EdgeHost {
  state(): Promise<HostState>;
  control(c: ControlOp): Promise<ControlResult>;
}

export class EdgeRooms {
  private readonly rooms = new Map<string, EdgeRoom>();
  private timer: NodeJS.Timeout | undefined;
  /** Pushes asked of other nodes, and those that failed. */
  readonly counters = { pushesRequested: 0, pushFailures: 0 };

  constructor(
    private readonly cluster: Cluster,
    private readonly host: EdgeHost,
    private readonly log: Logger,
  ) {}

  /** Is `room` served here as an edge (its WHEP sessions are this node's)? */
  has(room: string): boolean {
    return this.rooms.has(room);
  }

  get size(): number {
    return this.rooms.size;
  }

  /**
   * Make `room`'s publishers available here (pushed once from `owner`); false when nothing is
   * published there or the push failed (the caller then redirects the viewer to the owner).
   */
  async serve(room: string, owner: NodeInfo): Promise<boolean> {
    let publishers: string[];
    try {
      const res = await this.ask(owner, 'POST', room);
      if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
      publishers = ((await res.json()) as { publishers?: string[] }).publishers ?? [];
    } catch (err) {
      this.counters.pushFailures++;
      this.log.warn({ room, node: owner.id, err: (err as Error).message }, 'edge: the room’s node did not push; redirecting the viewer');
      return false;
    }
    if (publishers.length === 0) return false;
    this.counters.pushesRequested++;
    const entry = this.rooms.get(room) ?? { owner, publishers: new Set<string>(), idleSince: undefined };
    for (const p of publishers) entry.publishers.add(p);
    entry.owner = owner;
    entry.idleSince = undefined;
    this.rooms.set(room, entry);
    this.timer ??= setInterval(() => void this.sweep(), SWEEP_MS).unref();
    // Every pushed publisher here, with its tracks, before the viewer is answered.
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const state = await this.host.state();
      const here = new Set(state.peers.filter((p) => p.room === room && p.tracks.length > 0).map((p) => p.name));
      if (publishers.every((n) => here.has(n))) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    this.log.warn({ room, publishers }, 'edge: pushed tracks did not arrive in 5 s');
    return false;
  }

  /** Stop edge rooms nobody watches any more (5 s without a viewer). */
  private async sweep(): Promise<void> {
    if (this.rooms.size === 0) return;
    let state: HostState;
    try {
      state = await this.host.state();
    } catch {
      return;
    }
    const now = Date.now();
    for (const [room, entry] of this.rooms) {
      const viewers = state.peers.filter((p) => p.room === room && !entry.publishers.has(p.name));
      if (viewers.length > 0) entry.idleSince = undefined;
      else if (entry.idleSince === undefined) entry.idleSince = now;
      else if (now - entry.idleSince >= EDGE_IDLE_MS) void this.stop(room, entry);
    }
  }

  private async stop(room: string, entry: EdgeRoom): Promise<void> {
    if (this.rooms.get(room) !== entry) return;
    this.rooms.delete(room);
    this.log.info({ room, node: entry.owner.id }, 'edge: no viewer left, pushes stopped');
    await this.ask(entry.owner, 'DELETE', room).catch(() => undefined);
    for (const name of entry.publishers) await this.host.control({ op: 'remove-participant', room, name }).catch(() => undefined);
    if (this.rooms.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private async ask(owner: NodeInfo, method: 'POST' | 'DELETE', room: string): Promise<Response> {
    const token = await mintRelayToken(await this.cluster.relaySecret(), { sid: 'edge', via: this.cluster.id, grant: null });
    return fetch(`${owner.url}/cluster/push`, {
      method,
      headers: { 'content-type': 'application/json', [RELAY_HEADER]: token },
      body: JSON.stringify({ room, target: this.cluster.url }),
      signal: AbortSignal.timeout(12_000),
    });
  }

  /** Shutdown: the room's nodes stop pushing here. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    const all = [...this.rooms.entries()];
    this.rooms.clear();
    await Promise.all(all.map(([room, e]) => this.ask(e.owner, 'DELETE', room).catch(() => undefined)));
  }
}
