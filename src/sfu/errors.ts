import type { ErrorCode } from '../protocol/messages.js';

/** An error meant for the client: a protocol error code and a clear sentence. */
export class SfuError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SfuError';
  }
}

/** Cheap structural checks on an SDP before werift sees it. */
export function checkSdp(sdp: string, kind: 'offer' | 'answer'): void {
  if (!/^v=0\r?\n/.test(sdp)) throw new SfuError('bad-sdp', `${kind} is not an SDP (it must start with "v=0")`);
  const media = sdp.match(/^m=\w+ /gm) ?? [];
  if (media.length === 0) throw new SfuError('bad-sdp', `${kind} has no media sections`);
  if (!/^m=video [1-9]\d* /m.test(sdp) && kind === 'offer') {
    throw new SfuError('no-video', `${kind} has no video section: publish a video track`);
  }
  if (!/^a=fingerprint:/m.test(sdp)) throw new SfuError('bad-sdp', `${kind} has no DTLS fingerprint`);
  if (!/^a=ice-ufrag:/m.test(sdp)) throw new SfuError('bad-sdp', `${kind} has no ICE credentials`);
}
