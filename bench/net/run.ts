/**
 * `npm run bench:net`: video through facecast over a bad network, measured with
 * real Chromium receivers. For each scenario, a fresh SFU (child process), a TURN
 * relay that impairs what it relays (bench/net/relay.ts, a user-space stand-in
 * for `tc netem`, which this kernel lacks) and two headless Chromiums with a room
 * page each, tx and rx, both `?relay=1` (every packet to and from the SFU, both
 * ways, crosses the relay). After rx decodes tx and a warm-up, the impairment is
 * switched on for `--seconds`; rx's inbound-rtp video (getStats every 50 ms) and
 * the SFU's /api/state give decoded fps, freezes, the longest gap between decoded
 * frames, NACKs, retransmissions and PLIs. The outage scenario drops everything
 * for 3 s in the middle of the window and measures the time from the end of the
 * outage to rx's first newly decoded frame, and to video resumed (that frame
 * followed by 10 more within 1 s).
 *
 * Options: --seconds N (default 20), --warmup N (default 5), --only NAME[,NAME], --runs N (each
 *          scenario N times, default 1; freezes under loss come and go, see docs/BENCHMARKS.md),
 *          --outage-ms N (the outage scenario's outage, default 3000), --no-record (do not
 *          append to docs/BENCHMARKS.md)
 * All traffic on 127.0.0.1 (run via scripts/in-netns.mjs).
 */
import { execSync } from 'node:child_process';
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { ensureFaceY4m } from '../../test/helpers/face-fixture.js';
import { recoveryMs, resumedMs, startNetSession, type Window } from './harness.js';
import { NO_IMPAIRMENT, type Impairment } from './relay.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    only: { type: 'string' },
    runs: { type: 'string', default: '1' },
    'outage-ms': { type: 'string', default: '3000' },
    'no-record': { type: 'boolean' },
  },
});
const seconds = Math.max(8, Math.min(120, Number(values.seconds)));
const warmup = Math.max(0, Math.min(60, Number(values.warmup)));
const runs = Math.max(1, Math.min(10, Math.floor(Number(values.runs)) || 1));
const OUTAGE_MS = Math.max(100, Math.min(20_000, Number(values['outage-ms']) || 3000));

interface Scenario {
  name: string;
  what: string;
  impairment: Impairment;
  outage?: boolean;
}

const SCENARIOS: Scenario[] = [
  { name: 'none', what: 'no impairment (through the relay)', impairment: NO_IMPAIRMENT },
  { name: 'loss2', what: '2% random loss each way', impairment: { ...NO_IMPAIRMENT, lossPct: 2 } },
  { name: 'loss5', what: '5% random loss each way', impairment: { ...NO_IMPAIRMENT, lossPct: 5 } },
  { name: 'loss10', what: '10% random loss each way', impairment: { ...NO_IMPAIRMENT, lossPct: 10 } },
  { name: 'jitter50', what: '50 ms ± 50 ms delay each way (uniform, independent per packet: reorders)', impairment: { ...NO_IMPAIRMENT, delayMs: 50, jitterMs: 50 } },
  { name: 'reorder10', what: '10% of packets held back 20 ms (overtaken by later ones)', impairment: { ...NO_IMPAIRMENT, reorderPct: 10, reorderDelayMs: 20 } },
  { name: 'outage', what: `${OUTAGE_MS / 1000} s outage (100% loss both ways) in the middle of the window`, impairment: NO_IMPAIRMENT, outage: true },
];

interface Row {
  scenario: string;
  what: string;
  window: Window;
  /** Outage only: ms from the end of the outage to the first newly decoded frame. */
  recoveryMs: number | null;
  /** Outage only: ms from the end of the outage to the first new frame followed by 10 more within 1 s. */
  resumedMs: number | null;
  /** Outage only: when rx's first PLI since the outage began was seen, ms after the end of the outage (negative: during it). */
  pliMs: number | null;
  error?: string;
}

const log = (s: string) => console.error(`[bench:net] ${s}`);

async function runScenario(s: Scenario, y4m: string): Promise<Row> {
  log(`${s.name}: ${s.what}`);
  const session = await startNetSession({ y4m, room: `net-${s.name}`, log });
  try {
    await new Promise((r) => setTimeout(r, warmup * 1000));
    session.relay.setImpairment(s.impairment);
    const m = await session.mark();
    let recovery: number | null = null;
    let resumed: number | null = null;
    let pli: number | null = null;
    if (s.outage) {
      const before = Math.max(2, Math.floor((seconds - OUTAGE_MS / 1000) / 2));
      await new Promise((r) => setTimeout(r, before * 1000));
      const end = session.relay.startOutage(OUTAGE_MS);
      log(`${s.name}: outage until ${new Date(end).toISOString()}`);
      const rest = Math.max(0, m.t + seconds * 1000 - Date.now());
      await new Promise((r) => setTimeout(r, rest));
      const frames = await session.frameTimes();
      recovery = recoveryMs(frames, end);
      resumed = resumedMs(frames, end);
      const p = (await session.pliTimes()).find((x) => x.t > end - OUTAGE_MS);
      pli = p ? p.t - end : null;
    } else {
      await new Promise((r) => setTimeout(r, seconds * 1000));
    }
    const w = await session.since(m);
    log(
      `${s.name}: ${w.framesDecoded} frames (${w.decodedFps.toFixed(1)} fps), longest gap ${w.longestGapMs} ms, freezes ${w.freezeCount} (${w.totalFreezesDurationS.toFixed(2)} s), NACKs ${w.nackCount}, retransmissions ${w.sfu.subRetransmissions}${s.outage ? `, first new frame ${recovery} ms, resumed ${resumed} ms after the outage, rx's first PLI at ${pli} ms` : ''}`,
    );
    return { scenario: s.name, what: s.what, window: w, recoveryMs: recovery, resumedMs: resumed, pliMs: pli };
  } finally {
    await session.close();
  }
}

const only = values.only ? new Set(values.only.split(',')) : null;
const scenarios = SCENARIOS.filter((s) => !only || only.has(s.name));
if (scenarios.length === 0) throw new Error(`no scenario matches --only ${values.only}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
const fixture = await ensureFaceY4m();
const rows: Row[] = [];
for (let run = 0; run < runs; run++)
  for (const s of scenarios) {
    try {
      rows.push(await runScenario(s, fixture.path));
    } catch (err) {
      log(`${s.name} failed: ${err instanceof Error ? err.message : String(err)}`);
      rows.push({
        scenario: s.name,
        what: s.what,
        window: null as unknown as Window,
        recoveryMs: null,
        resumedMs: null,
        pliMs: null,
        error: err instanceof Error ? err.message.slice(0, 500) : String(err),
      });
    }
  }

const commit = (() => {
  try {
    return execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();
const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, load ${os.loadavg()[0]!.toFixed(1)}`;
const report = { bench: 'net', date: new Date().toISOString(), commit, machine, seconds, warmup, runs, outageMs: OUTAGE_MS, rows };
console.log(JSON.stringify(report, null, 2));

if (!values['no-record']) {
  const file = 'docs/BENCHMARKS.md';
  if (!existsSync(file)) writeFileSync(file, '# Benchmarks\n\nEvery figure here was produced by the command named above its table; runs are appended, newest last.\n');
  const f1 = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : (Math.round(v * 10) / 10).toString());
  const lines = [
    '',
    `## Bad network, headless Chromium receivers — ${report.date.slice(0, 10)}, commit ${commit}`,
    '',
    `Command: \`npm run bench:net\` (bench/net/). Two room pages (tx, rx), each in its own headless Chromium, fake camera 640x480 (a face), ` +
      `\`?detector=none&audio=0&simulcast=0&relay=1\`; every packet between them and the SFU crosses a TURN relay on 127.0.0.1 that impairs it ` +
      `(bench/net/relay.ts: the kernel here has no netem), both ways, on both legs (tx→SFU and SFU→rx). Warm-up ${warmup} s without impairment, ` +
      `then ${seconds} s measured. rx's inbound-rtp video (getStats, sampled every 50 ms); longest gap = longest time without a new decoded frame; ` +
      `NACKs/PLIs = what rx sent; retrans. = packets the SFU resent to rx from its cache; lost = rx's packetsLost after retransmission. ` +
      `Resumed = first new frame followed by 10 more within 1 s. ${runs === 1 ? 'One run' : `${runs} runs (rounds through all scenarios)`} per scenario, fresh SFU and browsers each. Machine: ${machine}.`,
    '',
    '| scenario | decoded fps | longest gap ms | freezes (total s) | NACKs rx sent | SFU retrans. to rx | NACK misses | PLIs rx sent | packets lost | relay dropped (up/down) | after outage: first new frame / resumed / first PLI from rx, ms |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => {
      if (!r.window) return `| ${r.scenario} | failed: ${(r.error ?? '').replace(/\s+/g, ' ').replace(/\|/g, '/').slice(0, 200)} | | | | | | | | | |`;
      const w = r.window;
      return `| ${r.scenario}: ${r.what} | ${f1(w.decodedFps)} | ${w.longestGapMs} | ${w.freezeCount} (${f1(w.totalFreezesDurationS)}) | ${w.nackCount} | ${w.sfu.subRetransmissions} | ${w.sfu.subNackMisses} | ${w.pliCount} | ${w.packetsLost} | ${w.relay.up.droppedLoss + w.relay.up.droppedOutage} / ${w.relay.down.droppedLoss + w.relay.down.droppedOutage} | ${r.recoveryMs === null && r.resumedMs === null ? '-' : `${r.recoveryMs ?? 'none'} / ${r.resumedMs ?? 'none'} / ${r.pliMs ?? 'none'}`} |`;
    }),
    '',
  ];
  appendFileSync(file, lines.join('\n'));
  log(`appended to ${file}`);
}
