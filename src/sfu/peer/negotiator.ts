/**
 * Offer/answer and ICE on one peer connection. Either side may offer: the
 * client (its first offer, new tracks) or the server (its subscriptions
 * changed). The server is the impolite peer: a client offer that collides with
 * the server's is refused with `glare` (the polite client rolls back and
 * answers), and the server's own offers are serialized and coalesced. With
 * fixed media (WHIP/WHEP) the client's one offer is all there is: the server
 * never offers.
 */
import { EventEmitter } from 'node:events';
import type { RTCIceCandidate, RTCPeerConnection, RTCRtpTransceiver } from 'werift';
import type { IceCandidate } from '../../protocol/messages.js';
import { checkSdp, SfuError } from '../errors.js';
import { keepOfferedSimulcast, unrejectInactive } from '../werift/sdp.js';

export interface NegotiatorEvents {
  /** A local ICE candidate to trickle to the client; null = end of candidates. */
  candidate: [IceCandidate | null];
  /** A server-initiated offer for the client to answer. */
  offer: [sdp: string];
  /** An m-line the client may publish on (its own, answered recvonly; or the server's first recvonly one). */
  transceiver: [RTCRtpTransceiver];
  /** An exchange is being applied: m-lines the client offered exist now (subscriptions may go onto them). */
  applying: [];
  /** An offer/answer exchange completed. */
  exchanged: [];
}

export class Negotiator extends EventEmitter<NegotiatorEvents> {
  /** Our offer is being made (still "stable" until setLocalDescription ends). */
  private offering = false;
  /** A client offer is being applied and answered. */
  private answering = false;
  /** A server offer is due once signaling is stable. */
  private wantsOffer = false;
  private readonly earlyCandidates: (IceCandidate | null)[] = [];
  /** A remote candidate other than the unspecified address was added. */
  private usableRemoteCandidate = false;
  private closed = false;

  constructor(
    private readonly pc: RTCPeerConnection,
    private readonly fixedMedia: boolean,
  ) {
    super();
    // Subscribed before any setRemoteDescription: werift announces the client's m-lines while applying it.
    pc.onRemoteTransceiverAdded.subscribe((t) => {
      // The server never sends on an m-line the client created: it answers recvonly.
      if (t.direction === 'sendrecv') t.setDirection('recvonly');
      this.emit('transceiver', t);
    });
    pc.onIceCandidate.subscribe((c) => this.onLocalCandidate(c));
  }

  /** Apply a client offer; returns the answer SDP. */
  async handleOffer(sdp: string): Promise<string> {
    this.assertOpen();
    checkSdp(sdp, 'offer');
    // `offering`: our offer's new transceivers have no mid yet, and werift would match the client's m-lines to them.
    if (this.pc.signalingState === 'have-local-offer' || this.offering) {
      throw new SfuError('glare', "offer collided with the server's offer; answer the server's offer instead");
    }
    // `answering`: werift reports "stable" until setRemoteDescription is nearly done; no
    // server offer may start in between (it would be made against a half-applied offer).
    this.answering = true;
    try {
      try {
        await this.pc.setRemoteDescription({ type: 'offer', sdp });
      } catch (err) {
        throw new SfuError('bad-sdp', `offer rejected: ${(err as Error).message}`);
      }
      keepOfferedSimulcast(sdp, this.pc.getTransceivers() as unknown as Parameters<typeof keepOfferedSimulcast>[1]);
      // Subscriptions waited while werift matched the offer's m-lines (a transceiver of ours
      // would have taken one of them). Now they go onto m-lines on which the client offered
      // to receive (a viewer, WHEP), else onto new ones offered after the answer.
      this.emit('applying');
      const answer = await this.pc.createAnswer();
      await this.pc.setLocalDescription(answer);
    } catch (err) {
      // Closed meanwhile (the client left, a timeout): werift's InvalidStateError is no internal failure.
      this.assertOpen();
      throw err;
    } finally {
      this.answering = false;
    }
    this.emit('exchanged');
    queueMicrotask(() => this.maybeOffer());
    return unrejectInactive(this.pc.localDescription!.sdp);
  }

  /** Create a server-side offer now (the client asked with `negotiate`, or subscriptions changed). */
  async createOffer(): Promise<string> {
    this.assertOpen();
    if (this.pc.signalingState !== 'stable' || this.offering || this.answering) {
      throw new SfuError('wrong-state', `cannot offer now: a negotiation is in progress (signaling state ${this.pc.signalingState})`);
    }
    // The server may make the first offer: it carries the subscriptions made so far.
    this.emit('applying');
    if (this.pc.getTransceivers().length === 0) {
      // Nothing negotiated yet: offer to receive the client's video.
      this.emit('transceiver', this.pc.addTransceiver('video', { direction: 'recvonly' }));
    }
    this.offering = true;
    this.wantsOffer = false;
    try {
      await this.pc.setLocalDescription(await this.pc.createOffer());
    } catch (err) {
      this.offering = false;
      this.assertOpen(); // closed meanwhile: wrong-state, not an internal failure
      throw err;
    }
    return unrejectInactive(this.pc.localDescription!.sdp);
  }

  async handleAnswer(sdp: string): Promise<void> {
    this.assertOpen();
    if (this.pc.signalingState !== 'have-local-offer') {
      throw new SfuError('wrong-state', `unexpected answer in signaling state ${this.pc.signalingState}`);
    }
    checkSdp(sdp, 'answer');
    try {
      await this.pc.setRemoteDescription({ type: 'answer', sdp });
    } catch (err) {
      throw new SfuError('bad-sdp', `answer rejected: ${(err as Error).message}`);
    } finally {
      this.offering = false;
    }
    const early = this.earlyCandidates.splice(0);
    for (const c of early) await this.applyCandidate(c).catch(() => undefined);
    this.emit('exchanged');
    queueMicrotask(() => this.maybeOffer());
  }

  async addCandidate(candidate: IceCandidate | null): Promise<void> {
    this.assertOpen();
    if (!this.pc.remoteDescription) {
      // The client may trickle its candidates before the answer to our offer arrives.
      if (this.pc.signalingState === 'have-local-offer' && this.earlyCandidates.length < 64) {
        this.earlyCandidates.push(candidate);
        return;
      }
      throw new SfuError('no-offer', 'ICE candidate arrived before any offer or answer');
    }
    await this.applyCandidate(candidate);
  }

  /** Ask for a server offer as soon as signaling is stable (coalesces many changes into one). */
  requestOffer(): void {
    this.wantsOffer = true;
    queueMicrotask(() => this.maybeOffer());
  }

  close(): void {
    this.closed = true;
    this.earlyCandidates.length = 0;
    this.removeAllListeners();
  }

  assertOpen(): void {
    if (this.closed) throw new SfuError('wrong-state', 'this connection is closed');
  }

  private maybeOffer(): void {
    if (this.closed || this.fixedMedia || !this.wantsOffer || this.offering || this.answering) return;
    // The first exchange is the client's (or an explicit `negotiate`): wait for it.
    if (!this.pc.remoteDescription || this.pc.signalingState !== 'stable') return;
    this.createOffer().then(
      (sdp) => this.emit('offer', sdp),
      () => {
        this.offering = false;
      },
    );
  }

  private async applyCandidate(candidate: IceCandidate | null): Promise<void> {
    // A browser without a camera/microphone grant may offer only the unspecified address
    // (0.0.0.0 / ::), which nobody can reach: skip those. Its checks still arrive from its
    // real address (a peer-reflexive candidate), so end-of-candidates is held back until a
    // usable candidate came: werift would otherwise fail ICE at once with no pairs.
    if (candidate !== null && /^\S+ \d+ \S+ \d+ (0\.0\.0\.0|::) /.test(candidate.candidate.replace(/^candidate:/, ''))) return;
    if (candidate === null && !this.usableRemoteCandidate) return;
    if (candidate !== null) this.usableRemoteCandidate = true;
    try {
      if (candidate === null) await this.pc.addIceCandidate(undefined);
      else
        await this.pc.addIceCandidate({
          candidate: candidate.candidate,
          sdpMid: candidate.sdpMid ?? undefined,
          sdpMLineIndex: candidate.sdpMLineIndex ?? undefined,
          usernameFragment: candidate.usernameFragment ?? undefined,
        });
    } catch (err) {
      throw new SfuError('bad-message', `ICE candidate rejected: ${(err as Error).message}`);
    }
  }

  private onLocalCandidate(candidate: RTCIceCandidate | undefined): void {
    if (this.closed) return;
    if (!candidate) {
      this.emit('candidate', null);
      return;
    }
    const json = candidate.toJSON();
    this.emit('candidate', { candidate: json.candidate, sdpMid: json.sdpMid ?? null, sdpMLineIndex: json.sdpMLineIndex ?? null });
  }
}
