/**
 * werift WHIP publisher and WHEP viewer on 127.0.0.1 (fetch follows a 307 to another node,
 * body and all; `location` is resolved against the URL that answered).
 */
import assert from 'node:assert/strict';
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, useAbsSendTime, useNACK, usePLI, useSdesMid, type RtpPacket } from 'werift';
import { Vp8Source } from './vp8-source.js';

/** A werift peer on 127.0.0.1 only (as in test/helpers/werift-client.ts). */
export function loopbackPc(): RTCPeerConnection {
  return new RTCPeerConnection({
    codecs: {
      video: [new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96, rtcpFeedback: [useNACK(), usePLI()] })],
    },
    headerExtensions: { video: [useSdesMid(), useAbsSendTime()] },
    iceServers: [],
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceFilterCandidatePair: (pair) => pair.remoteCandidate.host.startsWith('127.') && pair.localCandidate.host.startsWith('127.'),
  });
}

/** The payload minus its VP8 picture id (bytes 2-3), which the SFU may rewrite. */
export const payloadKey = (payload: Buffer) => {
  const b = Buffer.from(payload);
  b[2] = 0;
  b[3] = 0;
  return b.toString('base64');
};

const stripCandidates = (sdp: string) =>
  sdp
    .split('\r\n')
    .filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates')
    .join('\r\n');

export interface Created {
  status: number;
  /** The origin that answered (another node's, after a 307). */
  origin: string;
  location: string;
  etag: string;
  answer: string;
  headers: Headers;
}

/** POST the offer (following a 307), expect 201, apply the answer. */
async function exchange(pc: RTCPeerConnection, url: string, offer: string, what: 'WHIP' | 'WHEP'): Promise<Created> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: offer });
  const answer = await res.text();
  assert.equal(res.status, 201, `${what} POST: ${answer}`);
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  return {
    status: res.status,
    origin: new URL(res.url).origin,
    location: new URL(res.headers.get('location')!, res.url).pathname,
    etag: res.headers.get('etag')!,
    answer,
    headers: res.headers,
  };
}

async function endSession(created: Created | undefined): Promise<void> {
  if (created) await fetch(created.origin + created.location, { method: 'DELETE' }).catch(() => undefined);
}

export class WhipPublisher {
  readonly pc = loopbackPc();
  readonly track = new MediaStreamTrack({ kind: 'video' });
  readonly source = new Vp8Source({ keyframeEvery: 10 });
  readonly sent = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  created!: Created;

  constructor(readonly base: string) {
    this.pc.addTransceiver(this.track, { direction: 'sendonly' });
  }

  /** Offer (optionally without candidates), POST it, apply the answer. */
  async publish(path: string, opts: { trickle?: boolean } = {}): Promise<Created> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    const offer = this.pc.localDescription!.sdp;
    this.created = await exchange(this.pc, this.base + path, opts.trickle ? stripCandidates(offer) : offer, 'WHIP');
    return this.created;
  }

  start(): void {
    this.timer = setInterval(() => {
      for (const p of this.source.nextFrame()) {
        this.sent.add(payloadKey(p.payload));
        this.track.writeRtp(p);
      }
    }, 33);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.pc.close();
  }

  /** DELETE the session (as a WHIP client leaving does), then close. */
  async end(): Promise<void> {
    await endSession(this.created);
    await this.close();
  }
}

export class WhepViewer {
  readonly pc = loopbackPc();
  readonly received: RtpPacket[] = [];
  created!: Created;

  constructor(readonly base: string) {
    this.pc.addTransceiver('video', { direction: 'recvonly' });
    this.pc.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp) => this.received.push(rtp.clone())));
  }

  async watch(path: string): Promise<Created> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    this.created = await exchange(this.pc, this.base + path, this.pc.localDescription!.sdp, 'WHEP');
    return this.created;
  }

  async close(): Promise<void> {
    await this.pc.close();
  }

  /** DELETE the session (as a WHEP player leaving does), then close. */
  async end(): Promise<void> {
    await endSession(this.created);
    await this.close();
  }
}
