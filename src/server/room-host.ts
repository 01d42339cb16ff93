/**
 * Where rooms live. The server (facecast.ts) talks to one RoomHost and never asks which:
 * LocalRoomHost keeps the rooms in this thread (`workers: 0`); WorkerPool (worker-pool.ts)
 * spreads them over room worker threads, one room per worker. Both take the same plain
 * data (a parsed first message, a buffered HTTP request, a grant) and report the same
 * domain events.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { Grant } from './auth.js';
import type { ServerConfig } from './config.js';
import type { HttpRequestData, HttpResponseData } from './http-data.js';
import { SfuHost, type ControlOp, type ControlResult, type HostEvent, type HostState, type SessionStart } from './sfu-host.js';

export interface RoomHost extends EventEmitter<{ event: [HostEvent] }> {
  /** Resolves once rooms can be served (workers started). */
  ready(): Promise<void>;
  /** A signaling socket, placed by its first message: `room` is the room it joins, if it does. */
  openSession(ws: WebSocket, start: SessionStart, room: string | undefined, log: Logger, reqId: string): void;
  /** WHIP/WHEP or the recording API for `room` (undefined: a malformed path, answered 400/404 by any). */
  http(req: HttpRequestData, grant: Grant | undefined, room: string | undefined): Promise<HttpResponseData>;
  control(c: ControlOp): Promise<ControlResult>;
  state(): Promise<HostState>;
  metrics(): Promise<{ contentType: string; text: string }>;
  close(): Promise<void>;
}

/** Rooms in this thread. */
export class LocalRoomHost extends EventEmitter<{ event: [HostEvent] }> implements RoomHost {
  readonly sfu: SfuHost;

  constructor(config: ServerConfig, log: Logger) {
    super();
    this.sfu = new SfuHost(config, log);
    this.sfu.on('event', (e) => this.emit('event', e));
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  openSession(ws: WebSocket, start: SessionStart, _room: string | undefined, log: Logger): void {
    this.sfu.openSession(ws, start, log);
  }

  http(req: HttpRequestData, grant: Grant | undefined): Promise<HttpResponseData> {
    return this.sfu.http(req, grant);
  }

  control(c: ControlOp): Promise<ControlResult> {
    return this.sfu.control(c);
  }

  state(): Promise<HostState> {
    return Promise.resolve(this.sfu.state());
  }

  async metrics(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.sfu.metrics.contentType, text: await this.sfu.metrics.render() };
  }

  close(): Promise<void> {
    return this.sfu.close();
  }
}
