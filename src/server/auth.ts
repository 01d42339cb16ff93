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
