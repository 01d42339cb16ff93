/**
 * The client's `facecast` data channel (metadata mode): face detection results
 * in (checked against the protocol schema, at most 60 a second) and other
 * participants' results out.
 */
import type { RTCDataChannel, RTCPeerConnection } from 'werift';
import { DATA_CHANNEL_LABEL, parseFacesUp, type FacesDown, type FacesUp } from '../../protocol/detections.js';

/** One result per frame at 60 fps; more in one second are dropped. */
const MAX_MESSAGES_PER_S = 60;

export class FacesChannel {
  readonly stats = { messagesIn: 0, messagesDropped: 0, messagesOut: 0 };
  /** The latest result the client published. */
  last: { count: number; detector: string; frame: number; at: number } | null = null;
  private channel: RTCDataChannel | undefined;
  private windowStart = 0;
  private windowCount = 0;
  private closed = false;

  constructor(pc: RTCPeerConnection, onFaces: (faces: FacesUp) => void) {
    pc.onDataChannel.subscribe((channel) => {
      if (channel.label !== DATA_CHANNEL_LABEL || this.channel) return;
      this.channel = channel;
      channel.onMessage.subscribe((data) => {
        const faces = this.receive(data);
        if (faces) onFaces(faces);
      });
    });
  }

  /** Relay another participant's result to this client (if its channel is open). */
  send(message: FacesDown): void {
    const channel = this.channel;
    if (this.closed || !channel || channel.readyState !== 'open') return;
    try {
      channel.send(JSON.stringify(message));
      this.stats.messagesOut++;
    } catch {
      // channel closing: nothing to do
    }
  }

  close(): void {
    this.closed = true;
  }

  private receive(data: string | Buffer): FacesUp | undefined {
    if (this.closed) return undefined;
    const now = performance.now();
    if (now - this.windowStart > 1000) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    const faces = ++this.windowCount <= MAX_MESSAGES_PER_S ? parseFacesUp(typeof data === 'string' ? data : new Uint8Array(data)) : undefined;
    if (!faces) {
      this.stats.messagesDropped++;
      return undefined;
    }
    this.stats.messagesIn++;
    this.last = { count: faces.faces.length, detector: faces.detector, frame: faces.frame, at: Date.now() };
    return faces;
  }
}
