import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { allocate, HOLD_SLACK, PAUSE_SLACK, UNMEASURED_LAYER_BPS, type VideoDemand } from '../../src/sfu/subscriptions/allocator.js';
import { ESTIMATE_USE, type LayerView } from '../../src/sfu/subscriptions/layer-selector.js';

const layers = (name: string): LayerView[] =>
  [
    { rid: 'q', height: 180, bitrateBps: 150_000 },
    { rid: 'h', height: 360, bitrateBps: 500_000 },
    { rid: 'f', height: 720, bitrateBps: 1_500_000 },
  ].map((l) => ({ ...l, rid: `${name}${l.rid}` }));

const video = (key: string, tileHeight = Infinity, live = layers(key), current?: LayerView, paused = false): VideoDemand<LayerView> => ({ key, live, tileHeight, current, paused });
/** An estimate whose usable part (ESTIMATE_USE) is `bps`. */
const usable = (bps: number) => bps / ESTIMATE_USE;

describe('bandwidth allocator (pure)', () => {
  it('without an estimate: every video gets the layer its tile needs', () => {
    const a = video('a', 300);
    const b = video('b');
    const out = allocate({ estimateBps: null, audioBps: 0, videos: [a, b] });
    assert.equal(out.get('a')?.rid, 'ah');
    assert.equal(out.get('b')?.rid, 'bf');
  });

  it('one estimate for all: two videos that fit one top layer do not both get it', () => {
    const out = allocate({ estimateBps: usable(1_700_000), audioBps: 0, videos: [video('a', 720), video('b', 360)] });
    // Lowest layers first (150k each), then the larger tile as far as it needs (a to f: 1.35M more
    // of the 1.4M left); what is left (50k) does not take b up.
    assert.equal(out.get('a')?.rid, 'af');
    assert.equal(out.get('b')?.rid, 'bq');
    const each = allocate({ estimateBps: usable(1_700_000), audioBps: 0, videos: [video('a', 720)] });
    assert.equal(each.get('a')?.rid, 'af', 'alone, the same estimate is enough for the top layer');
  });

  it('audio first, then the lowest layer of every video before any goes higher', () => {
    const out = allocate({ estimateBps: usable(400_000), audioBps: 64_000, videos: [video('a', 720), video('b', 720)] });
    assert.equal(out.get('a')?.rid, 'aq');
    assert.equal(out.get('b')?.rid, 'bq', 'b gets its lowest layer even though a could have gone to h');
  });

  it('a video whose lowest layer does not fit is paused: the smaller tile first', () => {
    const out = allocate({ estimateBps: usable(200_000), audioBps: 0, congested: true, videos: [video('small', 180), video('big', 720)] });
    assert.equal(out.get('big')?.rid, 'bigq');
    assert.equal(out.get('small'), null, 'what is left (50k) is under half its lowest layer (75k)');
    const none = allocate({ estimateBps: usable(70_000), audioBps: 0, congested: true, videos: [video('a')] });
    assert.equal(none.get('a'), null, 'not even half the lowest layer fits');
  });

  it('slow to pause, quick to resume: a forwarded video keeps its lowest layer down to half of it; a paused one needs all of it', () => {
    const at = (bps: number, paused: boolean) =>
      allocate({ estimateBps: usable(bps), audioBps: 0, congested: true, videos: [video('a', 720, layers('a'), undefined, paused)] }).get('a');
    assert.equal(at(150_000 / PAUSE_SLACK, false)?.rid, 'aq', 'an estimate that follows what flows (REMB) does not pause it');
    assert.equal(at(150_000 / PAUSE_SLACK - 1, false), null);
    assert.equal(at(149_999, true), null, 'paused: stays paused until the whole lowest layer fits');
    assert.equal(at(150_000, true)?.rid, 'aq');
  });

  it('the layer forwarded now keeps its place within the slack (a keyframe spike does not flap it)', () => {
    const live = layers('a');
    const f = live[2]!;
    const spiking = { ...f, bitrateBps: 1_500_000 * 1.1 };
    const liveSpiking = [live[0]!, live[1]!, spiking];
    const budget = usable(1_550_000);
    assert.equal(allocate({ estimateBps: budget, audioBps: 0, congested: true, videos: [video('a', 720, liveSpiking, spiking)] }).get('a')?.rid, 'af', 'kept');
    assert.equal(
      allocate({ estimateBps: budget, audioBps: 0, congested: true, videos: [video('a', 720, liveSpiking, live[1])] }).get('a')?.rid,
      'ah',
      'not taken up at that price',
    );
    const over = { ...f, bitrateBps: 1_550_000 * HOLD_SLACK + 10_000 };
    assert.equal(
      allocate({ estimateBps: budget, audioBps: 0, congested: true, videos: [video('a', 720, [live[0]!, live[1]!, over], over)] }).get('a')?.rid,
      'ah',
      'past the slack it goes down',
    );
  });

  it('an estimate that is not below what is sent (REMB follows what arrives) pauses and lowers nothing; it can still raise', () => {
    const a = layers('a');
    const calm = (bps: number, current: LayerView | undefined, paused = false) =>
      allocate({ estimateBps: usable(bps), audioBps: 0, congested: false, videos: [video('a', 720, a, current, paused)] }).get('a');
    assert.equal(calm(10_000, a[2])?.rid, 'af', 'after an outage the estimate is near zero: f stays');
    assert.equal(calm(10_000, a[1])?.rid, 'ah');
    assert.equal(calm(10_000, undefined)?.rid, 'aq', 'a new video gets its lowest layer, not a pause');
    assert.equal(calm(10_000, undefined, true), null, 'a paused one still waits until it fits');
    assert.equal(calm(5_000_000, a[0])?.rid, 'af', 'raised as far as the tile needs');
  });

  it('an unmeasured layer (just started) is priced at 150 kbps; a video with nothing live gets no decision', () => {
    const fresh = [{ rid: 'q', height: 0, bitrateBps: 0 }];
    assert.equal(allocate({ estimateBps: usable(UNMEASURED_LAYER_BPS), audioBps: 0, videos: [video('a', 720, fresh)] }).get('a')?.rid, 'q');
    assert.equal(allocate({ estimateBps: usable(UNMEASURED_LAYER_BPS - 1), audioBps: 0, videos: [video('a', 720, fresh, undefined, true)] }).get('a'), null);
    assert.equal(allocate({ estimateBps: usable(1e6), audioBps: 0, videos: [video('a', 720, [])] }).has('a'), false);
  });

  it('property: what is given fits the estimate (or is one current layer within its slack), never above the tile, and does not depend on the order', () => {
    const layer = fc.record({ height: fc.integer({ min: 1, max: 2160 }), bitrateBps: fc.integer({ min: 1, max: 3_000_000 }) });
    const demand = fc.record({
      live: fc.array(layer, { minLength: 1, maxLength: 3 }),
      tileHeight: fc.integer({ min: 1, max: 2160 }),
      keepCurrent: fc.boolean(),
      paused: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.array(demand, { maxLength: 5 }),
        fc.integer({ min: 0, max: 8_000_000 }),
        fc.integer({ min: 0, max: 200_000 }),
        fc.boolean(),
        (ds, estimate, audio, congested) => {
          const videos = ds.map((d, i) => {
            const live = d.live.map((l, j) => ({ ...l, rid: `${i}-${j}` }));
            return video(`v${i}`, d.tileHeight, live, d.keepCurrent && !d.paused ? live[0] : undefined, d.paused);
          });
          const out = allocate({ estimateBps: estimate, audioBps: audio, videos, congested });
          const budget = estimate * ESTIMATE_USE - audio;
          let lowest = 0;
          let above = 0;
          let slack = 0;
          for (const v of videos) {
            const got = out.get(v.key);
            assert.ok(got === null || v.live.includes(got!));
            if (!got) continue;
            const low = [...v.live].sort((a, b) => a.height - b.height)[0]!;
            lowest += low.bitrateBps;
            above += got.bitrateBps - low.bitrateBps;
            if (got === v.current || low === v.current) slack += got.bitrateBps;
            else if (!congested && v.current && v.current.height >= got.height) slack += got.bitrateBps; // not congested: kept up to what it had
            if (v.paused) assert.ok(low.bitrateBps <= budget + 1e-6, 'a paused video resumes only when its lowest layer fits whole');
            const tile = [...v.live].sort((a, b) => a.height - b.height).find((l) => l.height >= v.tileHeight) ?? [...v.live].sort((a, b) => b.height - a.height)[0]!;
            assert.ok(got.height <= tile.height, 'never above what the tile needs');
          }
          // Above the lowest layers, nothing is given that the estimate does not cover (the current layer's hysteresis aside).
          assert.ok(above <= Math.max(0, budget - lowest) + slack + 1e-6, `${above} above the lowest layers, ${budget - lowest} left for that`);
          const reversed = allocate({ estimateBps: estimate, audioBps: audio, videos: [...videos].reverse(), congested });
          for (const v of videos) assert.equal(reversed.get(v.key), out.get(v.key));
        },
      ),
    );
  });
});
