import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type LayerChoice, type LayerView, layerRank, selectLayer, UPSWITCH_HOLD_MS } from '../../src/sfu/subscriptions/layer-selector.js';

const q: LayerView = { rid: 'q', height: 180, bitrateBps: 150_000 };
const h: LayerView = { rid: 'h', height: 360, bitrateBps: 500_000 };
const f: LayerView = { rid: 'f', height: 720, bitrateBps: 1_500_000 };

const choice = (over: Partial<LayerChoice<LayerView>> = {}): LayerChoice<LayerView> => ({
  live: [f, q, h],
  current: undefined,
  maxHeight: Infinity,
  ceiling: undefined,
  congested: false,
  now: 100_000,
  lastLayerChangeAt: 0,
  maxHeightChangedAt: 0,
  ...over,
});

describe('layer selector (pure)', () => {
  it('the smallest layer at least as tall as the tile, else the tallest', () => {
    assert.equal(selectLayer(choice()), f);
    assert.equal(selectLayer(choice({ maxHeight: 300 })), h);
    assert.equal(selectLayer(choice({ maxHeight: 180 })), q);
    assert.equal(selectLayer(choice({ maxHeight: 100 })), q);
    assert.equal(selectLayer(choice({ maxHeight: 2000 })), f);
    assert.equal(selectLayer(choice({ live: [] })), undefined);
  });

  it('no higher than the ceiling the bandwidth budget allows, never below the lowest', () => {
    assert.equal(selectLayer(choice({ ceiling: h })), h);
    assert.equal(selectLayer(choice({ ceiling: f })), f);
    assert.equal(selectLayer(choice({ ceiling: q })), q);
    assert.equal(selectLayer(choice({ ceiling: h, maxHeight: 180 })), q, 'the tile wants less than the ceiling');
    const gone = { rid: 'x', height: 100, bitrateBps: 1 };
    assert.equal(selectLayer(choice({ ceiling: gone })), q, 'a ceiling below every live layer: the lowest');
  });

  it('one more step down while congested', () => {
    assert.equal(selectLayer(choice({ congested: true })), h);
    assert.equal(selectLayer(choice({ congested: true, maxHeight: 180 })), q);
  });

  it('going up for bandwidth waits after a switch; a bigger tile does not', () => {
    const recent = { current: h, ceiling: f, lastLayerChangeAt: 100_000 - 1000 };
    assert.equal(selectLayer(choice(recent)), h, 'held');
    assert.equal(selectLayer(choice({ ...recent, now: 100_000 - 1000 + UPSWITCH_HOLD_MS })), f, 'after the hold');
    assert.equal(selectLayer(choice({ ...recent, maxHeightChangedAt: 100_000 - 500 })), f, 'the tile grew after the switch');
    assert.equal(selectLayer(choice({ current: h, lastLayerChangeAt: 100_000 - 1000 })), f, 'no budget limit: the tile decides');
    assert.equal(selectLayer(choice({ ...recent, ceiling: q })), q, 'going down is never held');
  });

  it('layers of unknown size rank by rid, below known sizes', () => {
    const uq = { rid: 'q', height: 0, bitrateBps: 0 };
    const uf = { rid: 'f', height: 0, bitrateBps: 0 };
    assert.ok(layerRank(uq) < layerRank(uf));
    assert.ok(layerRank(uf) < layerRank(q));
    assert.equal(selectLayer(choice({ live: [uf, uq] })), uf);
  });

  it('always one of the live layers, and never above the tile choice (property)', () => {
    const layer: fc.Arbitrary<LayerView> = fc.record({
      height: fc.integer({ min: 0, max: 2160 }),
      bitrateBps: fc.integer({ min: 0, max: 5_000_000 }),
      rid: fc.constantFrom('q', 'h', 'f'),
    });
    fc.assert(
      fc.property(
        fc.array(layer, { minLength: 1, maxLength: 4 }),
        fc.option(layer, { nil: undefined }),
        fc.integer({ min: 1, max: 3000 }),
        fc.boolean(),
        (live, ceiling, maxHeight, congested) => {
          const picked = selectLayer(choice({ live, ceiling, maxHeight, congested }));
          assert.ok(picked && live.includes(picked));
          const tile = selectLayer(choice({ live, maxHeight }))!;
          assert.ok(layerRank(picked) <= layerRank(tile));
          if (ceiling)
            assert.ok(layerRank(picked) <= layerRank(ceiling) || picked === [...live].sort((a, b) => layerRank(a) - layerRank(b))[0], 'under the ceiling, or the lowest');
        },
      ),
    );
  });
});
