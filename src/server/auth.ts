/**
 * Room tokens: HS256 JWTs (jose) signed with `--auth-secret`. When a secret is
 * configured every WebSocket (`/ws?token=...`) and every WHIP/WHEP request
 * (`Authorization: Bearer ...`) needs a valid one.
 *
 * Claims: room (the one room it opens, or "*" for any), identity (the
 * participant's name there), canPublish, canSubscribe (default true), exp
 * (required). `facecast token` mints them.
 */
import { jwtVerify, SignJWT, errors } from 'jose';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { z } from 'zod';
import { PARTICIPANT_NAME, ROOM_NAME } from '../protocol/messages.js';

export const RoomClaims = z.object({
  room: z.union([z.literal('*'), z.string().regex(ROOM_NAME)]),
  identity: z.string().regex(PARTICIPANT_NAME),
  canPublish: z.boolean().default(true),
  canSubscribe: z.boolean().default(true),
  exp: z.number(),
});
export type RoomClaims = z.infer<typeof RoomClaims>;

/** A token that does not let its holder in: `message` says why, in words. */
export class AuthError extends Error {}

const key = (secret: string) => new TextEncoder().encode(secret);

export async function verifyToken(token: string | undefined | null, secret: string): Promise<RoomClaims> {
  if (!token) throw new AuthError('a room token is required (auth is on)');
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(token, key(secret), { algorithms: ['HS256'], requiredClaims: ['exp'] }));
  } catch (err) {
    if (err instanceof errors.JWTExpired) throw new AuthError('the room token has expired');
    if (err instanceof errors.JWSSignatureVerificationFailed) throw new AuthError("the room token is not signed with this server's secret");
    throw new AuthError(`the room token is invalid: ${(err as Error).message}`);
  }
  const claims = RoomClaims.safeParse(payload);
  if (!claims.success) throw new AuthError(`the room token lacks valid claims: ${claims.error.issues.map((i) => i.path.join('.') || i.message).join(', ')}`);
  return claims.data;
}

/**
 * What one client may do, from its room token or the `authorize` hook: enter `room` ("*":
 * any), under the name `identity` (undefined: the name it asks for), publish, subscribe.
 * Plain data: it travels to the room's worker with the client.
 */
export interface Grant {
  room: string;
  identity?: string;
  canPublish: boolean;
  canSubscribe: boolean;
}

/** Whether the grant opens `room`. */
export function allowsRoom(claims: Pick<Grant, 'room'>, room: string): boolean {
  return claims.room === '*' || claims.room === room;
}

export async function mintToken(secret: string, claims: { room: string; identity: string; canPublish?: boolean; canSubscribe?: boolean }, ttlSeconds: number): Promise<string> {
  return new SignJWT({ room: claims.room, identity: claims.identity, canPublish: claims.canPublish ?? true, canSubscribe: claims.canSubscribe ?? true })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(key(secret));
}

/** A client asking in: a signaling WebSocket (before it names its room) or a WHIP/WHEP offer. */
export interface AuthorizeRequest {
  kind: 'websocket' | 'whip' | 'whep';
  /** The HTTP request: the WebSocket upgrade, or the WHIP/WHEP POST. */
  req: IncomingMessage;
  /** WHIP/WHEP: the room in the path. */
  room?: string;
}

/**
 * Let the client in, with what it may do (unset fields: the room token's, else any room,
 * the name it asks for, publish and subscribe), or keep it out with a reason it is told.
 */
export type AuthorizeResult =
  | { allow: true; room?: string; identity?: string; canPublish?: boolean; canSubscribe?: boolean }
  | { allow: false; reason: string; status?: 401 | 403 };

/** `claims`: the verified room token when `authSecret` is set (a bad token never reaches the hook). */
export type Authorize = (request: AuthorizeRequest, claims: RoomClaims | undefined) => AuthorizeResult | Promise<AuthorizeResult>;

/** What admission needs: the token secret, the hook, where to log a hook that throws. */
export interface Admission {
  authSecret: string | undefined;
  authorize: Authorize | undefined;
  log: Logger;
}

/** The room token (when `authSecret` is set), then the authorize hook (when given). */
export async function admit(
  a: Admission,
  request: AuthorizeRequest,
  token: string | null | undefined,
): Promise<{ ok: true; grant: Grant | undefined } | { ok: false; status: number; reason: string }> {
  let claims: RoomClaims | undefined;
  if (a.authSecret) {
    try {
      claims = await verifyToken(token, a.authSecret);
    } catch (err) {
      return { ok: false, status: 401, reason: err instanceof AuthError ? err.message : 'token check failed' };
    }
  }
  const base: Grant | undefined = claims && { room: claims.room, identity: claims.identity, canPublish: claims.canPublish, canSubscribe: claims.canSubscribe };
  if (!a.authorize) return { ok: true, grant: base };
  let verdict: AuthorizeResult;
  try {
    verdict = await a.authorize(request, claims);
  } catch (err) {
    a.log.error({ err }, 'the authorize hook threw: client refused');
    return { ok: false, status: 403, reason: 'not authorized' };
  }
  if (!verdict.allow) return { ok: false, status: verdict.status ?? 403, reason: verdict.reason };
  return {
    ok: true,
    grant: {
      room: verdict.room ?? base?.room ?? '*',
      identity: verdict.identity ?? base?.identity,
      canPublish: verdict.canPublish ?? base?.canPublish ?? true,
      canSubscribe: verdict.canSubscribe ?? base?.canSubscribe ?? true,
    },
  };
}
