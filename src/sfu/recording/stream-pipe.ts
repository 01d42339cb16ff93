/**
 * One RTP stream's way from packets to timed frames, for the Recorder: a clone of each packet
 * (werift's depacketizer clears the packets it is done with; the clone shares the payload bytes
 * but never touches the shared packet) -> werift's JitterBufferCallback (RTP order, waits up to
 * 200 ms of media time for a late packet) -> werift's DepacketizeCallback (VP8 frames at the
 * marker bit, Opus one frame a packet) -> frame times from the RTP timestamps (unwrapped),
 * anchored at the wall clock when the stream's first packet arrived.
 */
import type { RtpPacket } from 'werift';
import { DepacketizeCallback, JitterBufferCallback } from 'werift/nonstandard';
import type { InboundTrack } from '../publications/inbound-track.js';

/** A reordered packet waits this long (media time) before it counts as lost. */
const JITTER_LATENCY_MS = 200;

/** One RTP stream's way to frames: jitter buffer, depacketizer, time line. */
export class StreamPipe {
  private readonly jitter: JitterBufferCallback;
  private readonly depacketizer: DepacketizeCallback;
  private firstTs: number | undefined;
  private lastTs = 0;
  private extended = 0;
  /** Padding-only packets left out so far. */
  private skipped = 0;

  constructor(
    readonly source: InboundTrack,
    /** Seconds since the recording began when this stream's first packet arrived. */
    private readonly anchorS: number,
    onFrame: (data: Buffer, keyframe: boolean, timeS: number) => void,
    onLoss: () => void,
  ) {
    const codec = source.kind === 'audio' ? 'OPUS' : 'VP8';
    this.jitter = new JitterBufferCallback(source.clockRate, { latency: JITTER_LATENCY_MS });
    this.depacketizer = new DepacketizeCallback(codec, source.kind === 'video' ? { isFinalPacketInSequence: (h) => h.marker } : {});
    this.jitter.pipe((out) => {
      if (out.isPacketLost) onLoss();
      const rtp = out.rtp;
      // werift's jitter buffer can hand out a packet twice (after a loss timeout, then again on
      // flush) when the depacketizer has already cleared it: skip those.
      if (rtp && !rtp.payload) return;
      if (rtp) {
        // Padding-only packets (Chromium's bandwidth probes on the media SSRC) carry no media,
        // and werift's VP8 depacketizer throws on an empty payload, losing the frame around it:
        // drop them here, and number the packets after them on (in our copies) without the gap.
        if (rtp.payload.length === 0) {
          this.skipped++;
          return;
        }
        if (this.skipped) rtp.header.sequenceNumber = (rtp.header.sequenceNumber - this.skipped) & 0xffff;
      }
      this.depacketizer.input(out);
    });
    this.depacketizer.pipe((out) => {
      const frame = out.frame;
      if (!frame || frame.data.length === 0) return;
      onFrame(frame.data, frame.isKeyframe, this.timeOf(frame.timestamp as number));
    });
  }

  input(packet: RtpPacket): void {
    // A header copy with the same payload bytes: the depacketizer nulls the payload of packets it is done with.
    this.jitter.input({ rtp: packet.clone() });
  }

  /** Push out what the jitter buffer still holds. */
  flush(): void {
    this.jitter.input({ eol: true });
  }

  private timeOf(timestamp: number): number {
    if (this.firstTs === undefined) {
      this.firstTs = timestamp;
      this.lastTs = timestamp;
    }
    this.extended += (timestamp - this.lastTs) | 0; // signed 32-bit step: wraps and small reorders
    this.lastTs = timestamp;
    return this.anchorS + this.extended / this.source.clockRate;
  }
}
