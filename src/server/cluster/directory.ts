/**
 * The cluster-wide directory: /api/state on any node is every live node's rooms and peers,
 * each tagged with its node. Every node's part is fresh (its `/api/state?scope=node`, asked with a
 * 1 s limit); a node that does not answer in time is shown as its last heartbeat wrote it (≤ 2 s old),
 * one that refuses the connection (killed, its record not expired yet) is left out.
 */
import type { ServerState } from '../facecast.js';
import type { HostState } from '../sfu-host.js';
import type { NodeRecord } from './cluster.js';

/** The records with each other node's state asked of it now (its heartbeat's where it does not answer). */
export async function liveRecords(self: string, records: NodeRecord[]): Promise<NodeRecord[]> {
  const asked = await Promise.all(
    records.map(async (r): Promise<NodeRecord | undefined> => {
      if (r.id === self) return r;
      try {
        const res = await fetch(`${r.url}/api/state?scope=node`, { signal: AbortSignal.timeout(1000) });
        if (!res.ok) return r;
        const state = (await res.json()) as HostState;
        return { ...r, state: { rooms: state.rooms, peers: state.peers } };
      } catch (err) {
        // Refused: the node is gone (killed; its record has not expired yet): none of its peers are there.
        // Slow: it is busy; its heartbeat's view stands.
        return refused(err) ? undefined : r;
      }
    }),
  );
  return asked.filter((r): r is NodeRecord => r !== undefined);
}

const refused = (err: unknown): boolean => {
  const cause = (err as { cause?: { code?: string } }).cause;
  return cause?.code === 'ECONNREFUSED' || cause?.code === 'ECONNRESET';
};

export function mergeClusterState(local: ServerState, self: string, records: NodeRecord[]): ServerState {
  const rooms: ServerState['rooms'] = [];
  const peers: ServerState['peers'] = [];
  // Each participant once, on its own node: the copies of publishers pushed to other nodes (cascading) are left out.
  const add = (state: HostState, node: string) => {
    const pushed = new Set(state.peers.filter((p) => p.originNode !== undefined).map((p) => p.id));
    peers.push(...state.peers.filter((p) => !pushed.has(p.id)).map((p) => ({ ...p, node })));
    rooms.push(...state.rooms.map((room) => ({ ...room, participants: room.participants.filter((id) => !pushed.has(id)), node })));
  };
  add(local, self);
  for (const r of records) if (r.id !== self) add(r.state, r.id);
  const nodes = records.map(({ state: _state, ...info }) => info);
  return { ...local, rooms, peers, cluster: { node: self, nodes } };
}
