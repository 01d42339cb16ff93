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
import type { Logger } from 'pino';
import { jsonResponse, textResponse, type HttpRequestData, type HttpResponseData } from './http-data.js';
import type { RecordingStatus } from '../sfu/recording/recorder.js';
import type { Recordings } from '../sfu/recording/recordings.js';
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

export async function handleRecordingApi(req: HttpRequestData, rooms: Rooms, recordings: Recordings | undefined, log: Logger): Promise<HttpResponseData> {
  const json = jsonResponse;
  const m = RECORDING_PATH.exec(req.url.split('?')[0] ?? '');
  if (!m) return json(404, { error: 'not found' });
  if (req.method !== 'POST' && req.method !== 'DELETE' && req.method !== 'GET') return textResponse(405, 'method not allowed', { allow: 'GET, POST, DELETE' });
  let roomName: string;
  let name: string;
  try {
    roomName = decodeURIComponent(m[1]!);
    name = decodeURIComponent(m[2]!);
  } catch {
    return json(400, { error: 'bad room or participant name' });
  }
  const verb = req.method === 'POST' ? 'start' : req.method === 'DELETE' ? 'stop' : 'status';
  const result = await recordingControl(rooms, recordings, log, verb, roomName, name);
  return json(result.status, result.body);
}

export type RecordingVerb = 'start' | 'stop' | 'status';

/** Start, stop or read one participant's recording: the HTTP API's and the library's (Facecast.startRecording ...). */
export async function recordingControl(
  rooms: Rooms,
  recordings: Recordings | undefined,
  log: Logger,
  verb: RecordingVerb,
  roomName: string,
  name: string,
): Promise<{ status: number; body: RecordingStatus | { error: string } }> {
  if (!recordings) return { status: 409, body: { error: 'recording is off: start the server with --record DIR' } };
  const p = rooms.get(roomName)?.participants.find((x) => x.name === name);
  if (!p) return { status: 404, body: { error: `no participant "${name}" in room "${roomName}"` } };
  if (verb === 'status') {
    const status = recordings.status(p);
    return status ? { status: 200, body: status } : { status: 404, body: { error: `"${name}" is not being recorded` } };
  }
  if (verb === 'start') {
    const { status, created } = recordings.start(p);
    log.info({ room: roomName, name, file: status.file, created }, 'recording requested');
    return { status: created ? 201 : 200, body: status };
  }
  const status = await recordings.stop(p);
  if (!status) return { status: 404, body: { error: `"${name}" is not being recorded` } };
  return { status: 200, body: status };
}
