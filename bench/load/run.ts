/**
 * `npm run bench`: forwarding load, the naive werift path and facecast's path
 * side by side in one run, every figure also a ratio.
 *
 * Each run: a fresh SFU process (bench/load/server.ts), a generator process
 * (bench/load/generator.ts) that connects the peers, warms up, then marks a
 * measured window. The SFU's CPU time (utime + stime from /proc/PID/stat of the
 * server process only) and its packet counters (/api/state) are read at the
 * window's edges; RSS from /proc/PID/status. Everything on 127.0.0.1; every run
 * is bounded in time (a generator that overruns is killed).
 *
 * Scenarios: echo (N peers, each its own echo), fanout (1 -> 50), room (10
 * participants, each receiving the 9 others), sweep (fan-out 1 -> 50 at rising
 * bitrate until loss > 1%: saturation).
 *
 * hostile: fan-out 1 -> 10 at 4 Mbps (~400 pkts/s), alternately without and with one more
 * viewer that NACKs its last 500 packets every 10 ms: the server's CPU, the healthy viewers'
 * loss, and the retransmissions the hostile one got per packet forwarded to it.
 *
 * saturation: fan-out 1 -> 50 viewers that NACK their gaps; rising bitrate to saturation, then
 * past it (1.5x, 2x) and with 10 viewers losing 10% on their path: delivered packets against the
 * saturation figure, retransmissions against forwarded packets.
 *
 * workers: saturation with 1 and then 2 room worker threads (10 echo calls, rising bitrate,
 * nothing pinned), and the ratio.
 *
 * cluster: bench/cluster.ts (one WHIP publisher to 150 WHEP viewers on three nodes; not in the default list).
 *
 * Usage: npm run bench [-- --scenarios echo,fanout,room,sweep,hostile,saturation,workers,cluster] [--duration S]
 *        [--warmup S] [--modes naive,fast] [--json FILE] [--no-record] [--smoke]
 * Results: JSON on stdout (and --json FILE); a markdown table appended to
 * docs/BENCHMARKS.md unless --no-record.
 *
 * (Over 400 lines on purpose: the one runner of every load scenario and its report; the
 *  SFU and the peers are in server.ts and generator.ts.)
 */
import { spawn, spawnSync, execSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { GeneratorArgs, GeneratorResult } from './generator.js';
import { markdown, medians, type Mode, type RunReport, ratios, round } from './report.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLK_TCK = Number(execSync('getconf CLK_TCK').toString().trim()) || 100;

/**
 * With two or more cores and taskset, the SFU runs on core 0 and the generator on
 * core 1 (taskset execs: the PID is the node process's), so they do not trade a
 * core back and forth mid-run. BENCH_PIN=0 turns it off.
 */
const PIN = (() => {
  if (process.env.BENCH_PIN === '0' || os.cpus().length < 2) return false;
  try {
    execSync('taskset -c 0 true', { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
function pinned(core: number, args: string[], pin = PIN): [string, string[]] {
  return pin ? ['taskset', ['-c', String(core), process.execPath, ...args]] : [process.execPath, args];
}

type Scenario = 'echo' | 'fanout' | 'room' | 'sweep' | 'hostile' | 'saturation' | 'workers';
/** Room worker threads and pinning of one run (the `workers` scenario: unpinned, 1 or 2 workers). */
interface SfuOptions {
  workers: number;
  pin: boolean;
}
const DEFAULT_SFU: SfuOptions = { workers: 0, pin: PIN };

/** User and system CPU seconds of a process (/proc/PID/stat fields 14 and 15). */
function cpuTimes(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is state (field 3): utime is field 14, stime field 15
  return { user: Number(fields[11]) / CLK_TCK, sys: Number(fields[12]) / CLK_TCK };
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function lines(child: ChildProcess, onLine: (obj: Record<string, unknown>) => void): void {
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      onLine(JSON.parse(line) as Record<string, unknown>);
    } catch {
      process.stderr.write(`${line}\n`);
    }
  });
}

async function startSfu(mode: Mode, sfu: SfuOptions): Promise<{ child: ChildProcess; url: string }> {
  // BENCH_CPU_PROF=DIR: a V8 CPU profile of each SFU process (node --cpu-prof) lands in DIR.
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
  const [cmd, args] = pinned(0, [...prof, '--import', 'tsx', 'bench/load/server.ts', mode, String(sfu.workers)], sfu.pin);
  const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('SFU did not start in 20 s')), 20_000);
    lines(child, (o) => {
      if (typeof o.url === 'string') {
        clearTimeout(t);
        resolve(o.url);
      }
    });
    child.once('exit', (code) => reject(new Error(`SFU exited (${code})`)));
  });
  return { child, url };
}

async function sfuCounters(url: string): Promise<{ in: number; out: number; rtx: number; refused: number }> {
  const state = (await (await fetch(`${url}/api/state`)).json()) as {
    peers: { packetsIn: number; packetsOut: number; retransmissions: number; retransmissionsRefused?: number }[];
  };
  return {
    in: state.peers.reduce((s, p) => s + p.packetsIn, 0),
    out: state.peers.reduce((s, p) => s + p.packetsOut, 0),
    rtx: state.peers.reduce((s, p) => s + p.retransmissions, 0),
    refused: state.peers.reduce((s, p) => s + (p.retransmissionsRefused ?? 0), 0),
  };
}

async function runOnce(scenario: string, mode: Mode, gen: Omit<GeneratorArgs, 'url'>, sfuOptions: SfuOptions = DEFAULT_SFU): Promise<RunReport> {
  const { child: sfu, url } = await startSfu(mode, sfuOptions);
  const pid = sfu.pid!;
  try {
    await new Promise((r) => setTimeout(r, 300));
    const rssIdle = rssMiB(pid);
    const args: GeneratorArgs = { ...gen, url };
    const [cmd, argv] = pinned(1, ['--import', 'tsx', 'bench/load/generator.ts', JSON.stringify(args)], sfuOptions.pin);
    const generator = spawn(cmd, argv, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const limitMs = (gen.warmupS + gen.durationS) * 1000 + 90_000;
    let cpu0 = { user: 0, sys: 0 },
      t0 = 0,
      c0 = { in: 0, out: 0, rtx: 0, refused: 0 };
    let cpu1 = { user: 0, sys: 0 },
      t1 = 0,
      c1 = { in: 0, out: 0, rtx: 0, refused: 0 },
      rss = 0;
    const pending: Promise<void>[] = [];
    const result = await new Promise<GeneratorResult>((resolve, reject) => {
      const kill = setTimeout(() => {
        generator.kill('SIGKILL');
        reject(new Error(`generator overran ${limitMs} ms`));
      }, limitMs);
      lines(generator, (o) => {
        if (o.phase === 'start') {
          cpu0 = cpuTimes(pid);
          t0 = performance.now();
          pending.push(sfuCounters(url).then((c) => void (c0 = c)));
        } else if (o.phase === 'end') {
          cpu1 = cpuTimes(pid);
          t1 = performance.now();
          rss = rssMiB(pid);
          pending.push(sfuCounters(url).then((c) => void (c1 = c)));
        } else if (o.result) {
          clearTimeout(kill);
          resolve(o.result as GeneratorResult);
        }
      });
      generator.once('exit', (code) => {
        clearTimeout(kill);
        reject(new Error(`generator exited (${code}) without a result`));
      });
    });
    await Promise.all(pending);
    const seconds = (t1 - t0) / 1000;
    const cpu = cpu1.user + cpu1.sys - cpu0.user - cpu0.sys;
    const sys = cpu1.sys - cpu0.sys;
    const forwarded = c1.out - c0.out;
    const subscribers = gen.scenario === 'fanout' ? gen.subscribers : gen.scenario === 'room' ? gen.publishers * (gen.publishers - 1) : gen.publishers;
    return {
      scenario,
      mode,
      bitrateBps: gen.bitrateBps,
      publishers: gen.scenario === 'fanout' ? 1 : gen.publishers,
      subscribers,
      durationS: round(seconds, 2),
      packetsInPerS: round((c1.in - c0.in) / seconds, 0),
      packetsOutPerS: round(forwarded / seconds, 0),
      serverCpuS: round(cpu, 2),
      serverCpuPct: round((cpu / seconds) * 100, 1),
      serverSysShare: round(cpu > 0 ? sys / cpu : NaN, 2),
      cpuMsPer1000Forwarded: round(forwarded > 0 ? (cpu * 1e6) / forwarded : NaN, 2),
      forwardedPerCpuS: round(cpu > 0 ? forwarded / cpu : NaN, 0),
      latencyMs: { p50: round(result.latencyMs.p50, 2), p99: round(result.latencyMs.p99, 2), max: round(result.latencyMs.max, 2) },
      latencySamples: result.latencySamples,
      loss: round(result.packetsExpected > 0 ? Math.max(0, 1 - result.packetsDelivered / result.packetsExpected) : NaN, 4),
      deliveredPerS: round(result.packetsDelivered / seconds, 0),
      nacksPerS: round(result.nacksSent / seconds, 0),
      rtxShare: round(forwarded > 0 ? (c1.rtx - c0.rtx) / forwarded : NaN, 4),
      rssIdleMiB: round(rssIdle, 1),
      rssMiB: round(rss, 1),
      rssPerSubscriberMiB: round((rss - rssIdle) / Math.max(1, subscribers), 3),
      retransmitsPerS: round((c1.rtx - c0.rtx) / seconds, 0),
      refusedPerS: round((c1.refused - c0.refused) / seconds, 0),
      ...(gen.hostile ? { hostileNacksPerS: round(result.hostileNacks / seconds, 0) } : {}),
    };
  } finally {
    // SIGTERM: the server closes and exits (and writes its profile); SIGKILL if it lingers.
    sfu.kill('SIGTERM');
    const exited = new Promise((r) => sfu.once('exit', r));
    const t = setTimeout(() => sfu.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenarios: { type: 'string', default: 'echo,fanout,room,sweep,hostile,saturation,workers' },
      modes: { type: 'string', default: 'naive,fast' },
      duration: { type: 'string', default: '6' },
      warmup: { type: 'string', default: '3' },
      json: { type: 'string' },
      'no-record': { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
      repeat: { type: 'string', default: '3' },
    },
  });
  const smoke = values.smoke;
  let scenarios = (smoke ? 'echo,fanout' : values.scenarios).split(',') as Scenario[];
  // `cluster` is bench/cluster.ts (three node processes and a redis-server), run as it is.
  if ((scenarios as string[]).includes('cluster')) {
    scenarios = scenarios.filter((s) => (s as string) !== 'cluster');
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/cluster.ts', ...(values['no-record'] ? ['--no-record'] : [])], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`bench/cluster.ts exited ${r.status}`);
    if (scenarios.length === 0) return;
  }
  const modes = values.modes.split(',') as Mode[];
  const durationS = smoke ? 1 : Number(values.duration);
  const warmupS = smoke ? 1 : Number(values.warmup);
  const base = { warmupS, durationS, sampleEvery: 4 };
  const repeat = smoke ? 1 : Math.max(1, Number(values.repeat));
  const runs: RunReport[] = [];
  const log = (r: RunReport) =>
    process.stderr.write(
      `${r.scenario.padEnd(14)} ${r.mode.padEnd(5)} in ${r.packetsInPerS}/s out ${r.packetsOutPerS}/s  cpu ${r.serverCpuPct}%  ` +
        `${r.forwardedPerCpuS} fwd/cpu-s  p50 ${r.latencyMs.p50} p99 ${r.latencyMs.p99} ms  loss ${(r.loss * 100).toFixed(2)}%  rss/sub ${r.rssPerSubscriberMiB} MiB\n`,
    );
  const saturation: { workers: number; packetsOutPerS: number; perPublisherMbps: number }[] = [];
  /** The saturation scenario: its saturation run, then the median run of each case past it. */
  const pastSaturation: { label: string; run: RunReport }[] = [];
  for (const scenario of scenarios) {
    if (scenario === 'workers') {
      // Saturation with 1 and 2 room workers: 10 echo calls (10 private rooms, spread over the
      // workers) at rising bitrates until loss > 1%. Nothing pinned: the SFU's threads and the
      // generator share both cores (on a 2-core machine the generator takes its share too).
      for (const workers of [1, 2]) {
        let best = { workers, packetsOutPerS: 0, perPublisherMbps: 0 };
        for (const mbps of [8, 16, 24, 32, 40, 48, 64]) {
          const r = await runOnce(
            `workers ${workers} echo ${mbps} Mbps`,
            'fast',
            { ...base, durationS: Math.min(durationS, 5), scenario: 'echo', publishers: 10, subscribers: 1, bitrateBps: mbps * 1e6 },
            { workers, pin: false },
          );
          runs.push(r);
          log(r);
          if (r.loss > 0.01) break;
          if (r.packetsOutPerS > best.packetsOutPerS) best = { workers, packetsOutPerS: r.packetsOutPerS, perPublisherMbps: mbps };
        }
        saturation.push(best);
        process.stderr.write(`saturation with ${workers} worker(s): ${best.packetsOutPerS} pkts/s out (10 x ${best.perPublisherMbps} Mbps, loss <= 1%)\n`);
      }
      continue;
    }
    if (scenario === 'hostile') {
      // Without and with the hostile viewer, alternating; loss is the 10 healthy viewers'.
      for (let rep = 0; rep < repeat; rep++)
        for (const hostile of [0, 1]) {
          const r = await runOnce(`hostile ${hostile}`, 'fast', {
            ...base,
            scenario: 'fanout',
            publishers: 1,
            subscribers: smoke ? 3 : 10,
            bitrateBps: smoke ? 1e6 : 4e6,
            hostile,
          });
          runs.push(r);
          log(r);
        }
      continue;
    }
    if (scenario === 'saturation') {
      // Past saturation: fan-out 1 -> 50 viewers that NACK their gaps as libwebrtc does. The
      // bitrate rises until loss > 1%; the best step below that is the saturation figure. Then
      // 1.5x and 2x that bitrate (viewers that cannot keep up), and the saturation bitrate with
      // 10 of the 50 viewers losing 10% on their path.
      const viewers = smoke ? 5 : 50;
      const at = (label: string, mbps: number, lossy?: GeneratorArgs['lossy']) =>
        runOnce(`saturation ${label}`, 'fast', {
          ...base,
          durationS: Math.min(durationS, 5),
          scenario: 'fanout',
          publishers: 1,
          subscribers: viewers,
          bitrateBps: mbps * 1e6,
          nack: true,
          ...(lossy ? { lossy } : {}),
        });
      let best: RunReport | undefined;
      for (const mbps of [2, 4, 6, 8, 10, 12, 16, 24]) {
        const r = await at(`ramp ${mbps} Mbps`, mbps);
        runs.push(r);
        log(r);
        if (r.loss > 0.01) break;
        best = r;
      }
      if (!best) throw new Error('saturation: loss > 1% at the lowest bitrate');
      const mbps = best.bitrateBps / 1e6;
      pastSaturation.push({ label: `saturation (${mbps} Mbps, loss <= 1%)`, run: best });
      const past: [string, number, GeneratorArgs['lossy']][] = [
        [`1.5x (${mbps * 1.5} Mbps)`, mbps * 1.5, undefined],
        [`2x (${mbps * 2} Mbps)`, mbps * 2, undefined],
        [`${mbps} Mbps, 10 viewers lose 10%`, mbps, { count: smoke ? 1 : 10, rate: 0.1 }],
      ];
      for (const [label, m, lossy] of past) {
        const reps: RunReport[] = [];
        for (let rep = 0; rep < repeat; rep++) {
          const r = await at(label, m, lossy);
          runs.push(r);
          reps.push(r);
          log(r);
        }
        pastSaturation.push({ label, run: reps.sort((a, b) => a.deliveredPerS - b.deliveredPerS)[Math.floor((reps.length - 1) / 2)]! });
      }
      continue;
    }
    if (scenario === 'sweep') {
      for (const mode of modes) {
        for (const mbps of [1, 2, 4, 8, 12, 16, 24, 32]) {
          const r = await runOnce(`sweep ${mbps} Mbps`, mode, {
            ...base,
            durationS: Math.min(durationS, 5),
            scenario: 'fanout',
            publishers: 1,
            subscribers: 50,
            bitrateBps: mbps * 1e6,
          });
          runs.push(r);
          log(r);
          if (r.loss > 0.01 || r.serverCpuPct > 97) break;
        }
      }
      continue;
    }
    // Modes alternate (naive, fast, naive, fast, ...) so drift on a noisy machine hits both alike.
    for (let rep = 0; rep < repeat; rep++)
      for (const mode of modes) {
        const gen: Omit<GeneratorArgs, 'url'> =
          scenario === 'echo'
            ? { ...base, scenario, publishers: smoke ? 1 : 10, subscribers: 1, bitrateBps: smoke ? 1e6 : 8e6 }
            : scenario === 'fanout'
              ? { ...base, scenario, publishers: 1, subscribers: smoke ? 5 : 50, bitrateBps: smoke ? 1e6 : 4e6 }
              : { ...base, scenario: 'room', publishers: 10, subscribers: 9, bitrateBps: 1.5e6 };
        const r = await runOnce(scenario, mode, gen);
        runs.push(r);
        log(r);
      }
  }
  const commit = (() => {
    try {
      return execSync('git rev-parse --short HEAD', { cwd: root }).toString().trim();
    } catch {
      return 'unknown';
    }
  })();
  const report = {
    date: new Date().toISOString(),
    commit,
    machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}${PIN ? ', SFU pinned to core 0, generator to core 1' : ''}`,
    repeat,
    runs,
    medians: medians(runs),
    ratios: ratios(medians(runs)),
    saturation,
    pastSaturation,
    workersRatio: saturation.length === 2 && saturation[0]!.packetsOutPerS > 0 ? round(saturation[1]!.packetsOutPerS / saturation[0]!.packetsOutPerS, 2) : undefined,
  };
  const json = JSON.stringify(report, null, 2);
  process.stdout.write(json + '\n');
  if (values.json) writeFileSync(values.json, json + '\n');
  if (!values['no-record'] && !smoke) appendFileSync(path.join(root, 'docs/BENCHMARKS.md'), markdown(report));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
