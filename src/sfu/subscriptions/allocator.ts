/**
 * One bandwidth budget per subscriber (LiveKit's StreamAllocator is the model): the
 * subscriber's estimate is shared across everything it receives, instead of every
 * Forwarder treating the whole estimate as its own (a subscriber watching N videos was
 * allowed N times its estimate).
 *
 * Order: audio first (what it measures now); then every video gets its lowest layer, the
 * largest tile first; a video whose lowest layer does not fit is paused. What is left
 * raises videos, the largest tile first, each as far as its tile needs (the smallest layer
 * at least as tall as the tile). A layer being forwarded keeps its place while its bitrate
 * is within HOLD_SLACK of what it is given, so a keyframe's spike does not flap layers.
 * Without an estimate nothing is limited.
 *
 * Pausing is slow to start, resuming is not: a receive-side estimate (REMB) only grows
 * with what is received (Chromium keeps it within about 1.5x of the incoming rate), so
 * an estimate near the lowest layer's bitrate is normal while only that layer flows. A
 * video being forwarded is paused only when the estimate left for it is under half its
 * lowest layer (PAUSE_SLACK) and the estimate is below what is being sent (`congested`:
 * otherwise it is that cap, not congestion; nothing is paused or lowered then); a paused one
 * resumes when its lowest layer fits whole.
 *
 * Pure: no clock, no I/O. Subscriptions runs it and hands each Forwarder its ceiling.
 */
import { ESTIMATE_USE, layerRank, type LayerView } from './layer-selector.js';

/** A live layer's bitrate before it is measured (a just-started stream): ask this much. */
export const UNMEASURED_LAYER_BPS = 150_000;
/** The layer forwarded now stays while it needs at most this much more than its share. */
export const HOLD_SLACK = 1.15;
/** A video being forwarded is paused only when what is left for it is under 1/PAUSE_SLACK of its lowest layer. */
export const PAUSE_SLACK = 2;

export interface VideoDemand<L extends LayerView> {
  key: string;
  /** The layers the publisher sends now (any order). */
  live: readonly L[];
  /** The subscriber's tile height in device pixels (Infinity: unknown, the whole video). */
  tileHeight: number;
  /** The layer forwarded now (undefined: none, or paused). */
  current: L | undefined;
  /** Paused now (for bandwidth): it resumes only when its lowest layer fits whole. */
  paused?: boolean;
}

export interface AllocationInput<L extends LayerView> {
  /** The subscriber's bandwidth estimate (bps), null without a recent one. */
  estimateBps: number | null;
  /** What the subscriber's audio takes now (bps). */
  audioBps: number;
  /**
   * The estimate is below what the subscriber gets now (congestion). When false (or absent) the
   * estimate may only raise videos: none is paused or taken below the layer it has.
   */
  congested?: boolean;
  videos: readonly VideoDemand<L>[];
}

/**
 * Per video key: the highest layer it may have, or null: paused (it does not fit even at its
 * lowest layer). A video with no live layer has no entry (nothing to decide yet).
 */
export type Allocation<L> = Map<string, L | null>;

/** A layer's price: what it takes when it flows (not the low reading of one ramping up again after dynacast). */
const cost = (l: LayerView) => {
  const bps = Math.max(l.bitrateBps, l.typicalBps ?? 0);
  return bps > 0 ? bps : UNMEASURED_LAYER_BPS;
};

export function allocate<L extends LayerView>(input: AllocationInput<L>): Allocation<L> {
  const out: Allocation<L> = new Map();
  const videos = input.videos
    .filter((v) => v.live.length > 0)
    .map((v) => {
      const layers = [...v.live].sort((a, b) => layerRank(a) - layerRank(b));
      let want = layers.findIndex((l) => l.height >= v.tileHeight);
      if (want < 0) want = layers.length - 1;
      return { v, layers, want, got: -1 };
    })
    // Largest tile first; ties in key order, so the outcome does not depend on the input's order.
    .sort((a, b) => b.v.tileHeight - a.v.tileHeight || (a.v.key < b.v.key ? -1 : a.v.key > b.v.key ? 1 : 0));
  if (input.estimateBps === null) {
    for (const x of videos) out.set(x.v.key, x.layers[x.want]!);
    return out;
  }
  let left = input.estimateBps * ESTIMATE_USE - input.audioBps;
  // The current layer asks for a little less (it may be over for a moment): hysteresis.
  const price = (x: (typeof videos)[number], i: number) => {
    const l = x.layers[i]!;
    return l === x.v.current ? cost(l) / HOLD_SLACK : cost(l);
  };
  const congested = input.congested ?? false;
  for (const x of videos) {
    const p = price(x, 0);
    const keep = x.v.paused ? cost(x.layers[0]!) : p / PAUSE_SLACK;
    if (keep > left && (congested || x.v.paused)) continue; // paused (or stays paused)
    x.got = 0;
    left -= p; // may go below zero: nothing else is given then
  }
  if (!congested) {
    // Nobody goes below what it has now; what is left (if anything) raises them as usual.
    for (const x of videos) {
      const i = x.v.current ? x.layers.indexOf(x.v.current) : -1;
      if (x.got >= 0 && i > x.got) {
        for (let j = x.got; j < i; j++) left -= price(x, j + 1) - price(x, j);
        x.got = Math.min(i, x.want);
      }
    }
  }
  for (const x of videos) {
    if (x.got < 0) continue;
    while (x.got < x.want) {
      const step = price(x, x.got + 1) - price(x, x.got);
      if (step > left) break;
      left -= step;
      x.got++;
    }
  }
  for (const x of videos) out.set(x.v.key, x.got < 0 ? null : x.layers[x.got]!);
  return out;
}
