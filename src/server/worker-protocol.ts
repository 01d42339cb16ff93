/**
 * Messages between the main thread (HTTP, WebSocket I/O, routing: worker-pool.ts)
 * and a room worker thread (sfu-worker.ts). Every message to a worker carries
 * `seq`, numbered per worker, so the main thread can tell which of its messages
 * a worker had seen when it reports a room gone.
 */
import type { RoomClaims } from './auth.js';
import type { ServerConfig } from './config.js';
import type { HostState } from './sfu-host.js';

export interface WorkerInit {
  index: number;
  config: ServerConfig;
}

/** An HTTP request (WHIP/WHEP) with its body read by the main thread. */
export interface HttpRequestData {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Uint8Array;
}

export interface HttpResponseData {
  status: number;
  headers: Record<string, string | number | string[]>;
  body: Uint8Array;
}

export type ToWorker = { seq: number } & (
  | { t: 'open'; sid: string; claims?: RoomClaims; req: string }
  | { t: 'msg'; sid: string; data: Uint8Array; binary: boolean }
  | { t: 'closed'; sid: string; code: number }
  | { t: 'http'; rid: number; req: HttpRequestData }
  | { t: 'state'; rid: number }
  | { t: 'metrics'; rid: number }
  | { t: 'shutdown'; rid: number }
  /** Test hook (FacecastServer.crashWorkerForTest): throw from a timer, an uncaught error. */
  | { t: 'crash' }
);

export type FromWorker =
  | { t: 'ready' }
  | { t: 'send'; sid: string; data: string }
  | { t: 'end'; sid: string; code: number; reason: string }
  | { t: 'http'; rid: number; res: HttpResponseData }
  | { t: 'state'; rid: number; state: HostState }
  | { t: 'metrics'; rid: number; json: unknown[] }
  | { t: 'shutdown'; rid: number }
  | { t: 'room-gone'; room: string; seq: number };
