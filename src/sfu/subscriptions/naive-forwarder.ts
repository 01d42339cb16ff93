/**
 * The benchmarks' baseline, not a product setting: what a werift app does
 * without an SFU layer. Per packet it clones the source and hands it to
 * `sender.sendRtp` (werift rewrites SSRC and payload type, builds header
 * objects, serializes, encrypts). No sequence or timestamp continuity across
 * layer switches and no NACK cache. `npm run bench` runs it beside the Forwarder.
 */
import type { RtpPacket } from 'werift';
import { Forwarder } from './forwarder.js';

/** `fast`: the Forwarder (the SFU's own path). `naive`: NaiveForwarder (benchmarks only). */
export type ForwardingMode = 'fast' | 'naive';

export class NaiveForwarder extends Forwarder {
  protected override forward(packet: RtpPacket): void {
    this.stats.packetsOut++;
    this.stats.bytesOut += packet.payload.length;
    void this.sender.sendRtp(packet.clone()).catch(() => undefined);
  }
}
