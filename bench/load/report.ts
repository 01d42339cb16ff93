/**
 * The load benchmark's report: one row per run, medians of repeated runs, fast ÷ naive
 * ratios, and the markdown appended to docs/BENCHMARKS.md.
 */
export type Mode = 'naive' | 'fast';

export interface RunReport {
  scenario: string;
  mode: Mode;
  bitrateBps: number;
  publishers: number;
  subscribers: number;
  durationS: number;
  packetsInPerS: number;
  packetsOutPerS: number;
  serverCpuS: number;
  /** Server CPU share of one core during the window. */
  serverCpuPct: number;
  /** Share of the server's CPU time spent in the kernel (sendto/recvfrom). */
  serverSysShare: number;
  cpuMsPer1000Forwarded: number;
  forwardedPerCpuS: number;
  latencyMs: { p50: number; p99: number; max: number };
  latencySamples: number;
  loss: number;
  rssIdleMiB: number;
  rssMiB: number;
  rssPerSubscriberMiB: number;
  /** Packets the SFU retransmitted per second (NACK answers), and refused. */
  retransmitsPerS: number;
  refusedPerS: number;
  /** hostile: NACK messages per second from the hostile viewer. */
  hostileNacksPerS?: number;
  /** Distinct packets the receivers got per second (a retransmitted packet counts once). */
  deliveredPerS: number;
  /** NACK messages per second from the (NACKing) receivers. */
  nacksPerS: number;
  /** Retransmitted ÷ forwarded packets. */
  rtxShare: number;
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Per scenario and mode, the run with the median forwarded packets per CPU-second. */
export function medians(runs: RunReport[]): RunReport[] {
  const groups = new Map<string, RunReport[]>();
  for (const r of runs) {
    const k = `${r.scenario}\u0000${r.mode}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()].map((g) => {
    const sorted = [...g].sort((a, b) => a.forwardedPerCpuS - b.forwardedPerCpuS);
    const mid = sorted[Math.floor((sorted.length - 1) / 2)]!;
    const p99s = g.map((r) => r.latencyMs.p99).sort((a, b) => a - b);
    return { ...mid, latencyMs: { ...mid.latencyMs, p99: p99s[Math.floor((p99s.length - 1) / 2)]! } };
  });
}

/** fast / naive for each scenario run in both modes. */
export function ratios(runs: RunReport[]): Record<string, { forwardedPerCpuS: number; latencyP99: number }> {
  const out: Record<string, { forwardedPerCpuS: number; latencyP99: number }> = {};
  for (const fast of runs.filter((r) => r.mode === 'fast')) {
    const naive = runs.find((r) => r.mode === 'naive' && r.scenario === fast.scenario);
    if (!naive) continue;
    out[fast.scenario] = {
      forwardedPerCpuS: round(fast.forwardedPerCpuS / naive.forwardedPerCpuS, 2),
      latencyP99: round(fast.latencyMs.p99 / naive.latencyMs.p99, 2),
    };
  }
  return out;
}

export function markdown(report: {
  date: string;
  commit: string;
  machine: string;
  repeat: number;
  medians: RunReport[];
  ratios: ReturnType<typeof ratios>;
  saturation: { workers: number; packetsOutPerS: number; perPublisherMbps: number }[];
  pastSaturation: { label: string; run: RunReport }[];
  workersRatio: number | undefined;
}): string {
  const sat = report.pastSaturation[0]?.run;
  const pastRows = sat
    ? [
        '| fan-out 1 -> 50, NACKing viewers | delivered pkts/s | ÷ saturation | loss | retransmitted ÷ forwarded | refused / s | NACKs / s | server CPU |',
        '|---|---|---|---|---|---|---|---|',
        ...report.pastSaturation.map(
          ({ label, run: r }) =>
            `| ${label} | ${r.deliveredPerS} | ${round(r.deliveredPerS / sat.deliveredPerS, 2)} | ${(r.loss * 100).toFixed(2)}% | ${(r.rtxShare * 100).toFixed(2)}% | ${r.refusedPerS} | ${r.nacksPerS} | ${r.serverCpuPct}% |`,
        ),
        '',
        'Targets: past saturation, delivered >= 0.9 of the saturation figure; retransmitted <= 10% of forwarded.',
        '',
      ]
    : [];
  const rows = report.medians.map(
    (r) =>
      `| ${r.scenario} | ${r.mode} | ${r.packetsInPerS} | ${r.packetsOutPerS} | ${r.serverCpuPct}% (${Math.round(r.serverSysShare * 100)}% sys) | ${r.cpuMsPer1000Forwarded} | ${r.forwardedPerCpuS} | ${r.latencyMs.p50} / ${r.latencyMs.p99} / ${r.latencyMs.max} | ${(r.loss * 100).toFixed(2)}% | ${r.rssPerSubscriberMiB} |`,
  );
  const ratioRows = Object.entries(report.ratios).map(([s, x]) => `| ${s} | ${x.forwardedPerCpuS}x | ${x.latencyP99}x |`);
  const calm = report.medians.find((r) => r.scenario === 'hostile 0');
  const attacked = report.medians.find((r) => r.scenario === 'hostile 1');
  const hostileRows =
    calm && attacked
      ? [
          "| fan-out 1 -> 10, 4 Mbps | server CPU | healthy viewers' loss | retransmitted / s | refused / s | hostile NACKs / s |",
          '|---|---|---|---|---|---|',
          ...[calm, attacked].map(
            (r) =>
              `| ${r.scenario === 'hostile 0' ? 'no hostile viewer' : '+1 NACKing its last 500 packets every 10 ms'} | ${r.serverCpuPct}% | ${(r.loss * 100).toFixed(2)}% | ${r.retransmitsPerS} | ${r.refusedPerS} | ${r.hostileNacksPerS ?? 0} |`,
          ),
          '',
          `Server CPU with the hostile viewer ÷ without: ${round(attacked.serverCpuPct / calm.serverCpuPct, 2)}x; retransmissions per packet forwarded to it: ${round(attacked.retransmitsPerS / Math.max(1, (attacked.packetsOutPerS - attacked.retransmitsPerS) / (attacked.subscribers + 1)), 2)}.`,
          '',
        ]
      : [];
  return [
    '',
    `## Forwarding load, ${report.date.slice(0, 10)} (commit ${report.commit})`,
    '',
    `Machine: ${report.machine}. \`npm run bench\`; all traffic on 127.0.0.1; server CPU from /proc/PID/stat of the SFU process only. Median of ${report.repeat} interleaved runs per row (naive and fast alternating); latency p99 is the median of the runs' p99.`,
    '',
    '| scenario | path | pkts in/s | pkts out/s | server CPU | CPU ms / 1000 fwd | fwd / CPU-s | latency p50 / p99 / max ms | loss | RSS MiB / sub |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...(ratioRows.length ? ['| scenario | fwd / CPU-s, fast ÷ naive | p99, fast ÷ naive |', '|---|---|---|', ...ratioRows, ''] : []),
    ...hostileRows,
    ...pastRows,
    ...(report.saturation.length
      ? [
          '| room workers | saturation, pkts out/s (10 echo calls, loss <= 1%) |',
          '|---|---|',
          ...report.saturation.map((x) => `| ${x.workers} | ${x.packetsOutPerS} (10 x ${x.perPublisherMbps} Mbps) |`),
          '',
          `2 workers ÷ 1 worker: ${report.workersRatio ?? '-'}x (SFU and generator unpinned, sharing the machine's cores).`,
          '',
        ]
      : []),
  ].join('\n');
}
