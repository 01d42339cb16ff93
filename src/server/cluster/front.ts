/**
 * What a Facecast does differently as a cluster node (`--redis`), in one place: where a join
 * goes (here, or relayed to the node that serves its room), where a WHIP/WHEP/API request goes
 * (here, 307 to the room's node, or served here from pushed tracks), requests from other nodes
 * (relay tokens: relayed sockets, pushes, `/cluster/push`), the cluster-wide state, the pages'
 * CSP and origins, the welcome's node list and the relay metrics. facecast.ts calls it at
 * those points and nowhere else.
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { Grant } from '../auth.js';
import type { ServerState } from '../facecast.js';
import { type HttpRequestData, type HttpResponseData, jsonResponse } from '../http-data.js';
import type { RoomHost } from '../room-host.js';
import { contentSecurityPolicy, SECURITY_HEADERS } from '../server.js';
import type { ControlOp, HostEvent } from '../sfu-host.js';
import { Cluster, type NodeInfo, type Placement } from './cluster.js';
import { liveRecords, mergeClusterState } from './directory.js';
import { EdgeRooms } from './edge.js';
import { mintRelayToken, RELAY_HEADER, type RelayClaims, relaySocket, verifyRelayToken } from './relay.js';

export interface FrontContext {
  host: RoomHost;
  log: Logger;
  isClosing(): boolean;
}

export class ClusterFront {
  readonly cluster: Cluster;
  private readonly edges: EdgeRooms;
  private joined: Promise<void> | undefined;
  /** Relayed signaling sockets to other nodes. */
  private readonly relays = new Set<WebSocket>();

  constructor(
    redisUrl: string,
    capacity: number,
    private readonly ctx: FrontContext,
  ) {
    this.cluster = new Cluster(redisUrl, ctx.log, () => ctx.host.state(), capacity);
    this.edges = new EdgeRooms(this.cluster, ctx.host, ctx.log);
  }

  /** Register once this node's URL is known (listen() or attach()); the same promise after. */
  join(nodeUrl: string): Promise<void> {
    this.joined ??= this.cluster.start(nodeUrl);
    this.joined.catch(() => undefined);
    return this.joined;
  }

  /** Registered (undefined: not asked to yet). */
  get ready(): Promise<void> | undefined {
    return this.joined;
  }

  /** Room events of this node: claims kept and released, edge rooms noticed. */
  onHostEvent(e: HostEvent): void {
    if (e.name === 'room-created') {
      this.cluster.roomOpened(e.data.room);
      if (!e.data.room.startsWith('~')) void this.edges.roomCreated(e.data.room);
    }
    if (e.name === 'room-closed') this.cluster.roomClosed(e.data.room);
  }

  /** The cluster-wide /api/state, from this node's (`local`) and every other live node's. */
  async state(local: ServerState): Promise<ServerState> {
    if (!this.joined) return local;
    await this.joined;
    try {
      return mergeClusterState(local, this.cluster.id, await liveRecords(this.cluster.id, await this.cluster.records()));
    } catch (err) {
      this.ctx.log.warn({ err: (err as Error).message }, '/api/state: the cluster directory is unavailable; this node only');
      return mergeClusterState(local, this.cluster.id, []);
    }
  }

  async nodes(): Promise<NodeInfo[]> {
    if (!this.joined) return [];
    await this.joined;
    return this.cluster.nodes();
  }

  /** For `welcome`: where the client may reconnect. */
  welcomeNodes(): { nodes?: string[] } {
    return this.cluster.liveUrls.length > 0 ? { nodes: this.cluster.liveUrls.slice(0, 64) } : {};
  }

  /** Origins whose pages may open /ws here: every node seen (a page served by a node that died may reconnect here). */
  allowedOrigins(): string[] {
    return this.cluster.knownOrigins();
  }

  /** The pages' headers: they may also connect to the other nodes (the client reconnects to any). */
  securityHeaders(): Record<string, string> {
    const self = URL.canParse(this.cluster.url) ? new URL(this.cluster.url).origin : '';
    const others = this.cluster.liveOrigins().filter((o) => o !== self);
    return { ...SECURITY_HEADERS, 'content-security-policy': contentSecurityPolicy(others) };
  }

  /** The claims of a relay token (another node of this cluster), or undefined. */
  async verifyRelay(token: string): Promise<RelayClaims | undefined> {
    const claims = await verifyRelayToken(await this.cluster.relaySecret().catch(() => ''), token);
    // The secret may have been made again (a Redis restart): read it once more.
    return claims ?? verifyRelayToken(await this.cluster.relaySecret(true).catch(() => ''), token);
  }

  /** A request another node of the cluster made (its relay token in the header). */
  fromNode(req: IncomingMessage): Promise<RelayClaims | undefined> {
    const token = req.headers[RELAY_HEADER];
    return typeof token === 'string' ? this.verifyRelay(token) : Promise.resolve(undefined);
  }

  /**
   * A join: `openHere()` when the room is (or is placed, or continues) here, else the socket is
   * relayed to the node that serves it. Messages that arrive meanwhile are kept in order.
   */
  async placeSession(
    ws: WebSocket,
    session: { id: string; grant: Grant | undefined },
    first: { data: Buffer; binary: boolean },
    room: string,
    log: Logger,
    openHere: () => void,
  ): Promise<void> {
    const cluster = this.cluster;
    const pending = [first];
    const hold = (data: Buffer, binary: boolean) => pending.push({ data, binary });
    ws.on('message', hold);
    let placement: Placement | undefined;
    let token = '';
    try {
      await this.joined;
      placement = await cluster.placeParticipant(room);
      if (!placement.local) token = await mintRelayToken(await cluster.relaySecret(), { sid: session.id, via: cluster.id, grant: session.grant ?? null });
    } catch (err) {
      // Redis unreachable: the room is served here rather than not at all (it may exist twice until Redis is back).
      log.warn({ err: (err as Error).message, room }, 'room placement failed: serving the room on this node');
      placement = undefined;
    }
    ws.off('message', hold);
    if (ws.readyState !== ws.OPEN || this.ctx.isClosing()) return;
    if (!placement || placement.local) {
      openHere();
      for (const m of pending.slice(1)) ws.emit('message', m.data, m.binary);
      return;
    }
    const node = placement.node;
    cluster.counters.relayedSessions++;
    log.info({ room, node: node.id }, 'signaling relayed to the room’s node');
    const up = relaySocket(ws, {
      nodeUrl: node.url,
      token,
      pending,
      log,
      onUnreachable: (err) => {
        cluster.counters.relayFailures++;
        log.warn({ room, node: node.id, err: err.message }, 'the room’s node is unreachable');
        void cluster.releaseIfHeldBy(room, node.id).catch(() => undefined);
        if (ws.readyState !== ws.OPEN) return;
        ws.send(JSON.stringify({ type: 'error', code: 'node-unavailable', message: `the node holding room "${room}" is unreachable; reconnect to try again` }));
        ws.close(1013, 'room node unreachable');
      },
      onEnd: () => this.relays.delete(up),
    });
    this.relays.add(up);
  }

  /**
   * A WHIP/WHEP or recording API request (admitted) for `room`: 'here', or the answer (a 307 to the
   * room's node). A WHEP viewer of a room held elsewhere is served here from pushed tracks ('here').
   */
  async routeRoomRequest(data: HttpRequestData, kind: string | undefined, room: string): Promise<'here' | HttpResponseData> {
    // Not a CORS preflight (browsers refuse a redirected one), nor the WHEP sessions of an edge room here.
    if (data.method === 'OPTIONS' || (data.method !== 'POST' && this.edges.has(room))) return 'here';
    const post = data.method === 'POST' && (kind === 'whip' || kind === 'whep');
    let elsewhere: NodeInfo | undefined;
    try {
      await this.joined;
      const placement = post ? await this.cluster.place(room) : await this.cluster.owner(room);
      elsewhere = placement && !placement.local ? placement.node : undefined;
    } catch (err) {
      this.ctx.log.warn({ err: (err as Error).message, room }, 'room placement failed: serving the request on this node');
    }
    if (!elsewhere) return 'here';
    if (kind === 'whep' && post && (await this.edges.serve(room, elsewhere))) return 'here';
    // WHIP (and the recording API) for a room on another node: 307 there (RFC 9725 allows it; the body is re-sent).
    this.cluster.counters.redirects++;
    return {
      status: 307,
      headers: { location: elsewhere.url + data.url, 'access-control-allow-origin': '*', 'access-control-expose-headers': 'location' },
      body: new Uint8Array(),
    };
  }

  /** `POST/DELETE /cluster/push {room, target, members?}` from another node: start or stop pushing the room's publishers there; presence both ways. */
  async pushRequest(req: IncomingMessage): Promise<HttpResponseData> {
    const from = await this.fromNode(req);
    if (!from) return jsonResponse(401, { error: 'cluster nodes only' });
    let body: { room?: unknown; target?: unknown; members?: { id?: unknown; name?: unknown }[] };
    try {
      const chunks: Buffer[] = [];
      for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
    } catch {
      return jsonResponse(400, { error: 'body: JSON {room, target}' });
    }
    if (typeof body.room !== 'string' || typeof body.target !== 'string' || !/^https?:\/\//.test(body.target)) return jsonResponse(400, { error: 'body: JSON {room, target}' });
    const cluster = this.cluster;
    const c: ControlOp =
      req.method === 'DELETE'
        ? { op: 'unpush', room: body.room, target: body.target, targetNode: from.via }
        : {
            op: 'push',
            room: body.room,
            target: body.target,
            targetNode: from.via,
            token: await mintRelayToken(await cluster.relaySecret(), { sid: 'push', via: cluster.id, grant: null }),
          };
    const { status, body: answer } = await this.ctx.host.control(c);
    // Presence: the requester's participants here, this room's (and its other nodes') back.
    if (c.op === 'push' && Array.isArray(body.members)) {
      const members = body.members.filter((m): m is { id: string; name: string } => typeof m?.id === 'string' && typeof m?.name === 'string').slice(0, 10_000);
      const presence = await this.ctx.host.control({ op: 'presence', room: body.room, node: from.via, members });
      return jsonResponse(status, { ...(answer as object), members: (presence.body as { members?: unknown[] }).members ?? [] });
    }
    return jsonResponse(status, answer);
  }

  /** Relay counters for /metrics (Prometheus text). */
  metrics(): string {
    const c = this.cluster;
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, value: number) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
    metric('facecast_cluster_relayed_sessions_total', 'counter', 'Signaling sessions relayed to the node holding their room.', c.counters.relayedSessions);
    metric('facecast_cluster_relays_active', 'gauge', 'Signaling sessions being relayed to other nodes now.', this.relays.size);
    metric('facecast_cluster_relay_failures_total', 'counter', 'Relays whose node could not be reached.', c.counters.relayFailures);
    metric('facecast_cluster_redirects_total', 'counter', 'WHIP/WHEP and API requests answered 307 to the room’s node.', c.counters.redirects);
    metric('facecast_cluster_redis_errors_total', 'counter', 'Redis connection and command errors.', c.counters.redisErrors);
    metric('facecast_cluster_nodes', 'gauge', 'Live nodes at the last heartbeat of this one.', c.liveNodes);
    metric('facecast_cluster_edge_rooms', 'gauge', 'Rooms of other nodes that continue here (their publishers pushed here).', this.edges.size);
    metric('facecast_cluster_pushes_requested_total', 'counter', 'Pushes this node asked of rooms’ nodes for its WHEP viewers.', this.edges.counters.pushesRequested);
    metric('facecast_cluster_push_failures_total', 'counter', 'Pushes asked that failed (the viewer was redirected instead).', this.edges.counters.pushFailures);
    return `${lines.join('\n')}\n`;
  }

  /** Shutdown, before the calls end: relays closed, edges' pushes stopped. */
  async closeRelays(): Promise<void> {
    for (const up of this.relays) up.close(1001, 'server shutting down');
    await this.edges.close();
  }

  /** Shutdown, after the calls ended: leave the cluster (`held`: the rooms this node held). */
  close(held: readonly string[]): Promise<void> {
    return this.cluster.close(held);
  }
}
