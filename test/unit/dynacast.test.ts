import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DynacastLayer, type LayerWanter, wantedRids } from '../../src/sfu/publications/dynacast.js';

interface Layer extends DynacastLayer<LayerWanter<Layer>> {
  rid: string | undefined;
  sinks: Set<LayerWanter<Layer>>;
}
const layer = (rid: string | undefined): Layer => ({ rid, sinks: new Set() });
const wanting = (pick: (layers: readonly Layer[]) => readonly Layer[]): LayerWanter<Layer> => ({ wants: pick });

describe('dynacast: the layers anyone wants', () => {
  it('nobody watching: no layer', () => {
    assert.deepEqual(wantedRids([layer('q'), layer('h'), layer('f')]), []);
  });

  it('the union of what each sink wants, each sink asked once even when on two layers', () => {
    const [q, h, f] = [layer('q'), layer('h'), layer('f')];
    let asked = 0;
    const switching = wanting((ls) => {
      asked++;
      return [ls[2]!, ls[0]!]; // wants f, still forwards q until f's keyframe
    });
    q.sinks.add(switching);
    f.sinks.add(switching);
    const small = wanting((ls) => [ls[0]!]);
    q.sinks.add(small);
    assert.deepEqual(wantedRids([q, h, f]), ['f', 'q']);
    assert.equal(asked, 1);
  });

  it("a sink that wants nothing (hidden tile, paused) turns nothing on; a track without simulcast is ''", () => {
    const only = layer(undefined);
    only.sinks.add(wanting(() => []));
    assert.deepEqual(wantedRids([only]), []);
    only.sinks.add(wanting((ls) => [ls[0]!]));
    assert.deepEqual(wantedRids([only]), ['']);
  });

  it('a sink that cannot say gets every layer', () => {
    const [q, f] = [layer('q'), layer('f')];
    q.sinks.add({});
    assert.deepEqual(wantedRids([q, f]), ['f', 'q']);
  });
});
