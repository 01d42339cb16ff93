/**
 * Which simulcast layer one subscriber gets: a pure decision (no I/O, no clock of its own),
 * made by its Forwarder whenever a layer comes or goes, the tile is resized, a bandwidth
 * estimate or a loss report arrives. Its rules, in order:
 *  1. the smallest layer at least as tall as the subscriber's tile (else the tallest);
 *  2. no higher than the ceiling the subscriber's bandwidth budget allows (allocator.ts:
 *     one estimate shared by everything the subscriber receives);
 *  3. one more step down while the subscriber reports heavy loss (`congested`);
 *  4. going up for bandwidth (a higher ceiling, not a bigger tile) waits UPSWITCH_HOLD_MS
 *     after the last switch, so an estimate near a layer's bitrate does not flap (every
 *     switch costs a keyframe).
 */

/** What the selector reads of a layer (an InboundTrack). */
export interface LayerView {
  /** Keyframe height once known, else 0. */
  height: number;
  rid?: string;
  bitrateBps: number;
  /** What it takes when it flows (a decaying peak), if known: the allocator prices layers by the larger. */
  typicalBps?: number;
}

export interface LayerChoice<L extends LayerView> {
  /** The layers the publisher is sending now. */
  live: readonly L[];
  /** The layer forwarded now, or the one a switch waits for. */
  current: L | undefined;
  /** The subscriber's tile height in device pixels (Infinity: unknown). */
  maxHeight: number;
  /** The highest layer the subscriber's bandwidth budget allows (allocator.ts); undefined: no limit. */
  ceiling: L | undefined;
  /** The subscriber reported heavy loss recently. */
  congested: boolean;
  now: number;
  lastLayerChangeAt: number;
  maxHeightChangedAt: number;
}

/** Share of the estimate the media may use (headroom for RTCP, retransmissions); allocator.ts. */
export const ESTIMATE_USE = 0.85;
/** Going up a layer for bandwidth waits this long after the previous switch. */
export const UPSWITCH_HOLD_MS = 4000;

/** Simulcast layers from low to high: by keyframe height once known, else by rid (q < h < f). */
const RID_ORDER = ['q', 'h', 'f'];
export function layerRank(t: LayerView): number {
  if (t.height > 0) return t.height;
  const i = RID_ORDER.indexOf(t.rid ?? '');
  return i < 0 ? 0 : -3 + i; // unknown sizes rank below known ones, in rid order
}

/** The layer to forward (undefined when nothing is live). */
export function selectLayer<L extends LayerView>(c: LayerChoice<L>): L | undefined {
  const live = [...c.live].sort((a, b) => layerRank(a) - layerRank(b));
  if (live.length === 0) return undefined;
  let i = live.findIndex((l) => l.height >= c.maxHeight);
  if (i < 0) i = live.length - 1;
  const tileIndex = i;
  if (c.ceiling !== undefined) {
    const top = layerRank(c.ceiling);
    while (i > 0 && layerRank(live[i]!) > top) i--;
  }
  if (c.congested) i = Math.max(0, i - 1);
  const current = c.current === undefined ? -1 : live.indexOf(c.current);
  const upForBandwidth = c.ceiling !== undefined && current >= 0 && i > current && i <= tileIndex;
  if (upForBandwidth && c.now - c.lastLayerChangeAt < UPSWITCH_HOLD_MS && c.maxHeightChangedAt < c.lastLayerChangeAt) i = current;
  return live[i];
}
