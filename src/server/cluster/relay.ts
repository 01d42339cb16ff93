/**
 * Signaling for a room held by another node: the client's socket stays here, its messages go
 * over a WebSocket to the owner node's `/ws`, and the owner's come back (the client code does
 * not change; media flows between the client and the owner). The relay opens with a short-lived
 * token signed with the cluster secret: the owner skips admission (this node did it, the grant
 * travels in the token) and sends no second `welcome`.
 */
import { jwtVerify, SignJWT } from 'jose';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import type { Grant } from '../auth.js';

export const RELAY_HEADER = 'x-facecast-relay';
const AUDIENCE = 'facecast-relay';

export interface RelayClaims {
  /** The peer id the client got in its `welcome`. */
  sid: string;
  /** The node the client is connected to. */
  via: string;
  grant: Grant | null;
}

export async function mintRelayToken(secret: string, claims: RelayClaims): Promise<string> {
  return new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256' }).setAudience(AUDIENCE).setIssuedAt().setExpirationTime('30s').sign(new TextEncoder().encode(secret));
}

/** The claims, or undefined when the token is not one of ours (bad signature, expired, malformed). */
export async function verifyRelayToken(secret: string, token: string): Promise<RelayClaims | undefined> {
  try {
    const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), { audience: AUDIENCE, algorithms: ['HS256'] });
    if (typeof payload.sid !== 'string' || typeof payload.via !== 'string') return undefined;
    return { sid: payload.sid, via: payload.via, grant: (payload.grant as Grant | null) ?? null };
  } catch {
    return undefined;
  }
}

/** Close codes an endpoint may send (1005, 1006 and 1015 are only reported). */
const sendable = (code: number) => (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);

export interface RelayOptions {
  /** The owner node's base URL (http or https). */
  nodeUrl: string;
  token: string;
  /** The client's messages so far (the first one included), in order. */
  pending: { data: Buffer; binary: boolean }[];
  log: Logger;
  /** The owner could not be reached (before anything was relayed). */
  onUnreachable(err: Error): void;
  /** Both sides closed. */
  onEnd(): void;
}

/**
 * Pipe `client` to the owner node until either side closes. Messages the client sends before the
 * relay opens are queued (in order). Returns the upstream socket.
 */
export function relaySocket(client: WebSocket, opts: RelayOptions): WebSocket {
  const target = `${opts.nodeUrl.replace(/^http/, 'ws').replace(/\/+$/, '')}/ws`;
  const up = new WebSocket(target, { headers: { [RELAY_HEADER]: opts.token }, handshakeTimeout: 5000, maxPayload: 1 << 20 });
  const queue = opts.pending;
  let opened = false;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    client.off('message', fromClient);
    opts.onEnd();
  };
  const fromClient = (data: Buffer, binary: boolean) => {
    if (up.readyState === WebSocket.OPEN) up.send(data, { binary });
    else if (!opened) queue.push({ data, binary });
  };
  client.on('message', fromClient);
  up.on('open', () => {
    opened = true;
    for (const m of queue.splice(0)) up.send(m.data, { binary: m.binary });
  });
  up.on('message', (data: Buffer, binary: boolean) => {
    if (client.readyState === WebSocket.OPEN) client.send(data, { binary });
  });
  up.on('error', (err) => {
    opts.log.debug({ err: err.message, target }, 'relay socket error');
    if (!opened) {
      opened = true; // nothing more is queued
      opts.onUnreachable(err);
      end();
    }
  });
  up.on('close', (code, reason) => {
    // The owner ended the session (or died: 1006 -> 1012, "service restart": reconnect).
    if (client.readyState === WebSocket.OPEN || client.readyState === WebSocket.CONNECTING)
      client.close(sendable(code) ? code : 1012, reason.toString('utf8').slice(0, 120) || 'room node went away');
    end();
  });
  client.on('close', (code, reason) => {
    if (up.readyState === WebSocket.OPEN) up.close(sendable(code) ? code : 1000, reason.toString('utf8').slice(0, 120));
    else if (up.readyState === WebSocket.CONNECTING) up.terminate();
    end();
  });
  return up;
}
