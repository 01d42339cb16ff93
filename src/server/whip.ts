/**
 * WHIP ingest (RFC 9725) and WHEP egress over plain HTTP.
 *
 *   POST   /whip/ROOM                  SDP offer (sendonly) -> 201, SDP answer; the client publishes in ROOM
 *   POST   /whep/ROOM[/PUBLISHER]      SDP offer (recvonly) -> 201, SDP answer carrying the room's
 *                                      (or one publisher's) current tracks
 *   PATCH  /whip|whep/ROOM/SESSION     trickle ICE (application/trickle-ice-sdpfrag) -> 204
 *   DELETE /whip|whep/ROOM/SESSION     end the session -> 200
 *   OPTIONS any of them                CORS preflight -> 204
 *
 * Neither side renegotiates: the client's one offer fixes the m-lines
 * (Participant.fixedMedia). Answers are not trickled: they are sent once ICE
 * gathering is complete, so they carry the server's candidates.
 */
import { allowsRoom, type Grant } from './auth.js';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { MAX_MESSAGE_BYTES, PARTICIPANT_NAME, ROOM_NAME } from '../protocol/messages.js';
import { checkSdp, SfuError } from '../sfu/errors.js';
import { Participant, type ParticipantOptions } from '../sfu/participant.js';
import type { Rooms } from '../sfu/room.js';
import { textResponse, type HttpRequestData, type HttpResponseData } from './http-data.js';
import { announceAddress } from './signaling.js';

/** A push from another node of the cluster: that node's id (set by the main thread after checking the relay token, removed from every other request). */
export const ORIGIN_NODE_HEADER = 'x-facecast-origin-node';

export interface WhipContext {
  rooms: Rooms;
  log: Logger;
  participantOptions: ParticipantOptions;
  /** Register a new participant with the server (state table, metrics); it removes itself when closed. */
  addParticipant(p: Participant): void;
  publicIp?: string;
  /** How long to wait for ICE gathering before answering anyway (ms). */
  gatherTimeoutMs?: number;
}

type Kind = 'whip' | 'whep';

interface Session {
  id: string;
  kind: Kind;
  room: string;
  etag: string;
  participant: Participant;
  /** The client's ICE username fragment (a different one in a PATCH is an ICE restart). */
  remoteUfrag: string | undefined;
}

/** Largest SDP offer or fragment accepted. */
const MAX_BODY_BYTES = MAX_MESSAGE_BYTES;

const CORS_HEADERS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, PATCH, DELETE, OPTIONS',
  'access-control-allow-headers': 'Content-Type, If-Match, Authorization',
  'access-control-expose-headers': 'Location, ETag, Accept-Patch, Accept-Post, Link',
  'access-control-max-age': '86400',
  // The endpoints are meant for other origins (players, encoders): allow reading responses cross-origin.
  'cross-origin-resource-policy': 'cross-origin',
};

/** An HTTP failure with a status and a one-line text/plain body. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const mediaType = (req: HttpRequestData) =>
  String(req.headers['content-type'] ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase();

/** The request body as UTF-8 text (the server read at most MAX_BODY_BYTES of it). */
function bodyText(req: HttpRequestData): string {
  if (req.body.byteLength > MAX_BODY_BYTES) throw new HttpError(413, `body over ${MAX_BODY_BYTES} bytes`, { connection: 'close' });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(req.body);
  } catch {
    throw new HttpError(400, 'body is not UTF-8 text');
  }
  // SDP is text lines: no control characters besides CR, LF and tab.
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) throw new HttpError(400, 'body contains control characters');
  return text;
}

interface MediaSection {
  kind: string;
  port: number;
  direction: string;
  codecs: string[];
}

function mediaSections(sdp: string): MediaSection[] {
  const sections: MediaSection[] = [];
  let sessionDirection = 'sendrecv';
  let current: MediaSection | undefined;
  for (const line of sdp.split(/\r?\n/)) {
    const m = /^m=(\w+) (\d+)/.exec(line);
    if (m) {
      current = { kind: m[1]!, port: Number(m[2]), direction: sessionDirection, codecs: [] };
      sections.push(current);
      continue;
    }
    const dir = /^a=(sendrecv|sendonly|recvonly|inactive)\s*$/.exec(line);
    if (dir) {
      if (current) current.direction = dir[1]!;
      else sessionDirection = dir[1]!;
      continue;
    }
    const rtpmap = /^a=rtpmap:\d+ ([^/\s]+)\//.exec(line);
    if (rtpmap && current) current.codecs.push(rtpmap[1]!.toLowerCase());
  }
  return sections;
}

const SUPPORTED: Record<string, string[]> = { video: ['vp8', 'h264'], audio: ['opus'] };

/**
 * Validate an offer before it reaches werift: 400 for what is not an SDP offer,
 * 422 for one with nothing this server can use in the wanted direction.
 */
function checkOffer(sdp: string, kind: Kind): void {
  if (sdp.trim() === '') throw new HttpError(400, 'empty body: send an SDP offer');
  if (!/^v=0\r?\n/.test(sdp)) throw new HttpError(400, 'body is not an SDP (it must start with "v=0")');
  const usable = mediaSections(sdp).filter((m) => {
    if (m.port === 0 || !SUPPORTED[m.kind]?.some((c) => m.codecs.includes(c))) return false;
    // WHIP: the client must send; WHEP: it must only receive (the SFU sends on recvonly m-lines only).
    return kind === 'whip' ? m.direction === 'sendonly' || m.direction === 'sendrecv' : m.direction === 'recvonly';
  });
  const want = kind === 'whip' ? 'sendonly' : 'recvonly';
  if (usable.length === 0) throw new HttpError(422, `no usable media: offer a ${want} video (VP8 or H264) or audio (opus) section`);
  if (!usable.some((m) => m.kind === 'video')) throw new HttpError(422, `no usable video: offer a ${want} VP8 or H264 video section`);
  try {
    checkSdp(sdp, 'offer');
  } catch (err) {
    if (err instanceof SfuError) throw new HttpError(err.code === 'no-video' ? 422 : 400, err.message);
    throw err;
  }
}

/** An SfuError from joining or negotiating, as an HTTP error. */
function fromSfuError(err: SfuError): HttpError {
  switch (err.code) {
    case 'room-full':
    case 'server-full':
      return new HttpError(503, err.message, { 'retry-after': '10' });
    case 'no-video':
      return new HttpError(422, err.message);
    case 'bad-sdp':
    case 'bad-message':
      return new HttpError(400, err.message);
    default:
      return new HttpError(409, err.message);
  }
}

export class WhipEndpoints {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly ctx: WhipContext) {}

  /**
   * Handle a request under /whip/ or /whep/ (every method). `grant`: what the client's
   * token (or the authorize hook) allows; the server checked it exists when auth is on.
   */
  async handle(req: HttpRequestData, grant: Grant | undefined): Promise<HttpResponseData> {
    const url = new URL(req.url, 'http://localhost');
    const common = { ...CORS_HEADERS, 'cache-control': 'no-store' };
    try {
      const res = await this.route(req, url, grant);
      return { ...res, headers: { ...common, ...res.headers } };
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      return textResponse(err.status, err.message, { ...common, ...err.headers });
    }
  }

  /** End every session (server shutdown). */
  async close(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.participant.close('server shutting down')));
    this.sessions.clear();
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  private async route(req: HttpRequestData, url: URL, grant: Grant | undefined): Promise<HttpResponseData> {
    const m = /^\/(whip|whep)\/([^/]*)(?:\/([^/]+))?\/?$/.exec(url.pathname);
    if (!m) throw new HttpError(404, 'not found');
    const kind = m[1] as Kind;
    const decode = (part: string) => {
      try {
        return decodeURIComponent(part);
      } catch {
        throw new HttpError(400, 'bad percent-encoding in the path');
      }
    };
    const room = decode(m[2]!);
    const rest = m[3] === undefined ? undefined : decode(m[3]);
    if (!ROOM_NAME.test(room)) throw new HttpError(400, 'room names are 1-64 letters, digits, "_" or "-"');
    const method = req.method;

    if (method === 'OPTIONS') return { status: 204, headers: { 'accept-post': 'application/sdp', 'accept-patch': 'application/trickle-ice-sdpfrag' }, body: '' };
    // POST on the endpoint (/whip/ROOM, /whep/ROOM, /whep/ROOM/PUBLISHER), PATCH and DELETE on a session.
    if (method === 'POST') {
      if (kind === 'whip' && rest !== undefined) throw new HttpError(405, 'POST the offer to /whip/ROOM', { allow: 'PATCH, DELETE, OPTIONS' });
      return this.post(req, url, kind, room, rest, grant);
    }
    if (method === 'PATCH' || method === 'DELETE') {
      const session = rest === undefined ? undefined : this.sessions.get(rest);
      if (!session || session.kind !== kind || session.room !== room) throw new HttpError(404, 'no such session');
      if (method === 'DELETE') {
        this.sessions.delete(session.id);
        await session.participant.close(`${kind} session deleted`);
        return textResponse(200, 'session ended');
      }
      return this.patch(req, session);
    }
    throw new HttpError(405, 'method not allowed', { allow: rest === undefined ? 'POST, OPTIONS' : 'POST, PATCH, DELETE, OPTIONS' });
  }

  private async post(req: HttpRequestData, url: URL, kind: Kind, room: string, publisher: string | undefined, grant: Grant | undefined): Promise<HttpResponseData> {
    if (mediaType(req) !== 'application/sdp') {
      throw new HttpError(415, 'Content-Type must be application/sdp', { 'accept-post': 'application/sdp' });
    }
    const name = url.searchParams.get('name') ?? undefined;
    if (name !== undefined && !PARTICIPANT_NAME.test(name)) throw new HttpError(400, 'names are 1-32 letters, digits, ".", "_" or "-"');
    if (publisher !== undefined && !PARTICIPANT_NAME.test(publisher)) throw new HttpError(400, 'publisher names are 1-32 letters, digits, ".", "_" or "-"');
    if (grant) {
      if (!allowsRoom(grant, room)) throw new HttpError(403, `the token is for room "${grant.room}", not "${room}"`);
      if (kind === 'whip' && !grant.canPublish) throw new HttpError(403, 'the token does not allow publishing');
      if (kind === 'whep' && !grant.canSubscribe) throw new HttpError(403, 'the token does not allow subscribing');
      if (name !== undefined && grant.identity !== undefined && name !== grant.identity) throw new HttpError(403, `the token names you "${grant.identity}", not "${name}"`);
    }
    const sdp = bodyText(req);
    checkOffer(sdp, kind);

    if (kind === 'whep') {
      // Nothing to watch yet: the answer could carry no media, and there is no renegotiation.
      const members = this.ctx.rooms.get(room)?.participants ?? [];
      const publishing = members.filter((p) => p.published.size > 0 && (publisher === undefined || p.name === publisher));
      if (publishing.length === 0) {
        throw new HttpError(404, publisher === undefined ? `nothing is published in room "${room}"` : `"${publisher}" publishes nothing in room "${room}"`);
      }
    }

    const id = randomUUID().slice(0, 8);
    const participant = new Participant(id, {
      ...this.ctx.participantOptions,
      fixedMedia: true,
      // A WHIP client only publishes; with a token, a WHEP one only receives (the checks above).
      ...(grant ? { canSubscribe: kind === 'whep' } : {}),
      onlyPublisher: kind === 'whep' ? publisher : undefined,
      // Set by the main thread only for a push from another cluster node (its relay token checked).
      ...(kind === 'whip' && typeof req.headers[ORIGIN_NODE_HEADER] === 'string' ? { originNode: req.headers[ORIGIN_NODE_HEADER] } : {}),
    });
    this.ctx.addParticipant(participant);
    const log = this.ctx.log.child({ peer: id, [kind]: room });

    let answer: string;
    try {
      this.ctx.rooms.join(participant, room, { name: grant?.identity ?? name ?? `${kind}-${id}` });
      await participant.handleOffer(sdp);
      if (kind === 'whep' && participant.subscriptionKeys.length === 0) {
        throw new HttpError(422, "no m-line of the offer can receive the room's tracks: offer recvonly video (VP8 or H264)");
      }
      answer = await this.completeAnswer(participant);
    } catch (err) {
      await participant.close(`${kind} offer failed`);
      if (err instanceof SfuError) throw fromSfuError(err);
      throw err;
    }

    const session: Session = {
      id: randomUUID(),
      kind,
      room,
      etag: `"${randomUUID().slice(0, 13)}"`,
      participant,
      remoteUfrag: /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1],
    };
    this.sessions.set(session.id, session);
    participant.once('closed', (reason) => {
      this.sessions.delete(session.id);
      log.info({ reason }, `${kind} session ended`);
    });
    log.info({ name: participant.name, subscriptions: participant.subscriptionKeys.length }, `${kind} session started`);
    return {
      status: 201,
      headers: { 'content-type': 'application/sdp', location: `/${kind}/${room}/${session.id}`, etag: session.etag, 'accept-patch': 'application/trickle-ice-sdpfrag' },
      body: answer,
    };
  }

  /** The local description once ICE gathering is done (non-trickle answer). */
  private async completeAnswer(p: Participant): Promise<string> {
    const pc = p.pc;
    if (pc.iceGatheringState !== 'complete') {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.ctx.gatherTimeoutMs ?? 5000);
        const { unSubscribe } = pc.iceGatheringStateChange.subscribe((state) => {
          if (state === 'complete') done();
        });
        function done() {
          clearTimeout(timer);
          unSubscribe();
          resolve();
        }
      });
    }
    if (p.isClosed || !pc.localDescription) throw new HttpError(409, 'the session closed while answering');
    return announceAddress(pc.localDescription.sdp, this.ctx.publicIp);
  }

  /** Trickle ICE (RFC 8840 fragment): add the client's candidates. ICE restarts are not supported. */
  private async patch(req: HttpRequestData, session: Session): Promise<HttpResponseData> {
    if (mediaType(req) !== 'application/trickle-ice-sdpfrag') {
      throw new HttpError(415, 'Content-Type must be application/trickle-ice-sdpfrag', { 'accept-patch': 'application/trickle-ice-sdpfrag' });
    }
    const ifMatch = [req.headers['if-match']].flat()[0];
    if (ifMatch !== undefined && ifMatch.trim() !== '*' && !ifMatch.split(',').some((t) => t.trim() === session.etag)) {
      throw new HttpError(412, 'If-Match does not match the session ETag');
    }
    const body = bodyText(req);
    const candidates: { candidate: string | null; mid: string | null }[] = [];
    let ufrag: string | undefined;
    let mid: string | null = null;
    for (const raw of body.split(/\r?\n/)) {
      const line = raw.trim();
      if (line === '') continue;
      if (!/^[a-z]=/.test(line)) throw new HttpError(400, 'not an SDP fragment');
      if (line.startsWith('m=')) mid = null;
      else if (line.startsWith('a=mid:')) mid = line.slice(6);
      else if (line.startsWith('a=ice-ufrag:')) ufrag = line.slice(12);
      else if (line.startsWith('a=candidate:')) candidates.push({ candidate: line.slice(2), mid });
      else if (line === 'a=end-of-candidates') candidates.push({ candidate: null, mid });
    }
    if (ufrag !== undefined && session.remoteUfrag !== undefined && ufrag !== session.remoteUfrag) {
      throw new HttpError(422, 'ICE restarts are not supported: start a new session');
    }
    const p = session.participant;
    try {
      for (const c of candidates) {
        await p.addCandidate(
          c.candidate === null ? null : { candidate: c.candidate, sdpMid: c.mid, sdpMLineIndex: c.mid === null ? 0 : null, usernameFragment: ufrag ?? session.remoteUfrag ?? null },
        );
      }
    } catch (err) {
      if (err instanceof SfuError) throw new HttpError(err.code === 'wrong-state' ? 404 : 400, err.message);
      throw err;
    }
    return { status: 204, headers: {}, body: '' };
  }
}
