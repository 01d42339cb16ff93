/**
 * A WHIP publisher or WHEP viewer built on libwebrtc through @roamhq/wrtc
 * (node-webrtc; its prebuilt libwebrtc M106 binary ships in the npm package
 * @roamhq/wrtc-linux-x64), run as a child process that test/helpers/wrtc.ts
 * drives over IPC.
 *
 * Why a child process: with an RTCVideoSource in it, a Node process cannot end
 * cleanly. While its track is live the process never exits; once the track is
 * stopped, Node's exit-time cleanup runs wrtc's finalizers and segfaults
 * (node-webrtc/node-webrtc#636, WonderInventions/node-webrtc#7 and #35;
 * reproduced here with @roamhq/wrtc 0.10.0 on Node 20). process.exit() after
 * close() exits 0. So the tests never load wrtc themselves: each peer is a
 * child that closes its peer connection and calls process.exit(), and that
 * dies with the test process (IPC disconnect).
 *
 * Loopback: libwebrtc skips loopback interfaces by default (its
 * PeerConnectionFactory's network_ignore_mask includes ADAPTER_TYPE_LOOPBACK),
 * but node-webrtc sets `network_ignore_mask = 0`, so in the tests'
 * loopback-only namespace wrtc gathers host candidates on `lo`: UDP and TCP,
 * 127.0.0.1 and ::1. Its RTCConfiguration cannot pick interfaces (only
 * `portRange`), so the offers sent to the SFU keep only the UDP 127.0.0.1
 * candidates (`only127Udp`); the SFU answers with 127.0.0.1 host candidates
 * only, so the one pair ICE can form is 127.0.0.1 <-> 127.0.0.1 over UDP.
 * `selectedPair()` reads it back from getStats so the tests can check it.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
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
  const pair = transport ? byId.get(transport.selectedCandidatePairId as string) : stats.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
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

/**
 * Every fed frame carries a blue square (BT.601 blue: Y 41, U 240, V 110; the face
 * photo's U stays within 86-141) at a place that tells the frame's number n
 * modulo MARK_PERIOD: `markAt(n)`. A viewer finds it (`findMark`) and so knows
 * which fed frame it decoded.
 */
export const MARK_SIZE = 64;
export const MARK_PERIOD = 936; // lcm of the x period (576 / 8) and the y period (416 / 4)
export const markAt = (n: number) => ({ x: (n * 8) % (FRAME_WIDTH - MARK_SIZE), y: (n * 4) % (FRAME_HEIGHT - MARK_SIZE) });

export function drawMark(i420: Uint8Array, n: number): void {
  const { x: x0, y: y0 } = markAt(n);
  for (let y = y0; y < y0 + MARK_SIZE; y++) i420.fill(41, y * FRAME_WIDTH + x0, y * FRAME_WIDTH + x0 + MARK_SIZE);
  const cw = FRAME_WIDTH / 2;
  const u = FRAME_WIDTH * FRAME_HEIGHT;
  const v = u + cw * (FRAME_HEIGHT / 2);
  for (let y = y0 / 2; y < (y0 + MARK_SIZE) / 2; y++) {
    i420.fill(240, u + y * cw + x0 / 2, u + y * cw + (x0 + MARK_SIZE) / 2);
    i420.fill(110, v + y * cw + x0 / 2, v + y * cw + (x0 + MARK_SIZE) / 2);
  }
}

/**
 * The fed frame number (mod MARK_PERIOD) whose mark a decoded I420 frame shows, or
 * null without one: the centre of the pixels with U >= 190, matched to the
 * nearest mark position (within a quarter of the mark). Scales with the frame.
 */
export function findMark(frame: { width: number; height: number; data: Uint8Array }): number | null {
  const { width, height, data } = frame;
  const cw = Math.ceil(width / 2);
  const ch = Math.ceil(height / 2);
  const u = width * height;
  let sx = 0;
  let sy = 0;
  let count = 0;
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      if (data[u + y * cw + x]! >= 190) {
        sx += x;
        sy += y;
        count++;
      }
    }
  }
  // At least a third of the mark's chroma area (scaled) must be there.
  const scale = width / FRAME_WIDTH;
  if (count < ((MARK_SIZE * scale) / 2) ** 2 / 3) return null;
  const cx = ((sx / count + 0.5) * 2) / scale;
  const cy = ((sy / count + 0.5) * 2) / scale;
  let best: number | null = null;
  let bestDist = MARK_SIZE / 4;
  for (let n = 0; n < MARK_PERIOD; n++) {
    const m = markAt(n);
    const d = Math.hypot(m.x + MARK_SIZE / 2 - cx, m.y + MARK_SIZE / 2 - cy);
    if (d < bestDist) {
      bestDist = d;
      best = n;
    }
  }
  return best;
}

/**
 * WHIP publisher: one sendonly video track from wrtc's nonstandard RTCVideoSource,
 * fed ~30 fps with the face frame plus a blue square that tells the frame's number (drawMark).
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
      drawMark(this.frame, this.framesFed);
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
  /** The fed frame number (mod MARK_PERIOD) it shows, from its mark; null without one. */
  mark: number | null;
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
        if (this.frames.length < 10_000) this.frames.push({ width, height, bytes: data.byteLength, meanY: sum / Math.ceil(lumaBytes / 97), mark: findMark(ev.frame) });
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

// ---- child process: one peer, driven by test/helpers/wrtc.ts over IPC ----

export type PeerRequest =
  | { id: number; method: 'publish'; url: string; y4m: string; maxMs: number }
  | { id: number; method: 'watch'; url: string }
  | { id: number; method: 'selectedPair' | 'progress' | 'delete' | 'close' };

export interface PeerProgress {
  framesFed: number;
  frames: SinkFrame[];
  streamIds: string[];
  connectionState: string;
}

export type PeerReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

function serve(): void {
  let publisher: WrtcWhipPublisher | undefined;
  let viewer: WrtcWhepViewer | undefined;
  const peer = () => publisher ?? viewer;
  // The parent went away (test process ended or was killed): go too.
  process.on('disconnect', () => process.exit(1));
  const handle = async (req: PeerRequest): Promise<unknown> => {
    switch (req.method) {
      case 'publish':
        if (peer()) throw new Error('this process already has a peer');
        publisher = new WrtcWhipPublisher(readFaceI420(req.y4m));
        return publisher.publish(req.url, req.maxMs);
      case 'watch':
        if (peer()) throw new Error('this process already has a peer');
        viewer = new WrtcWhepViewer();
        return viewer.watch(req.url);
      case 'selectedPair': {
        const p = peer();
        return p ? ((await selectedPair(p.pc)) ?? null) : null;
      }
      case 'progress':
        return {
          framesFed: publisher?.framesFed ?? 0,
          frames: viewer?.frames ?? [],
          streamIds: viewer?.streamIds ?? [],
          connectionState: peer()?.pc.connectionState ?? 'none',
        } satisfies PeerProgress;
      case 'delete':
        return (await peer()?.delete()) ?? null;
      case 'close':
        await peer()?.close();
        return null;
    }
  };
  process.on('message', (req: PeerRequest) => {
    void handle(req).then(
      (value) => {
        process.send!({ id: req.id, ok: true, value } satisfies PeerReply, () => {
          if (req.method === 'close') process.exit(0);
        });
      },
      (err: unknown) => process.send!({ id: req.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies PeerReply),
    );
  });
  process.send!({ id: 0, ok: true, value: 'ready' } satisfies PeerReply);
}

if (process.send && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) serve();
