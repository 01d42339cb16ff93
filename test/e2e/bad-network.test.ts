/**
 * Video over a bad network, the short CI version of `npm run bench:net`: two room
 * pages in headless Chromium (tx publishes the fake face camera, rx receives it),
 * both with `?relay=1`, so every packet between them and the SFU crosses a TURN
 * relay on 127.0.0.1 that impairs it (bench/net/relay.ts; this kernel has no netem).
 * 5% random loss each way for 8 s: rx keeps decoding with no freeze over 1 s, and
 * the SFU answers rx's NACKs with retransmissions. Then a 3 s outage (everything
 * dropped): video resumes within 2 s after it ends (the SFU asks tx for a keyframe
 * as soon as tx's packets come back; the measured time is logged).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { recoveryMs, resumedMs, startNetSession, type NetSession } from '../../bench/net/harness.js';
import { NO_IMPAIRMENT } from '../../bench/net/relay.js';
import { ensureFaceY4m } from '../helpers/face-fixture.js';
import { waitFor } from '../helpers/server.js';

const LOSS_MS = 8_000;
const OUTAGE_MS = 3_000;
const RECOVERY_BOUND_MS = 2_000;
/** No freeze longer than this at 5% loss (the issue's target). */
const FREEZE_BOUND_MS = 1_000;

describe('video through the SFU over a lossy relay, then an outage, in headless Chromium', () => {
  let session: NetSession | undefined;
  before(async () => {
    const fixture = await ensureFaceY4m();
    session = await startNetSession({ y4m: fixture.path, room: 'badnet', log: (l) => console.log(`# ${l}`) });
  });
  after(async () => {
    await session?.close();
  });

  it('keeps decoding at 5% loss (no freeze over 1 s) with NACKs answered by retransmissions, and resumes within 2 s of a 3 s outage', async () => {
    const s = session!;
    s.relay.setImpairment({ ...NO_IMPAIRMENT, lossPct: 5 });
    const m = await s.mark();
    await new Promise((r) => setTimeout(r, LOSS_MS));
    const loss = await s.since(m);
    console.log(`# 5% loss, ${LOSS_MS / 1000} s: ${JSON.stringify(loss)}`);
    assert.ok(loss.relay.up.droppedLoss > 0 && loss.relay.down.droppedLoss > 0, 'the relay dropped packets both ways');
    assert.ok(loss.framesDecoded >= 30, `rx decoded ${loss.framesDecoded} frames in ${LOSS_MS / 1000} s at 5% loss`);
    assert.ok(loss.nackCount > 0, 'rx sent NACKs');
    assert.ok(loss.longestGapMs <= FREEZE_BOUND_MS, `longest time without a decoded frame at 5% loss: ${loss.longestGapMs} ms`);
    assert.ok(loss.sfu.subRetransmissions > 0, `the SFU retransmitted to rx (NACKs in ${loss.sfu.subNacks}, misses ${loss.sfu.subNackMisses})`);

    s.relay.setImpairment(NO_IMPAIRMENT);
    const end = s.relay.startOutage(OUTAGE_MS);
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    // Resumed = a newly decoded frame followed by 10 more within 1 s (a lone stale frame that
    // completes when NACKs get through again does not count). Waited for up to the bound + 1 s
    // (+ 1 s for the run of 10 frames), so a slower recovery fails on the number, not the wait.
    const resumed = await waitFor(async () => resumedMs(await s.frameTimes(), end), RECOVERY_BOUND_MS + 2_000, 'rx to resume decoding after the outage').catch(
      async (err: Error) => {
        throw new Error(
          `${err.message}: first new frame after ${recoveryMs(await s.frameTimes(), end)} ms, rx ${JSON.stringify(await s.inbound())}, relay ${JSON.stringify(s.relay.stats)}, SFU ${JSON.stringify(
            ((await (await fetch(`${s.url}/api/state`)).json()) as { peers: { name: string; tracks: unknown[]; subscriptions: unknown[] }[] }).peers.map((p) => ({
              name: p.name,
              tracks: p.tracks,
              subscriptions: p.subscriptions,
            })),
          )}`,
        );
      },
    );
    const first = recoveryMs(await s.frameTimes(), end);
    const total = await s.since(m);
    const pli = (await s.pliTimes()).find((x) => x.t > end - OUTAGE_MS);
    console.log(
      `# after a ${OUTAGE_MS / 1000} s outage: first new frame ${first} ms, video resumed ${resumed} ms (target 2000 ms); ` +
        `PLIs rx sent ${total.pliCount} (the first since the outage began seen at ${pli ? pli.t - end : '-'} ms), keyframe requests the SFU sent tx ${total.sfu.keyframeRequestsSent}`,
    );
    assert.ok(s.relay.stats.down.droppedOutage > 0 && s.relay.stats.up.droppedOutage > 0, 'the outage dropped packets both ways');
    assert.ok(resumed <= RECOVERY_BOUND_MS, `video resumed ${resumed} ms after the outage (bound ${RECOVERY_BOUND_MS} ms)`);
  });
});
