/**
 * facecast as a library: `createFacecast(options)` and what it takes and reports.
 * The browser side is `facecast/client`.
 */
export { createFacecast, Facecast, FacecastError } from './server/facecast.js';
export type { FacecastOptions, RoomInfo, ServerState } from './server/facecast.js';
export type { Authorize, AuthorizeRequest, AuthorizeResult } from './server/auth.js';
export type { FacecastEventMap, FacecastEventName } from './server/sfu-host.js';
export type { ParticipantRef, PublicationRef } from './sfu/room.js';
export type { RecordingStatus } from './sfu/recording/recorder.js';
export { ConfigError, OPTIONS, type FacecastSettings, type LogLevel } from './server/config.js';
export { mintToken, type Grant, type RoomClaims } from './server/auth.js';
