/**
 * Dynacast (LiveKit's name for it): a simulcast layer nobody receives is not worth encoding.
 * The layers of one published video that its sinks want now: each subscriber's Forwarder
 * wants the layer it would forward (its tile, its bandwidth ceiling; none while its tile is
 * hidden or it is paused) and, until it has switched there, the one it forwards now; a
 * Recorder wants the tallest. Publications tells the publisher
 * (a `layers` message: it sets `encodings[i].active`) whenever that set changes; a video
 * nobody watches has every layer off. WHIP publishers have no signaling channel and keep
 * sending everything.
 *
 * Pure: the sinks decide what they want; this only takes the union.
 */

/** A layer as dynacast sees it: its rid ('' without simulcast) and who takes its packets. */
export interface DynacastLayer<S> {
  readonly rid: string | undefined;
  readonly sinks: Iterable<S>;
}

/** What a sink (Forwarder, Recorder) wants of a published video's layers now (none: an empty list). */
export interface LayerWanter<L> {
  wants?(layers: readonly L[]): readonly L[];
}

/**
 * The rids ('' for a track without simulcast) to send, sorted. A sink attached to several
 * layers (one it forwards, one it is switching to) is asked once.
 */
export function wantedRids<L extends DynacastLayer<LayerWanter<L>>>(layers: readonly L[]): string[] {
  const asked = new Set<LayerWanter<L>>();
  const wanted = new Set<string>();
  for (const layer of layers) {
    for (const sink of layer.sinks) {
      if (asked.has(sink)) continue;
      asked.add(sink);
      if (!sink.wants) {
        // A sink that cannot say (none today): it gets every layer, as before dynacast.
        for (const l of layers) wanted.add(l.rid ?? '');
        continue;
      }
      for (const l of sink.wants(layers)) wanted.add(l.rid ?? '');
    }
  }
  return [...wanted].sort();
}
