import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { parseClientMessage, type ClientMessage, type ParseResult, type ServerMessage } from '../protocol/messages.js';
import { allowsRoom, type Grant } from './auth.js';
import { MessageRateLimiter } from './rate-limit.js';
import { SfuError } from '../sfu/errors.js';
import type { Participant } from '../sfu/participant.js';
import type { RoomEvents, Rooms } from '../sfu/room.js';

/** Replace the address of host candidates (in SDP or a candidate line) with the announced public IP. */
export function announceAddress(text: string, publicIp: string | undefined): string {
  if (!publicIp) return text;
  return text.replace(/(candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host)/g, (_m, head: string, _addr: string, tail: string) => `${head}${publicIp}${tail}`);
}

/** What a signaling session needs of its socket (a `ws` WebSocket, or a room worker's stand-in). */
export type SessionSocket = Pick<WebSocket, 'on' | 'send' | 'close' | 'readyState' | 'OPEN'>;

export interface SessionOptions {
  publicIp?: string;
  /** What the client may do (room token or authorize hook); undefined: anything. */
  grant?: Grant;
  /** Messages per second this socket may send (0: no limit). */
  maxMessageRate?: number;
}

/**
 * One WebSocket client: parses and validates messages, applies them to its
 * Participant one at a time, and reports every failure as an `error` message.
 * The SFU's domain events (its room's members and the participant's refusals)
 * become the protocol's messages here. `welcome` is the server's (facecast.ts),
 * sent before the first message; the session starts at that message, already parsed.
 */
export class SignalingSession {
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  /** Local candidates gathered while an offer/answer is being made: sent after it. */
  private heldCandidates: ServerMessage[] | undefined;
  private readonly limiter: MessageRateLimiter;
  private readonly publicIp: string | undefined;
  private readonly grant: Grant | undefined;
  private leaveRoom: (() => void) | undefined;

  constructor(
    private readonly ws: SessionSocket,
    private readonly participant: Participant,
    private readonly rooms: Rooms,
    private readonly log: Logger,
    opts: SessionOptions,
    /** The socket's first message, parsed by the server to place the session. */
    first: { data: Buffer; parsed: ParseResult },
  ) {
    this.publicIp = opts.publicIp;
    this.grant = opts.grant;
    this.limiter = new MessageRateLimiter(opts.maxMessageRate ?? 0);
    participant.on('refused', (code, message) => this.send({ type: 'error', code, message }));
    participant.on('track-paused', (name, kind, reason) => this.send({ type: 'track-paused', name, kind, reason }));
    participant.on('track-resumed', (name, kind) => this.send({ type: 'track-resumed', name, kind }));
    participant.on('layers', (mid, active) => this.send({ type: 'layers', mid, active }));
    participant.on('offer', (sdp) => this.send({ type: 'offer', sdp: announceAddress(sdp, this.publicIp) }));
    participant.on('candidate', (c) => {
      const message: ServerMessage = { type: 'ice', candidate: c && { ...c, candidate: announceAddress(c.candidate, this.publicIp) } };
      if (this.heldCandidates) this.heldCandidates.push(message);
      else this.send(message);
    });
    participant.on('closed', (reason) => {
      this.leaveRoom?.();
      this.log.info({ reason }, 'participant closed');
      if (!this.closed) {
        this.send({ type: 'error', code: 'wrong-state', message: `connection closed by the server: ${reason}` });
        this.ws.close(1000, 'peer closed');
      }
    });
    ws.on('message', (data, isBinary) => this.onRaw(data as Buffer, isBinary));
    // (Socket errors are the server's: socket-guard.ts handles them from the moment it accepts the socket.)
    ws.on('close', () => {
      this.closed = true;
      void participant.close('socket closed');
    });
    this.onRaw(first.data, false, first.parsed);
  }

  send(message: ServerMessage): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify(message));
  }

  private onRaw(data: Buffer, isBinary: boolean, parsedAlready?: ParseResult): void {
    if (this.closed) return;
    const verdict = this.limiter.take();
    if (!verdict.accept) {
      if (verdict.disconnect) {
        this.log.warn({ dropped: this.limiter.dropped }, 'message flood: disconnecting');
        this.send({ type: 'error', code: 'rate-limited', message: `more than ${this.limiter.rate} messages per second for too long: disconnected` });
        this.closed = true;
        this.ws.close(1008, 'message rate');
        void this.participant.close('message flood');
      } else if (verdict.warn) {
        this.log.debug({ dropped: this.limiter.dropped }, 'rate limited');
        this.send({ type: 'error', code: 'rate-limited', message: `more than ${this.limiter.rate} messages per second: messages dropped (${this.limiter.dropped} so far)` });
      }
      return;
    }
    const parsed = parsedAlready ?? parseClientMessage(isBinary ? new Uint8Array(data) : data.toString('utf8'));
    if (!parsed.ok) {
      this.log.debug({ code: parsed.code }, parsed.message);
      this.send({ type: 'error', code: parsed.code, message: parsed.message });
      return;
    }
    const message = parsed.message;
    this.queue = this.queue.then(() => this.handle(message)).catch((err: unknown) => this.fail(err));
  }

  private async handle(message: ClientMessage): Promise<void> {
    const p = this.participant;
    if (p.isClosed) return;
    if (message.type === 'join') {
      let name = message.name;
      const g = this.grant;
      if (g) {
        if (!allowsRoom(g, message.room)) throw new SfuError('forbidden', `your room token is for room "${g.room}", not "${message.room}"`);
        if (g.identity !== undefined) {
          if (name !== undefined && name !== g.identity) throw new SfuError('forbidden', `your room token names you "${g.identity}", not "${name}"`);
          name = g.identity;
        }
      }
      this.enter(message.room, { name, echo: message.echo });
      this.log.info({ room: message.room, name: p.name }, 'joined');
      return;
    }
    if (message.type === 'tile') {
      if (p.room === null) throw new SfuError('not-joined', 'join a room before sizing tiles');
      p.setTileHeight(message.name, message.height);
      return;
    }
    if (message.type === 'echo') {
      const room = p.room === null ? undefined : this.rooms.get(p.room);
      if (!room) throw new SfuError('not-joined', 'join a room before turning echo on or off');
      room.setEcho(p, message.enabled);
      return;
    }
    // Negotiating without a join: the echo page, a private room of one with echo on.
    if (p.room === null && (message.type === 'offer' || message.type === 'negotiate')) {
      if (this.grant && !(this.grant.canPublish && this.grant.canSubscribe)) {
        throw new SfuError('forbidden', 'the echo needs a room token that may publish and subscribe');
      }
      this.enter(`~echo-${p.id}`, { echo: true }); // "~" keeps it out of the names clients can join
    }
    if (message.type === 'offer' || message.type === 'negotiate') {
      this.heldCandidates = [];
      try {
        await this.describe(message);
      } finally {
        const held = this.heldCandidates;
        this.heldCandidates = undefined;
        for (const m of held) this.send(m);
      }
      return;
    }
    switch (message.type) {
      case 'answer':
        await this.participant.handleAnswer(message.sdp);
        break;
      case 'ice':
        await this.participant.addCandidate(message.candidate);
        break;
    }
  }

  /** Join a room: `joined` now, then its members' comings and goings as messages. */
  private enter(roomName: string, opts: { name?: string; echo?: boolean }): void {
    const p = this.participant;
    const { room, others } = this.rooms.join(p, roomName, opts);
    this.send({ type: 'joined', room: roomName, participantId: p.id, name: p.name, participants: others });
    const joined = (who: RoomEvents['participant-joined'][0]) => {
      if (who.id !== p.id) this.send({ type: 'participant-joined', participant: who });
    };
    const left = (who: RoomEvents['participant-left'][0]) => this.send({ type: 'participant-left', participant: who });
    room.on('participant-joined', joined);
    room.on('participant-left', left);
    this.leaveRoom = () => {
      room.off('participant-joined', joined);
      room.off('participant-left', left);
    };
  }

  /** Make and send our half of an offer/answer exchange. */
  private async describe(message: Extract<ClientMessage, { type: 'offer' | 'negotiate' }>): Promise<void> {
    switch (message.type) {
      case 'offer': {
        const sdp = await this.participant.handleOffer(message.sdp);
        this.send({ type: 'answer', sdp: announceAddress(sdp, this.publicIp) });
        break;
      }
      case 'negotiate': {
        const sdp = await this.participant.createOffer();
        this.send({ type: 'offer', sdp: announceAddress(sdp, this.publicIp) });
        break;
      }
    }
  }

  private fail(err: unknown): void {
    if (err instanceof SfuError) {
      this.log.debug({ code: err.code }, err.message);
      this.send({ type: 'error', code: err.code, message: err.message });
      return;
    }
    this.log.error({ err }, 'signaling failure');
    this.send({ type: 'error', code: 'internal', message: 'internal error while handling the message' });
  }
}
