/**
 * Messages between the main thread (HTTP, WebSocket I/O, routing: worker-pool.ts)
 * and a room worker thread (sfu-worker.ts). Every message to a worker carries
 * `seq`, numbered per worker, so the main thread can tell which of its messages
 * a worker had seen when it reports a room gone.
 */
import type { ParseResult } from '../protocol/messages.js';
import type { Grant } from './auth.js';
import type { ServerConfig } from './config.js';
import type { HttpRequestData, HttpResponseData } from './http-data.js';
import type { ControlOp, ControlResult, HostEvent, HostState } from './sfu-host.js';

export type { HttpRequestData, HttpResponseData };

export interface WorkerInit {
  index: number;
  config: ServerConfig;
}

/** To a worker. `open`: a signaling socket; its first message (already parsed by the main thread) opens the session. */
export type ToWorker = { seq: number } & (
  | { t: 'open'; sid: string; grant?: Grant; req: string; first: { data: Uint8Array; parsed: ParseResult } }
  | { t: 'msg'; sid: string; data: Uint8Array; binary: boolean }
  | { t: 'closed'; sid: string; code: number }
  | { t: 'http'; rid: number; req: HttpRequestData; grant?: Grant }
  | { t: 'control'; rid: number; control: ControlOp }
  | { t: 'state'; rid: number }
  | { t: 'metrics'; rid: number }
  | { t: 'shutdown'; rid: number }
  /** Test hook (WorkerPool.crashWorkerForTest): throw from a timer, an uncaught error. */
  | { t: 'crash' }
);

export type FromWorker =
  | { t: 'ready' }
  | { t: 'send'; sid: string; data: string }
  | { t: 'end'; sid: string; code: number; reason: string }
  | { t: 'http'; rid: number; res: HttpResponseData }
  | { t: 'control'; rid: number; result: ControlResult }
  | { t: 'event'; event: HostEvent }
  | { t: 'state'; rid: number; state: HostState }
  | { t: 'metrics'; rid: number; json: unknown[] }
  | { t: 'shutdown'; rid: number }
  | { t: 'room-gone'; room: string; seq: number };
