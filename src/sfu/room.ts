import { EventEmitter } from 'node:events';
import { SfuError } from './errors.js';
import type { InboundTrack } from './publications/inbound-track.js';
import type { Participant } from './participant.js';

export interface RoomLimits {
  /** Most participants in one room. */
  maxRoomSize: number;
  /** Most participants in all rooms together. */
  maxParticipants: number;
  /**
   * How long a departed participant's tracks stay on subscribers' screens,
   * waiting for the same name to come back (a reconnect continues the same
   * subscriber tracks). Must stay well under 2 s: leavers' tiles go within that.
   */
  reconnectGraceMs: number;
}

export const DEFAULT_LIMITS: RoomLimits = { maxRoomSize: 16, maxParticipants: 200, reconnectGraceMs: 1000 };

/** A participant, as events and notices name it. */
export interface ParticipantRef {
  id: string;
  name: string;
}

/** A published track (all simulcast layers of it together), as events name it. */
export interface PublicationRef {
  /** Stable across the publisher's reconnects: `NAME/KIND/ORDINAL`. */
  key: string;
  kind: 'audio' | 'video';
  codec: string;
  publisher: ParticipantRef;
}

/** What a Room reports (the SFU's domain events; signaling and the public API turn them into theirs). */
export interface RoomEvents {
  /** A new name is in the room (not a reconnect under a name already there). */
  'participant-joined': [ParticipantRef];
  /** A name left the room and did not come back within the reconnect grace. */
  'participant-left': [ParticipantRef];
  'track-published': [PublicationRef];
  'track-unpublished': [PublicationRef];
}

const info = (p: Participant): ParticipantRef => ({ id: p.id, name: p.name });
const publication = (p: Participant, track: InboundTrack, key: string): PublicationRef => ({ key, kind: track.kind, codec: track.mimeType, publisher: info(p) });

/** Subscription key of a published track: stable across a publisher's reconnects. */
function trackKey(publisherName: string, track: InboundTrack, ordinal: number): string {
  return `${publisherName}/${track.kind}/${ordinal}`;
}

/**
 * A room: who is in it, and who receives whose tracks. Every published track
 * goes to every other participant (and back to its publisher when echo is on).
 * Tracks are keyed by publisher *name*, so a publisher that reconnects under the
 * same name within the grace period continues the same subscriber tracks.
 */
export class Room extends EventEmitter<RoomEvents> {
  private readonly members = new Map<string, Participant>();
  /** Track keys each member publishes, by participant id. */
  private readonly keysOf = new Map<string, Map<InboundTrack, string>>();
  private readonly departures = new Set<NodeJS.Timeout>();
  /**
   * Cascading (a room spanning cluster nodes): the participants of this room on other nodes,
   * by node, as those nodes announce them. They are the room's members to every client here;
   * the publishers among them also arrive as pushed participants (originNode set), which carry
   * their media but are never announced themselves.
   */
  private readonly remote = new Map<string, Map<string, ParticipantRef>>();

  constructor(
    readonly name: string,
    private readonly limits: RoomLimits,
    private readonly onEmpty: (room: Room) => void,
  ) {
    super();
    // One listener per signaling session in the room.
    this.setMaxListeners(0);
  }

  get size(): number {
    return this.members.size;
  }

  get participants(): Participant[] {
    return [...this.members.values()];
  }

  /** This node's own participants (not the pushed copies of other nodes' publishers). */
  get localMembers(): ParticipantRef[] {
    return this.participants.filter((p) => p.originNode === undefined).map(info);
  }

  /** The participants announced by other nodes, except `but`'s (cascading presence). */
  remoteMembers(but?: string): ParticipantRef[] {
    return [...this.remote].filter(([node]) => node !== but).flatMap(([, m]) => [...m.values()]);
  }

  /** `node` says these are its participants of this room: joins and leaves for the clients here. */
  setRemote(node: string, members: readonly ParticipantRef[]): void {
    const prev = this.remote.get(node) ?? new Map<string, ParticipantRef>();
    const next = new Map(members.map((m) => [m.id, { id: m.id, name: m.name }]));
    if (next.size > 0) this.remote.set(node, next);
    else this.remote.delete(node);
    for (const [id, m] of prev) if (!next.has(id)) this.emit('participant-left', m);
    for (const [id, m] of next) if (!prev.has(id)) this.emit('participant-joined', m);
  }

  /**
   * Add a participant under `opts.name` (else its own); a live member with the same name is replaced.
   * Returns the others already there.
   */
  join(p: Participant, opts: { name?: string; echo?: boolean } = {}): ParticipantRef[] {
    const name = opts.name ?? p.name;
    const twin = [...this.members.values()].find((m) => m.name === name);
    // A publisher pushed from another node of the cluster (p.originNode) is already counted there.
    if (!twin && p.originNode === undefined && this.localMembers.length >= this.limits.maxRoomSize) {
      throw new SfuError('room-full', `room "${this.name}" is full (${this.limits.maxRoomSize} participants)`);
    }
    p.joined(this.name, opts.name, opts.echo ?? false);
    this.members.set(p.id, p);
    this.keysOf.set(p.id, new Map());
    if (twin) void twin.close('replaced by a new connection with the same name');

    const others = this.participants.filter((m) => m !== p && m !== twin);
    // A pushed publisher is announced by its own node (setRemote), not here.
    if (!twin && p.originNode === undefined) this.emit('participant-joined', info(p));

    for (const other of others) {
      for (const [track, key] of this.keysOf.get(other.id) ?? []) p.subscribe(track, other.name, key);
    }
    for (const track of p.published.values()) this.publish(p, track);
    p.on('track', (track) => this.publish(p, track));
    p.on('faces', (faces) => {
      // Metadata goes wherever the participant's video goes: the others, and itself with echo on.
      const message = { ...faces, from: p.name };
      for (const m of this.members.values()) if (m !== p || p.echo) m.sendFaces(message);
    });
    p.once('closed', () => this.leave(p));
    return [...others.filter((o) => o.originNode === undefined).map(info), ...this.remoteMembers()];
  }

  /** Turn a member's own echo on or off. */
  setEcho(p: Participant, enabled: boolean): void {
    p.setEcho(enabled);
    for (const [track, key] of this.keysOf.get(p.id) ?? []) {
      if (track.kind !== 'video') continue;
      if (enabled) p.subscribe(track, p.name, key);
      else p.unsubscribe(key);
    }
  }

  close(): void {
    for (const t of this.departures) clearTimeout(t);
    this.departures.clear();
    for (const p of this.participants) void p.close('room closed');
  }

  private publish(p: Participant, track: InboundTrack): void {
    const keys = this.keysOf.get(p.id);
    if (!keys || keys.has(track)) return;
    // Simulcast layers of one published track share its key; each new track gets the next ordinal.
    const sibling = [...keys].find(([t]) => t.group === track.group);
    const groups = new Set([...keys.keys()].filter((t) => t.kind === track.kind).map((t) => t.group));
    const key = sibling ? sibling[1] : trackKey(p.name, track, groups.size);
    keys.set(track, key);
    if (!sibling) this.emit('track-published', publication(p, track, key));
    for (const member of this.members.values()) {
      if (member === p) {
        if (p.echo && track.kind === 'video') p.subscribe(track, p.name, key);
      } else {
        member.subscribe(track, p.name, key);
      }
    }
  }

  private leave(p: Participant): void {
    if (this.members.get(p.id) !== p) return;
    this.members.delete(p.id);
    // One key per published track (its simulcast layers share it), with its first layer.
    const firstLayer = new Map<string, InboundTrack>();
    for (const [track, key] of this.keysOf.get(p.id) ?? []) if (!firstLayer.has(key)) firstLayer.set(key, track);
    const keys = [...firstLayer.keys()];
    this.keysOf.delete(p.id);
    for (const [key, track] of firstLayer) this.emit('track-unpublished', publication(p, track, key));
    // Keep the leaver's tracks on subscribers briefly: the same name may come back.
    const timer = setTimeout(() => {
      this.departures.delete(timer);
      const back = [...this.members.values()].find((m) => m.name === p.name);
      for (const member of this.members.values()) {
        for (const key of keys) {
          const fwd = member.subscription(key);
          // Reclaimed keys now forward a live track of the returning participant.
          if (fwd && (fwd.currentSource.isClosed || !back)) member.unsubscribe(key);
        }
      }
      if (!back && p.originNode === undefined) this.emit('participant-left', info(p));
      if (this.members.size === 0) this.onEmpty(this);
    }, this.limits.reconnectGraceMs);
    timer.unref();
    this.departures.add(timer);
  }
}

/** Every room event, with the room's name; plus rooms coming and going. */
export type RoomsEvents = { [K in keyof RoomEvents]: [room: string, ...RoomEvents[K]] } & {
  'room-created': [room: string];
  'room-closed': [room: string];
};

/** All rooms of the server, created on first join and dropped when empty. */
export class Rooms extends EventEmitter<RoomsEvents> {
  private readonly rooms = new Map<string, Room>();
  readonly limits: RoomLimits;

  constructor(limits: Partial<RoomLimits> = {}) {
    super();
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  get list(): Room[] {
    return [...this.rooms.values()];
  }

  get participantCount(): number {
    let n = 0;
    for (const r of this.rooms.values()) n += r.size;
    return n;
  }

  get(name: string): Room | undefined {
    return this.rooms.get(name);
  }

  /** Put `p` in `roomName` (made on first join); returns the room and the others already there. */
  join(p: Participant, roomName: string, opts: { name?: string; echo?: boolean } = {}): { room: Room; others: ParticipantRef[] } {
    if (p.room !== null) throw new SfuError('already-joined', `already in room "${p.room}"`);
    // Publishers pushed from other cluster nodes do not take the places of this node's participants.
    const counted = this.list.reduce((n, r) => n + r.participants.filter((m) => m.originNode === undefined).length, 0);
    if (p.originNode === undefined && counted >= this.limits.maxParticipants) {
      throw new SfuError('server-full', `the server is full (${this.limits.maxParticipants} participants)`);
    }
    let room = this.rooms.get(roomName);
    if (!room) {
      room = new Room(roomName, this.limits, (r) => {
        if (this.rooms.get(r.name) === r && r.size === 0) this.drop(r);
      });
      this.rooms.set(roomName, room);
      const named = room.name;
      for (const event of ['participant-joined', 'participant-left', 'track-published', 'track-unpublished'] as const) {
        (room as EventEmitter).on(event, (data: unknown) => (this.emit as (e: string, ...a: unknown[]) => boolean)(event, named, data));
      }
      this.emit('room-created', named);
    }
    try {
      const others = room.join(p, opts);
      return { room, others };
    } catch (err) {
      if (room.size === 0) this.drop(room);
      throw err;
    }
  }

  private drop(room: Room): void {
    this.rooms.delete(room.name);
    this.emit('room-closed', room.name);
  }

  close(): void {
    for (const r of this.rooms.values()) {
      r.close();
      this.emit('room-closed', r.name);
    }
    this.rooms.clear();
  }
}
