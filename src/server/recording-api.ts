/**
 * The recording API, served by the SfuHost that has the room (the main thread, or the room's
 * worker: worker-pool.ts routes /api/rooms/ROOM/... by ROOM like /whip/ROOM):
 *
 *   POST   /api/rooms/ROOM/participants/NAME/recording  start (201; 200 when one runs already)
 *   DELETE /api/rooms/ROOM/participants/NAME/recording  stop; answers once the file is finalized
 *   GET    /api/rooms/ROOM/participants/NAME/recording  the recording's status
 *
 * Like /api/state it needs no token. Files go to the --record directory only (409 without it).
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Recordings } from '../sfu/recorder.js';
import type { Rooms } from '../sfu/room.js';

export const RECORDING_PATH = /^\/api\/rooms\/([^/?]+)\/participants\/([^/?]+)\/recording\/?$/;

/** The --record directory, made if missing; one we cannot write to stops the server's start. */
export function ensureRecordDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new Error(`--record ${dir}: ${(err as Error).message}`);
  }
}

export async function handleRecordingApi(req: IncomingMessage, res: ServerResponse, rooms: Rooms, recordings: Recordings | undefined, log: Logger): Promise<void> {
  const json = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
  };
  const m = RECORDING_PATH.exec((req.url ?? '/').split('?')[0] ?? '');
  if (!m) return json(404, { error: 'not found' });
  if (req.method !== 'POST' && req.method !== 'DELETE' && req.method !== 'GET') {
    res.writeHead(405, { allow: 'GET, POST, DELETE', 'content-type': 'text/plain' }).end('method not allowed\n');
    return;
  }
  if (!recordings) return json(409, { error: 'recording is off: start the server with --record DIR' });
  let roomName: string;
  let name: string;
  try {
    roomName = decodeURIComponent(m[1]!);
    name = decodeURIComponent(m[2]!);
  } catch {
    return json(400, { error: 'bad room or participant name' });
  }
  const p = rooms.get(roomName)?.participants.find((x) => x.name === name);
  if (!p) return json(404, { error: `no participant "${name}" in room "${roomName}"` });
  if (req.method === 'GET') {
    const status = recordings.status(p);
    return status ? json(200, status) : json(404, { error: `"${name}" is not being recorded` });
  }
  if (req.method === 'POST') {
    const { status, created } = recordings.start(p);
    log.info({ room: roomName, name, file: status.file, created }, 'recording requested');
    return json(created ? 201 : 200, status);
  }
  const status = await recordings.stop(p);
  if (!status) return json(404, { error: `"${name}" is not being recorded` });
  return json(200, status);
}
