import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { parseClientMessage, type ClientMessage, type ServerMessage } from '../protocol/messages.js';
import { allowsRoom, type RoomClaims } from './auth.js';
import { MessageRateLimiter } from './rate-limit.js';
import { SfuError } from '../sfu/errors.js';
import type { Participant } from '../sfu/participant.js';
import type { Rooms } from '../sfu/room.js';
import type { IceSettings } from '../sfu/werift.js';

/** Replace the address of host candidates (in SDP or a candidate line) with the announced public IP. */
export function announceAddress(text: string, publicIp: string | undefined): string {
  if (!publicIp) return text;
  return text.replace(
    /(candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host)/g,
    (_m, head: string, _addr: string, tail: string) => `${head}${publicIp}${tail}`,
  );
}

/**
 * One WebSocket client: parses and validates messages, applies them to its
 * Participant one at a time, and reports every failure as an `error` message.
 */
export class SignalingSession {
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  /** Local candidates gathered while an offer/answer is being made: sent after it. */
  private heldCandidates: ServerMessage[] | undefined;
  private readonly limiter: MessageRateLimiter;

  constructor(
    private readonly ws: WebSocket,
    private readonly participant: Participant,
    private readonly rooms: Rooms,
    private readonly log: Logger,
    private readonly publicIp?: string,
    iceServers: IceSettings['iceServers'] = [],
    /** The room token's claims when auth is on. */
    private readonly claims?: RoomClaims,
    /** Messages per second this socket may send (0: no limit). */
    maxMessageRate = 0,
    /** Send `welcome` now (false: the main thread already did, for a room worker). */
    welcome = true,
  ) {
    this.limiter = new MessageRateLimiter(maxMessageRate);
    participant.on('notify', (message) => this.send(message));
    participant.on('offer', (sdp) => this.send({ type: 'offer', sdp: announceAddress(sdp, publicIp) }));
    participant.on('candidate', (c) => {
      const message: ServerMessage = { type: 'ice', candidate: c && { ...c, candidate: announceAddress(c.candidate, publicIp) } };
      if (this.heldCandidates) this.heldCandidates.push(message);
      else this.send(message);
    });
    participant.on('closed', (reason) => {
      this.log.info({ reason }, 'participant closed');
      if (!this.closed) {
        this.send({ type: 'error', code: 'wrong-state', message: `connection closed by the server: ${reason}` });
        this.ws.close(1000, 'peer closed');
      }
    });
    ws.on('message', (data, isBinary) => this.onRaw(data as Buffer, isBinary));
    ws.on('close', () => {
      this.closed = true;
      void participant.close('socket closed');
    });
    ws.on('error', (err) => this.log.debug({ err: err.message }, 'socket error'));
    if (welcome) this.send({ type: 'welcome', peerId: participant.id, iceServers });
  }

  send(message: ServerMessage): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify(message));
  }

  private onRaw(data: Buffer, isBinary: boolean): void {
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
    const parsed = parseClientMessage(isBinary ? new Uint8Array(data) : data.toString('utf8'));
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
      if (this.claims) {
        if (!allowsRoom(this.claims, message.room)) throw new SfuError('forbidden', `your room token is for room "${this.claims.room}", not "${message.room}"`);
        if (name !== undefined && name !== this.claims.identity) throw new SfuError('forbidden', `your room token names you "${this.claims.identity}", not "${name}"`);
        name = this.claims.identity;
      }
      this.rooms.join(p, message.room, { name, echo: message.echo });
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
      if (this.claims && !(this.claims.canPublish && this.claims.canSubscribe)) {
        throw new SfuError('forbidden', 'the echo needs a room token that may publish and subscribe');
      }
      this.rooms.join(p, `~echo-${p.id}`, { echo: true }); // "~" keeps it out of the names clients can join
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
