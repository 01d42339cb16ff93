/**
 * WHIP publisher and WHEP viewer built on libwebrtc through @roamhq/wrtc (node-webrtc;
 * its prebuilt libwebrtc M106 binary ships in the npm package @roamhq/wrtc-linux-x64),
 * for interop tests with a WebRTC stack nobody here wrote.
 *
 * Loopback: libwebrtc ignores loopback interfaces by default (its
 * PeerConnectionFactory's network_ignore_mask includes ADAPTER_TYPE_LOOPBACK), but
 * node-webrtc sets `network_ignore_mask = 0`, so in the tests' loopback-only
 * namespace wrtc gathers host candidates on `lo`: UDP and TCP, 127.0.0.1 and ::1.
 * Its RTCConfiguration has no option to pick interfaces (only `portRange`), so
 * every offer sent to the SFU keeps only the UDP 127.0.0.1 candidates
 * (`only127Udp`); the SFU answers with 127.0.0.1 host candidates only, so the one
 * pair ICE can form is 127.0.0.1 <-> 127.0.0.1 over UDP. `selectedPair()` reads it
 * back from getStats so the tests can check it.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { FRAME_HEIGHT, FRAME_WIDTH, I420_FRAME_BYTES, Y4M_FRAME_HEADER, Y4M_HEADER } from './face-fixture.js';

type Wrtc = typeof import('@roamhq/wrtc');
let loaded: Wrtc | undefined;

/** The @roamhq/wrtc module (CommonJS, loads its native libwebrtc binding). */
export function wrtc(): Wrtc {
  loaded ??= createRequire(import.meta.url)('@roamhq/wrtc') as Wrtc;
  return loaded;
}

/** The offer/answer with only UDP candidates on 127.0.0.1 (no ::1, no TCP). */
export function only127Udp(sdp: string): string {
  return sdp
    .split('\r\n')
    .filter((line) => {
      if (!line.startsWith('a=candidate:')) return true;
      // candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...
      const [, , transport, , address] = line.slice('a='.length).split(' ');
      return transport?.toLowerCase() === 'udp' && address === '127.0.0.1';
    })
    .join('\r\n');
}

/** Wait (at most `ms`) for ICE gathering to complete; false if it did not. */
async function gathered(pc: RTCPeerConnection, ms: number): Promise<boolean> {
  if (pc.iceGatheringState === 'complete') return true;
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      pc.removeEventListener('icegatheringstatechange', check);
      resolve(false);
    }, ms);
    function check() {
      if (pc.iceGatheringState !== 'complete') return;
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve(true);
    }
    pc.addEventListener('icegatheringstatechange', check);
  });
}

export interface WhipWhepSession {
  /** Absolute URL of the session (from the 201's Location). */
  location: string;
  answer: string;
}

/** Offer after gathering (non-trickle), POST it, apply the answer. */
async function offerAnswer(pc: RTCPeerConnection, url: string): Promise<WhipWhepSession> {
  await pc.setLocalDescription(await pc.createOffer());
  if (!(await gathered(pc, 10_000))) throw new Error('wrtc: ICE gathering did not complete in 10 s');
  const offer = only127Udp(pc.localDescription!.sdp);
  if (!/^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 /im.test(offer)) {
    throw new Error(`wrtc gathered no UDP 127.0.0.1 candidate:\n${pc.localDescription!.sdp}`);
  }
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: offer });
  const answer = await res.text();
  if (res.status !== 201) throw new Error(`POST ${url}: ${res.status} ${answer.trim()}`);
  const location = res.headers.get('location');
  if (!location) throw new Error(`POST ${url}: 201 without Location`);
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  return { location: new URL(location, url).href, answer };
}

/** The nominated candidate pair (addresses, protocol) from getStats, or undefined. */
export async function selectedPair(pc: RTCPeerConnection): Promise<{ local: string; remote: string; protocol: string } | undefined> {
  const stats = [...(await pc.getStats()).values()] as Array<Record<string, unknown>>;
  const byId = new Map(stats.map((s) => [s.id as string, s]));
  const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
  const pair = transport
    ? byId.get(transport.selectedCandidatePairId as string)
    : stats.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
  if (!pair) return undefined;
  const local = byId.get(pair.localCandidateId as string);
  const remote = byId.get(pair.remoteCandidateId as string);
  if (!local || !remote) return undefined;
  const addr = (c: Record<string, unknown>) => `${String(c.address ?? c.ip)}:${String(c.port)}`;
  return { local: addr(local), remote: addr(remote), protocol: String(local.protocol) };
}

async function deleteSession(location: string | undefined): Promise<number | undefined> {
  if (!location) return undefined;
  const res = await fetch(location, { method: 'DELETE' }).catch(() => undefined);
  await res?.arrayBuffer().catch(() => undefined);
  return res?.status;
}

/** First frame of the face fixture (.y4m of identical 640x480 I420 frames). */
export function readFaceI420(y4mPath: string): Uint8Array {
  const file = readFileSync(y4mPath);
  const start = Y4M_HEADER.length + Y4M_FRAME_HEADER.length;
  if (file.subarray(0, Y4M_HEADER.length).toString('latin1') !== Y4M_HEADER) throw new Error(`${y4mPath}: unexpected Y4M header`);
  return new Uint8Array(file.subarray(start, start + I420_FRAME_BYTES));
}

/** Side of the white square that moves over the face, so consecutive frames differ. */
export const MARK_SIZE = 64;

/**
 * WHIP publisher: one sendonly video track from wrtc's nonstandard RTCVideoSource,
 * fed ~30 fps with the face frame plus a white square that moves one step per frame.
 */
export class WrtcWhipPublisher {
  readonly pc: RTCPeerConnection;
  readonly source: InstanceType<Wrtc['nonstandard']['RTCVideoSource']>;
  readonly track: MediaStreamTrack;
  session: WhipWhepSession | undefined;
  framesFed = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopAt = 0;
  private readonly frame: Uint8Array;

  constructor(private readonly face: Uint8Array) {
    const { RTCPeerConnection, nonstandard } = wrtc();
    this.pc = new RTCPeerConnection({ iceServers: [] });
    this.source = new nonstandard.RTCVideoSource();
    this.track = this.source.createTrack();
    this.pc.addTransceiver(this.track, { direction: 'sendonly' });
    this.frame = new Uint8Array(face.length);
  }

  /** POST the offer to `url` (/whip/ROOM?name=…), apply the answer, start feeding frames (for at most `maxMs`). */
  async publish(url: string, maxMs = 120_000): Promise<WhipWhepSession> {
    this.feed(maxMs);
    this.session = await offerAnswer(this.pc, url);
    return this.session;
  }

  private feed(maxMs: number): void {
    this.stopAt = Date.now() + maxMs;
    const tick = () => {
      if (Date.now() > this.stopAt) return this.stopFeeding();
      this.frame.set(this.face);
      // White square on the luma plane, moving right and down one step a frame.
      const n = this.framesFed;
      const x0 = (n * 8) % (FRAME_WIDTH - MARK_SIZE);
      const y0 = (n * 4) % (FRAME_HEIGHT - MARK_SIZE);
      for (let y = y0; y < y0 + MARK_SIZE; y++) this.frame.fill(235, y * FRAME_WIDTH + x0, y * FRAME_WIDTH + x0 + MARK_SIZE);
      this.source.onFrame({ width: FRAME_WIDTH, height: FRAME_HEIGHT, data: this.frame });
      this.framesFed++;
    };
    tick();
    this.timer = setInterval(tick, 33);
  }

  stopFeeding(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** DELETE the WHIP session (its status), once. */
  async delete(): Promise<number | undefined> {
    const location = this.session?.location;
    this.session = undefined;
    return deleteSession(location);
  }

  async close(): Promise<void> {
    this.stopFeeding();
    await this.delete();
    this.track.stop();
    this.pc.close();
  }
}

/** A decoded frame's facts, as wrtc's RTCVideoSink delivers it (I420). */
export interface SinkFrame {
  width: number;
  height: number;
  bytes: number;
  /** Mean luma of the frame. */
  meanY: number;
}

/** WHEP viewer: one recvonly video m-line; decoded frames counted through wrtc's RTCVideoSink. */
export class WrtcWhepViewer {
  readonly pc: RTCPeerConnection;
  session: WhipWhepSession | undefined;
  readonly frames: SinkFrame[] = [];
  streamIds: string[] = [];
  private sinks: Array<InstanceType<Wrtc['nonstandard']['RTCVideoSink']>> = [];

  constructor() {
    const { RTCPeerConnection, nonstandard } = wrtc();
    this.pc = new RTCPeerConnection({ iceServers: [] });
    this.pc.addTransceiver('video', { direction: 'recvonly' });
    this.pc.addEventListener('track', (e) => {
      const { track, streams } = e as RTCTrackEvent;
      this.streamIds.push(...streams.map((s) => s.id));
      if (track.kind !== 'video') return;
      const sink = new nonstandard.RTCVideoSink(track);
      this.sinks.push(sink);
      sink.onframe = (ev: { frame: { width: number; height: number; data: Uint8Array } }) => {
        const { width, height, data } = ev.frame;
        let sum = 0;
        const lumaBytes = width * height;
        for (let i = 0; i < lumaBytes; i += 97) sum += data[i]!;
        // Keep the facts only: the frame buffers are large.
        if (this.frames.length < 10_000) this.frames.push({ width, height, bytes: data.byteLength, meanY: sum / Math.ceil(lumaBytes / 97) });
      };
    });
  }

  /** POST the recvonly offer to `url` (/whep/ROOM[/PUBLISHER]), apply the answer. */
  async watch(url: string): Promise<WhipWhepSession> {
    this.session = await offerAnswer(this.pc, url);
    return this.session;
  }

  /** DELETE the WHEP session (its status), once. */
  async delete(): Promise<number | undefined> {
    const location = this.session?.location;
    this.session = undefined;
    return deleteSession(location);
  }

  async close(): Promise<void> {
    for (const s of this.sinks) s.stop();
    this.sinks = [];
    await this.delete();
    this.pc.close();
  }
}
