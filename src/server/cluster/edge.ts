/**
 * Cascading (the edge side): a room held by another node continues here. WHEP viewers of it are
 * served by the node they came to, and so are participants placed here because the room's node
 * is full. This node asks the room's node to push each of its publishers here once (`POST
 * /cluster/push`, push.ts; asked again every second, so later publishers come too); they arrive
 * as local WHIP publishers of the same names (originNode set), and everyone here is fanned out
 * from them. This node's own publishers are pushed to the room's node the same way, so its
 * participants see them (never back where they came from). When nobody but pushed publishers
 * has been left for 5 s the pushes stop at both ends. Runs in the main thread, by the Cluster.
 */
import type { Logger } from 'pino';
import type { ControlOp, ControlResult, HostState } from '../sfu-host.js';
import type { Cluster, NodeInfo } from './cluster.js';
import { mintRelayToken, RELAY_HEADER } from './relay.js';

const EDGE_IDLE_MS = 5000;
const SWEEP_MS = 1000;

interface EdgeRoom {
  owner: NodeInfo;
  idleSince: number | undefined;
  syncedAt?: number;
  /** Participants announced to the room's node at the last sync. */
  announced?: number;
}

const SYNC_MS = 1000;

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
    this.track(room, owner);
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

  /** A room opened here (a participant placed here, or a push arriving): an edge room when another node holds it. */
  async roomCreated(room: string): Promise<void> {
    if (this.rooms.has(room)) return;
    try {
      const owner = await this.cluster.owner(room);
      if (owner && !owner.local) this.track(room, owner.node);
    } catch (err) {
      this.log.debug({ room, err: (err as Error).message }, 'edge: owner lookup failed');
    }
  }

  private track(room: string, owner: NodeInfo): void {
    const entry = this.rooms.get(room) ?? { owner, idleSince: undefined };
    entry.owner = owner;
    entry.idleSince = undefined;
    if (!this.rooms.has(room)) this.log.info({ room, node: owner.id }, 'edge: the room continues here');
    this.rooms.set(room, entry);
    this.timer ??= setInterval(() => void this.sweep(), SWEEP_MS).unref();
  }

  /** Every second: pushes both ways for rooms with someone here; stop those with nobody but pushed publishers for 5 s. */
  private async sweep(): Promise<void> {
    if (this.rooms.size === 0 || this.sweeping) return;
    this.sweeping = true;
    try {
      const state = await this.host.state();
      const now = Date.now();
      for (const [room, entry] of this.rooms) {
        const here = state.peers.filter((p) => p.room === room && p.originNode === undefined);
        if (here.length > 0) {
          entry.idleSince = undefined;
          if (now - (entry.syncedAt ?? 0) >= SYNC_MS) {
            entry.syncedAt = now;
            await this.sync(
              room,
              entry,
              here.map((p) => ({ id: p.id, name: p.name })),
              here.some((p) => p.tracks.length > 0),
            );
          }
        } else if (entry.idleSince === undefined) {
          entry.idleSince = now;
          // The last one here left: the room's node hears it now, not when the pushes stop.
          if (entry.announced) await this.sync(room, entry, [], false);
        } else if (now - entry.idleSince >= EDGE_IDLE_MS) void this.stop(room, entry);
      }
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'edge: sweep failed');
    } finally {
      this.sweeping = false;
    }
  }
  private sweeping = false;

  /**
   * The room's node pushes its (new) publishers here, and learns who is here; its answer says who
   * is there (and on its other edges); this node's publishers go there.
   */
  private async sync(room: string, entry: EdgeRoom, members: { id: string; name: string }[], publishersHere: boolean): Promise<void> {
    entry.announced = members.length;
    try {
      const res = await this.ask(entry.owner, 'POST', room, members);
      const answer = (await res.json()) as { members?: { id: string; name: string }[] };
      if (Array.isArray(answer.members)) await this.host.control({ op: 'presence', room, node: entry.owner.id, members: answer.members });
    } catch (err) {
      this.log.debug({ room, err: (err as Error).message }, 'edge: sync with the room’s node failed');
    }
    if (!publishersHere) return;
    const token = await mintRelayToken(await this.cluster.relaySecret(), { sid: 'push', via: this.cluster.id, grant: null });
    await this.host.control({ op: 'push', room, target: entry.owner.url, targetNode: entry.owner.id, token });
  }

  private async stop(room: string, entry: EdgeRoom): Promise<void> {
    if (this.rooms.get(room) !== entry) return;
    this.rooms.delete(room);
    this.log.info({ room, node: entry.owner.id }, 'edge: nobody left here, pushes stopped');
    await this.ask(entry.owner, 'DELETE', room).catch(() => undefined);
    await this.host.control({ op: 'unpush', room, target: entry.owner.url }).catch(() => undefined);
    const state = await this.host.state().catch(() => undefined);
    for (const p of state?.peers ?? []) {
      if (p.room === room && p.originNode !== undefined) await this.host.control({ op: 'remove-participant', room, name: p.name }).catch(() => undefined);
    }
    if (this.rooms.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private async ask(owner: NodeInfo, method: 'POST' | 'DELETE', room: string, members?: { id: string; name: string }[]): Promise<Response> {
    const token = await mintRelayToken(await this.cluster.relaySecret(), { sid: 'edge', via: this.cluster.id, grant: null });
    return fetch(`${owner.url}/cluster/push`, {
      method,
      headers: { 'content-type': 'application/json', [RELAY_HEADER]: token },
      body: JSON.stringify({ room, target: this.cluster.url, ...(members ? { members } : {}) }),
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
