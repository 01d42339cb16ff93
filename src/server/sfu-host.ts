/**
 * The SFU side of a server: rooms, participants, their signaling sessions, WHIP/WHEP
 * sessions, recordings and the metrics about them. One runs in the main thread
 * (`workers: 0`, room-host.ts) or one in each room worker thread (sfu-worker.ts).
 * It reports the rooms' domain events as plain data (FacecastEventMap) for the public API.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { ParseResult } from '../protocol/messages.js';
import { Participant, type ParticipantSnapshot } from '../sfu/participant.js';
import type { RecordingStatus } from '../sfu/recording/recorder.js';
import { Recordings } from '../sfu/recording/recordings.js';
import { Rooms, type ParticipantRef, type PublicationRef } from '../sfu/room.js';
import type { Grant } from './auth.js';
import type { ServerConfig } from './config.js';
import type { HttpRequestData, HttpResponseData } from './http-data.js';
import { createMetrics, type Metrics } from './metrics.js';
import { DEFAULT_MAX_MESSAGE_RATE } from './rate-limit.js';
import { handleRecordingApi, RECORDING_PATH, recordingControl, type RecordingVerb } from './recording-api.js';
import { SignalingSession, type SessionSocket } from './signaling.js';
import { TrackPush } from './cluster/push.js';
import { WhipEndpoints } from './whip.js';

export interface HostState {
  /** `worker`: the room worker thread it is on (with room workers); `node`: the cluster node (--redis). */
  rooms: { name: string; participants: string[]; worker?: number; node?: string }[];
  /** `recording`: the participant's active recording (--record), else null; `node`: the cluster node (--redis). */
  peers: (ParticipantSnapshot & { recording?: RecordingStatus | null; node?: string })[];
  /** Cascading (--redis): publishers' tracks this node sends to edge nodes for their WHEP viewers. */
  pushes?: { room: string; publisher: string; target: string; packetsOut: number; keyframeRequests: number }[];
}

/** The public API's events (Facecast extends EventEmitter<FacecastEventMap>): plain data. */
export interface FacecastEventMap {
  'room-created': [{ room: string }];
  'room-closed': [{ room: string }];
  'participant-joined': [{ room: string; participant: ParticipantRef }];
  'participant-left': [{ room: string; participant: ParticipantRef }];
  'track-published': [{ room: string; track: PublicationRef }];
  'track-unpublished': [{ room: string; track: PublicationRef }];
}
export type FacecastEventName = keyof FacecastEventMap;
/** One event as it crosses from a room worker to the main thread. */
export type HostEvent = { [K in FacecastEventName]: { name: K; data: FacecastEventMap[K][0] } }[FacecastEventName];

/** What the public API asks of the rooms (closeRoom, removeParticipant, recordings). */
export type ControlOp =
  | { op: 'close-room'; room: string }
  | { op: 'remove-participant'; room: string; name: string }
  | { op: 'recording'; verb: RecordingVerb; room: string; name: string }
  /** Cascading: send every publisher of `room` to the edge node `target` (once each; again for new ones). */
  | { op: 'push'; room: string; target: string; targetNode: string; token: string }
  /** Cascading: stop sending `room` to `target` (its viewers left); `targetNode`'s presence goes too. */
  | { op: 'unpush'; room: string; target: string; targetNode?: string }
  /** Cascading: `node`'s participants of `room`; answers this node's and the other nodes' (a star through the room's node). */
  | { op: 'presence'; room: string; node: string; members: { id: string; name: string }[] };
/** `status`: HTTP-like (200 done, 404 no such room or participant, 409 recording off ...). */
export type ControlResult = { status: number; body: unknown };

/** A signaling client handed to the host: its id, what it may do and its first message, parsed. */
export interface SessionStart {
  id: string;
  grant: Grant | undefined;
  first: { data: Buffer; parsed: ParseResult };
}

export class SfuHost extends EventEmitter<{ event: [HostEvent] }> {
  readonly participants = new Map<string, Participant>();
  readonly rooms: Rooms;
  readonly metrics: Metrics;
  private readonly whip: WhipEndpoints;
  /** --record DIR: every published camera is recorded (recording/recordings.ts). */
  readonly recordings: Recordings | undefined;
  private readonly participantOptions;
  /** Cascading: by `room|target|publisher id`. */
  private readonly pushes = new Map<string, TrackPush>();

  constructor(
    private readonly config: ServerConfig,
    private readonly log: Logger,
    opts: { defaultMetrics?: boolean } = {},
  ) {
    super();
    this.rooms = new Rooms(config.limits);
    const emit = (e: HostEvent) => this.emit('event', e);
    this.rooms.on('room-created', (room) => emit({ name: 'room-created', data: { room } }));
    this.rooms.on('room-closed', (room) => emit({ name: 'room-closed', data: { room } }));
    this.rooms.on('participant-joined', (room, participant) => emit({ name: 'participant-joined', data: { room, participant } }));
    this.rooms.on('participant-left', (room, participant) => emit({ name: 'participant-left', data: { room, participant } }));
    this.rooms.on('track-published', (room, track) => emit({ name: 'track-published', data: { room, track } }));
    this.rooms.on('track-unpublished', (room, track) => emit({ name: 'track-unpublished', data: { room, track } }));
    this.metrics = createMetrics(this.rooms, { defaultMetrics: opts.defaultMetrics });
    this.participantOptions = { ice: config.ice, iceTimeoutMs: config.iceTimeoutS * 1000, forwarding: config.forwarding, maxTracks: config.maxTracks, dynacast: config.dynacast };
    this.recordings = config.record ? new Recordings(config.record, true, log) : undefined;
    this.whip = new WhipEndpoints({
      rooms: this.rooms,
      log,
      participantOptions: this.participantOptions,
      addParticipant: (p) => this.add(p),
      publicIp: config.publicIp,
    });
  }

  /** A signaling client on `ws` (its `welcome` already sent): a participant and its session. */
  openSession(ws: SessionSocket, start: SessionStart, log: Logger): Participant {
    const rights = start.grant ? { canPublish: start.grant.canPublish, canSubscribe: start.grant.canSubscribe } : {};
    const participant = new Participant(start.id, { ...this.participantOptions, ...rights });
    this.add(participant);
    const opts = { publicIp: this.config.publicIp, grant: start.grant, maxMessageRate: this.config.maxMessageRate ?? DEFAULT_MAX_MESSAGE_RATE };
    new SignalingSession(ws, participant, this.rooms, log, opts, start.first);
    return participant;
  }

  /** A request under /whip/ or /whep/, or the recording API (/api/rooms/ROOM/participants/NAME/recording). */
  http(req: HttpRequestData, grant: Grant | undefined): Promise<HttpResponseData> {
    if (RECORDING_PATH.test(req.url.split('?')[0] ?? '')) return handleRecordingApi(req, this.rooms, this.recordings, this.log);
    return this.whip.handle(req, grant);
  }

  async control(c: ControlOp): Promise<ControlResult> {
    if (c.op === 'recording') return recordingControl(this.rooms, this.recordings, this.log, c.verb, c.room, c.name);
    if (c.op === 'push' || c.op === 'unpush') return this.pushControl(c);
    if (c.op === 'presence') return this.presenceControl(c);
    const room = this.rooms.get(c.room);
    if (!room) return { status: 404, body: { error: `no room "${c.room}"` } };
    if (c.op === 'close-room') {
      await Promise.all(room.participants.map((p) => p.close('room closed by the server')));
      return { status: 200, body: { closed: c.room } };
    }
    const p = room.participants.find((x) => x.name === c.name);
    if (!p) return { status: 404, body: { error: `no participant "${c.name}" in room "${c.room}"` } };
    await p.close('removed by the server');
    return { status: 200, body: { removed: c.name } };
  }

  /** Cascading: start pushing a room's publishers to an edge node, or stop. */
  private async pushControl(c: Extract<ControlOp, { op: 'push' | 'unpush' }>): Promise<ControlResult> {
    const prefix = `${c.room}|${c.target}|`;
    if (c.op === 'unpush') {
      if (c.targetNode) this.dropPresence(c.room, c.targetNode);
      const ending = [...this.pushes].filter(([k]) => k.startsWith(prefix));
      await Promise.all(ending.map(([, push]) => push.close()));
      return { status: 200, body: { stopped: ending.length } };
    }
    const room = this.rooms.get(c.room);
    if (!room) return { status: 404, body: { error: `no room "${c.room}"` } };
    // Not the publishers the target pushed here itself (no loops).
    const publishers = room.participants.filter((p) => p.published.size > 0 && p.originNode !== c.targetNode);
    const failed: string[] = [];
    await Promise.all(
      publishers.map(async (p) => {
        const key = prefix + p.id;
        if (this.pushes.has(key)) return;
        const push = new TrackPush(p, c.target, c.room, c.token, this.config.ice, this.log);
        this.pushes.set(key, push);
        push.once('closed', () => this.pushes.get(key) === push && this.pushes.delete(key));
        try {
          await push.start();
        } catch (err) {
          this.log.warn({ err: (err as Error).message, publisher: p.name, target: c.target }, 'push to an edge node failed');
          failed.push(p.name);
          await push.close();
        }
      }),
    );
    const pushed = publishers.map((p) => p.name).filter((n) => !failed.includes(n));
    return { status: failed.length && !pushed.length ? 502 : 200, body: { publishers: pushed, failed } };
  }

  /** Cascading presence: when each node last announced its participants of each room (`room|node`). */
  private readonly presenceAt = new Map<string, number>();
  private presenceTimer: NodeJS.Timeout | undefined;

  private presenceControl(c: Extract<ControlOp, { op: 'presence' }>): ControlResult {
    const room = this.rooms.get(c.room);
    if (!room) return { status: 200, body: { members: [] } };
    room.setRemote(c.node, c.members);
    this.presenceAt.set(`${c.room}|${c.node}`, Date.now());
    // A node that stops announcing (killed, cut off) is forgotten after 5 s.
    this.presenceTimer ??= setInterval(() => {
      const now = Date.now();
      for (const [key, at] of this.presenceAt) {
        if (now - at < 5000) continue;
        const [r, node] = key.split('|') as [string, string];
        this.dropPresence(r, node);
      }
      if (this.presenceAt.size === 0) {
        clearInterval(this.presenceTimer);
        this.presenceTimer = undefined;
      }
    }, 1000).unref();
    return { status: 200, body: { members: [...room.localMembers, ...room.remoteMembers(c.node)] } };
  }

  private dropPresence(room: string, node: string): void {
    this.presenceAt.delete(`${room}|${node}`);
    this.rooms.get(room)?.setRemote(node, []);
  }

  state(): HostState {
    return {
      rooms: this.rooms.list.map((r) => ({ name: r.name, participants: r.participants.map((p) => p.id) })),
      peers: [...this.participants.values()].map((p) => ({ ...p.snapshot(), recording: this.recordings?.status(p) ?? null })),
      ...(this.pushes.size === 0
        ? {}
        : {
            pushes: [...this.pushes.entries()].map(([key, push]) => ({
              room: key.split('|')[0]!,
              publisher: push.publisher.name,
              target: push.target,
              packetsOut: push.packetsOut,
              keyframeRequests: push.keyframeRequests,
            })),
          }),
    };
  }

  /** End every call (shutdown). Signaling sockets are the caller's to close first. */
  async close(): Promise<void> {
    clearInterval(this.presenceTimer);
    // Recordings are finalized while their publishers are still there (durations, cues written).
    await this.recordings?.closeAll();
    await Promise.all([...this.pushes.values()].map((p) => p.close()));
    await this.whip.close();
    await Promise.all([...this.participants.values()].map((p) => p.close('server shutting down')));
    this.rooms.close();
    this.metrics.close();
  }

  private add(p: Participant): void {
    this.participants.set(p.id, p);
    this.metrics.track(p);
    this.recordings?.watch(p);
    p.once('closed', () => this.participants.delete(p.id));
  }
}
