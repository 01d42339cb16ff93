/**
 * The signaling protocol: JSON messages over the WebSocket at `/ws`.
 * One schema, imported by the server and bundled into the browser app.
 *
 * Either side may send `offer`; the other replies with `answer`. ICE candidates
 * trickle both ways as `ice`; `candidate: null` means end-of-candidates.
 * The server is the impolite peer: the browser rolls back on glare.
 */
import { z } from 'zod';

/** Largest signaling message the server accepts, in bytes (UTF-8). */
export const MAX_MESSAGE_BYTES = 64 * 1024;

const sdp = z.string().min(1, 'sdp is empty').max(MAX_MESSAGE_BYTES);

export const IceCandidate = z.object({
  candidate: z.string().max(1024),
  sdpMid: z.string().max(64).nullish(),
  sdpMLineIndex: z.number().int().min(0).max(1023).nullish(),
  usernameFragment: z.string().max(256).nullish(),
});
export type IceCandidate = z.infer<typeof IceCandidate>;

export const Offer = z.object({ type: z.literal('offer'), sdp });
export const Answer = z.object({ type: z.literal('answer'), sdp });
export const Ice = z.object({ type: z.literal('ice'), candidate: IceCandidate.nullable() });
/** Client asks the server to start a negotiation (the server then sends `offer`). */
export const Negotiate = z.object({ type: z.literal('negotiate') });

/** Room names: what goes into /room/NAME. */
export const ROOM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** Participant names: shown on tiles, and the stream id of their tracks (an SDP token). */
export const PARTICIPANT_NAME = /^[A-Za-z0-9_.-]{1,32}$/;

/**
 * Join a room (once, before or after the first offer). A client that negotiates
 * without joining gets a private room of one with echo on: the echo page.
 */
export const Join = z.object({
  type: z.literal('join'),
  room: z.string().regex(ROOM_NAME, 'room names are 1-64 letters, digits, "_" or "-"'),
  name: z.string().regex(PARTICIPANT_NAME, 'names are 1-32 letters, digits, ".", "_" or "-"').optional(),
  /** Also receive your own video back (default false in rooms). */
  echo: z.boolean().optional(),
});
/** Turn your own echo on or off. */
export const Echo = z.object({ type: z.literal('echo'), enabled: z.boolean() });

/** The tile showing `name`'s video is this big (device pixels): the SFU picks a simulcast layer to fit. */
export const Tile = z.object({
  type: z.literal('tile'),
  name: z.string().regex(PARTICIPANT_NAME),
  width: z.number().int().min(0).max(16384),
  height: z.number().int().min(0).max(16384),
});

export const ClientMessage = z.discriminatedUnion('type', [Offer, Answer, Ice, Negotiate, Join, Echo, Tile]);
export type ClientMessage = z.infer<typeof ClientMessage>;

export const ErrorCode = z.enum([
  'bad-json',
  'bad-message',
  'too-large',
  'bad-sdp',
  'no-video',
  'no-offer',
  'wrong-state',
  /** Your offer crossed one from the server: answer the server's (a polite peer just rolls back). */
  'glare',
  'not-joined',
  'already-joined',
  'room-full',
  'server-full',
  /** More tracks than one participant may publish (--max-tracks); the extra ones are ignored. */
  'too-many-tracks',
  /** The room token does not allow this (auth is on: see `facecast token`). */
  'forbidden',
  /** More messages per second than the server takes (--max-message-rate): this one was dropped. */
  'rate-limited',
  /** The server is stopping (SIGTERM): the connection ends now; reconnect later. */
  'shutting-down',
  /** The socket sent no message for too long after opening (half-open): it is closed. */
  'timeout',
  /** A cluster node (--redis) could not reach the node holding the room: the socket closes with 1013; reconnect. */
  'node-unavailable',
  'internal',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/** STUN/TURN servers the client should use (the server's --ice-server list). */
export const IceServer = z.object({
  urls: z.union([z.string(), z.array(z.string())]),
  username: z.string().optional(),
  credential: z.string().optional(),
});
export const Welcome = z.object({
  type: z.literal('welcome'),
  peerId: z.string(),
  iceServers: z.array(IceServer).default([]),
  /** A cluster node (--redis): the base URLs of the live nodes, where the client may reconnect. */
  nodes: z.array(z.string().url()).max(64).optional(),
});
export const ErrorMessage = z.object({ type: z.literal('error'), code: ErrorCode, message: z.string() });

export const ParticipantInfo = z.object({ id: z.string(), name: z.string() });
export type ParticipantInfo = z.infer<typeof ParticipantInfo>;
/** You are in `room`; `participants` are the others already there. Their streams' ids are their names. */
export const Joined = z.object({
  type: z.literal('joined'),
  room: z.string(),
  participantId: z.string(),
  name: z.string(),
  participants: z.array(ParticipantInfo),
});
export const ParticipantJoined = z.object({ type: z.literal('participant-joined'), participant: ParticipantInfo });
export const ParticipantLeft = z.object({ type: z.literal('participant-left'), participant: ParticipantInfo });

/**
 * `name`'s video is not forwarded to you for now: `bandwidth`: your connection's estimate has
 * no room for it even at its lowest layer (the others' videos come first, the largest tile
 * first). It comes back with `track-resumed` (at a keyframe) when it fits.
 */
export const TrackPaused = z.object({ type: z.literal('track-paused'), name: z.string(), kind: z.literal('video'), reason: z.literal('bandwidth') });
export const TrackResumed = z.object({ type: z.literal('track-resumed'), name: z.string(), kind: z.literal('video') });

/**
 * Dynacast: of the video you publish on m-line `mid`, send only the simulcast layers in `active`
 * (rids; '' is a track without simulcast): nobody receives the others (an empty list: nobody
 * watches it). Set `encodings[i].active` to match; the SFU asks again when a layer is needed.
 */
export const Layers = z.object({ type: z.literal('layers'), mid: z.string().max(64), active: z.array(z.string().max(16)).max(8) });

export const ServerMessage = z.discriminatedUnion('type', [
  Welcome,
  Offer,
  Answer,
  Ice,
  ErrorMessage,
  Joined,
  ParticipantJoined,
  ParticipantLeft,
  TrackPaused,
  TrackResumed,
  Layers,
]);
export type ServerMessage = z.infer<typeof ServerMessage>;

export type ParseResult = { ok: true; message: ClientMessage } | { ok: false; code: ErrorCode; message: string };

/** Parse one raw WebSocket frame from a client. Never throws. */
export function parseClientMessage(raw: string | Uint8Array): ParseResult {
  const bytes = typeof raw === 'string' ? new TextEncoder().encode(raw).length : raw.byteLength;
  if (bytes > MAX_MESSAGE_BYTES) {
    return { ok: false, code: 'too-large', message: `message is ${bytes} bytes; the limit is ${MAX_MESSAGE_BYTES}` };
  }
  const text = typeof raw === 'string' ? raw : new TextDecoder().decode(raw);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, code: 'bad-json', message: 'message is not valid JSON' };
  }
  const result = ClientMessage.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length ? ` at ${issue.path.join('.')}` : '';
    return { ok: false, code: 'bad-message', message: `invalid message${where}: ${issue?.message ?? 'unknown'}` };
  }
  return { ok: true, message: result.data };
}
