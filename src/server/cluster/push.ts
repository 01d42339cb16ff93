/**
 * Cascading to edge nodes (the room's node side): one publisher's tracks sent once to another
 * node, which fans them out to its own WHEP viewers. The push is a WHIP client of the edge node:
 * a werift peer (sendonly, one m-line per published track: every audio track and the tallest
 * layer of each video) whose offer is POSTed to the edge's `/whip/ROOM?name=PUBLISHER` with a
 * relay token, so the edge takes it as a local publisher of that name. Keyframe requests (PLI,
 * FIR) from the edge go to the publisher through its InboundTrack; NACKs for the link are
 * answered by werift's sender from its own cache; face metadata goes on a `facecast` data channel.
 * Runs in the room's worker.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { MediaStreamTrack, RTCPeerConnection, RtcpPayloadSpecificFeedback, type RtpPacket } from 'werift';
import { DATA_CHANNEL_LABEL, type FacesUp } from '../../protocol/detections.js';
import type { Participant } from '../../sfu/participant.js';
import type { InboundTrack, PacketSink } from '../../sfu/publications/inbound-track.js';
import { type IceSettings, peerConfig, pinHeaderExtensionIds } from '../../sfu/werift/config.js';
import { PSFB_FIR, PSFB_PLI } from '../../sfu/werift/rtcp.js';
import { RELAY_HEADER } from './relay.js';

/** Of each published video, the tallest layer (by the size its keyframes carry, else its rid); every audio track. */
export function pushedLayers(tracks: Iterable<InboundTrack>): InboundTrack[] {
  const ridRank: Record<string, number> = { f: 3, h: 2, q: 1 };
  const rank = (t: InboundTrack) => t.height * 10 + (ridRank[t.rid ?? ''] ?? 0);
  const best = new Map<string, InboundTrack>();
  for (const t of tracks) {
    if (t.kind === 'audio') {
      best.set(t.id, t);
      continue;
    }
    const cur = best.get(t.group);
    if (!cur || rank(t) > rank(cur)) best.set(t.group, t);
  }
  return [...best.values()];
}

export class TrackPush extends EventEmitter<{ closed: [] }> {
  private readonly pc: RTCPeerConnection;
  private readonly detach: (() => void)[] = [];
  private location: string | undefined;
  private closed = false;
  packetsOut = 0;
  keyframeRequests = 0;

  constructor(
    readonly publisher: Participant,
    readonly target: string,
    private readonly room: string,
    private readonly token: string,
    ice: IceSettings,
    private readonly log: Logger,
  ) {
    super();
    this.pc = new RTCPeerConnection(peerConfig(ice));
    pinHeaderExtensionIds(this.pc);
    this.pc.connectionStateChange.subscribe((s) => {
      if (s === 'failed' || s === 'closed') void this.close();
    });
    publisher.once('closed', () => void this.close());
  }

  /** Offer the publisher's tracks to the edge node; resolves once it answered (201). */
  async start(): Promise<void> {
    const sources = pushedLayers(this.publisher.published.values());
    if (sources.length === 0) throw new Error(`${this.publisher.name} publishes nothing yet`);
    for (const source of sources) this.send(source);
    this.relayFaces();
    await this.pc.setLocalDescription(await this.pc.createOffer());
    const url = `${this.target}/whip/${encodeURIComponent(this.room)}?name=${encodeURIComponent(this.publisher.name)}`;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp', [RELAY_HEADER]: this.token },
      body: this.pc.localDescription!.sdp,
      signal: AbortSignal.timeout(10_000),
      redirect: 'error',
    });
    const answer = await res.text();
    if (res.status !== 201) throw new Error(`edge ${this.target} answered ${res.status}: ${answer.slice(0, 200)}`);
    const location = res.headers.get('location');
    if (location) this.location = new URL(location, url).toString();
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answer });
    this.log.info({ publisher: this.publisher.name, target: this.target, tracks: sources.length }, 'pushing tracks to an edge node');
  }

  /** One source on its own sendonly m-line: from its next keyframe on, every packet (a copy: the source's object is shared). */
  private send(source: InboundTrack): void {
    const local = new MediaStreamTrack({ kind: source.kind });
    const transceiver = this.pc.addTransceiver(local, { direction: 'sendonly' });
    let started = source.kind === 'audio';
    const sink: PacketSink = {
      write: (packet: RtpPacket, keyframe: boolean, from: InboundTrack) => {
        if (from !== source || this.closed) return;
        if (!started && !keyframe) return;
        started = true;
        this.packetsOut++;
        local.writeRtp(packet.clone());
      },
      // Dynacast: the layer pushed stays on.
      wants: (layers) => layers.filter((l) => l === source),
    };
    source.addSink(sink);
    if (source.kind === 'video') source.requestKeyframe(false);
    const { unSubscribe } = transceiver.sender.onRtcp.subscribe((rtcp) => {
      // PLI or FIR from the edge: the publisher makes a keyframe (coalesced by its KeyframeRequester).
      if (!(rtcp instanceof RtcpPayloadSpecificFeedback)) return;
      const count = (rtcp.feedback as { count: number }).count;
      if (count === PSFB_PLI || count === PSFB_FIR) {
        this.keyframeRequests++;
        source.requestKeyframe();
      }
    });
    this.detach.push(() => {
      source.removeSink(sink);
      unSubscribe();
    });
  }

  /** Face metadata: the publisher's results go over a `facecast` data channel, as a browser sends them. */
  private relayFaces(): void {
    const channel = this.pc.createDataChannel(DATA_CHANNEL_LABEL);
    const onFaces = (faces: FacesUp) => {
      if (channel.readyState !== 'open') return;
      try {
        channel.send(JSON.stringify(faces));
      } catch {
        // closing
      }
    };
    this.publisher.on('faces', onFaces);
    this.detach.push(() => this.publisher.off('faces', onFaces));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const d of this.detach.splice(0)) d();
    if (this.location) {
      await fetch(this.location, { method: 'DELETE', headers: { [RELAY_HEADER]: this.token }, signal: AbortSignal.timeout(2000) }).catch(() => undefined);
    }
    await this.pc.close().catch(() => undefined);
    this.emit('closed');
  }
}
