/**
 * The SFU side of a server: rooms, participants, their signaling sessions,
 * WHIP/WHEP sessions and the metrics about them. One lives in the main thread
 * (`--workers 0`) or one in each room worker thread (sfu-worker.ts), where the
 * sockets and HTTP requests it gets are stand-ins for the main thread's.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { Participant, type ParticipantSnapshot } from '../sfu/participant.js';
import { Rooms } from '../sfu/room.js';
import { Recordings, type RecordingStatus } from '../sfu/recorder.js';
import type { RoomClaims } from './auth.js';
import type { ServerConfig } from './config.js';
import { createMetrics, type Metrics } from './metrics.js';
import { DEFAULT_MAX_MESSAGE_RATE } from './rate-limit.js';
import { handleRecordingApi, RECORDING_PATH } from './recording-api.js';
import { SignalingSession } from './signaling.js';
import { WhipEndpoints } from './whip.js';

/** What a signaling session needs of its socket (a `ws` WebSocket, or a worker's stand-in). */
export type SessionSocket = Pick<WebSocket, 'on' | 'send' | 'close' | 'readyState' | 'OPEN'>;

export interface HostState {
  /** `worker`: the room worker thread it is on (with --workers). */
  rooms: { name: string; participants: string[]; worker?: number }[];
  /** `recording`: the participant's active recording (--record), else null. */
  peers: (ParticipantSnapshot & { recording?: RecordingStatus | null })[];
}

export class SfuHost {
  readonly participants = new Map<string, Participant>();
  readonly rooms: Rooms;
  readonly metrics: Metrics;
  private readonly whip: WhipEndpoints;
  /** --record DIR: every published camera is recorded (recorder.ts). */
  readonly recordings: Recordings | undefined;
  private readonly participantOptions;

  constructor(
    private readonly config: ServerConfig,
    private readonly log: Logger,
    opts: { defaultMetrics?: boolean; onRoomGone?: (name: string) => void } = {},
  ) {
    this.rooms = new Rooms(config.limits, opts.onRoomGone);
    this.metrics = createMetrics(this.rooms, { defaultMetrics: opts.defaultMetrics });
    this.participantOptions = { ice: config.ice, iceTimeoutMs: config.iceTimeoutS * 1000, forwarding: config.forwarding, maxTracks: config.maxTracks };
    this.recordings = config.record ? new Recordings(config.record, true, log) : undefined;
    this.whip = new WhipEndpoints({
      rooms: this.rooms,
      log,
      participantOptions: this.participantOptions,
      addParticipant: (p) => this.add(p),
      publicIp: config.publicIp,
      authSecret: config.authSecret,
    });
  }

  /**
   * A signaling client: a participant with id `id` and its session on `ws`.
   * `welcome: false` when the main thread already sent it (room workers).
   */
  openSession(ws: SessionSocket, id: string, log: Logger, claims: RoomClaims | undefined, welcome = true): Participant {
    const participant = new Participant(id, this.participantOptions);
    if (claims) {
      participant.canPublish = claims.canPublish;
      participant.canSubscribe = claims.canSubscribe;
    }
    this.add(participant);
    new SignalingSession(ws as WebSocket, participant, this.rooms, log, this.config.publicIp, this.config.ice.iceServers, claims, this.config.maxMessageRate ?? DEFAULT_MAX_MESSAGE_RATE, welcome);
    return participant;
  }

  /** A request under /whip/ or /whep/, or the recording API (/api/rooms/ROOM/participants/NAME/recording). */
  handleWhip(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (RECORDING_PATH.test((req.url ?? '/').split('?')[0] ?? '')) return handleRecordingApi(req, res, this.rooms, this.recordings, this.log);
    return this.whip.handle(req, res);
  }

  state(): HostState {
    return {
      rooms: this.rooms.list.map((r) => ({ name: r.name, participants: r.participants.map((p) => p.id) })),
      peers: [...this.participants.values()].map((p) => ({ ...p.snapshot(), recording: this.recordings?.status(p) ?? null })),
    };
  }

  /** End every call (shutdown). Signaling sockets are the caller's to close first. */
  async close(): Promise<void> {
    // Recordings are finalized while their publishers are still there (durations, cues written).
    await this.recordings?.closeAll();
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
