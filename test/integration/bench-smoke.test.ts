/**
 * The load benchmark runs and produces a well-formed report (a smoke run of a few
 * seconds: echo and a 1 -> 5 fan-out, naive and fast). No speed is asserted here:
 * figures live in docs/BENCHMARKS.md (`npm run bench`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

describe('npm run bench (smoke)', () => {
  it('writes a report with both paths for echo and fan-out, every figure a finite number', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'facecast-bench-'));
    try {
      const out = path.join(dir, 'report.json');
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/load/run.ts', '--smoke', '--json', out], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, `bench exited ${r.status}: ${r.stderr}`);
      const report = JSON.parse(readFileSync(out, 'utf8')) as {
        commit: string;
        machine: string;
        runs: Record<string, unknown>[];
        medians: Record<string, unknown>[];
        ratios: Record<string, { forwardedPerCpuS: number; latencyP99: number }>;
      };
      assert.match(report.machine, /Node v\d+/);
      assert.deepEqual(
        report.runs.map((x) => `${x.scenario}/${x.mode}`),
        ['echo/naive', 'echo/fast', 'fanout/naive', 'fanout/fast'],
      );
      for (const run of report.runs) {
        for (const k of [
          'packetsInPerS',
          'packetsOutPerS',
          'serverCpuS',
          'forwardedPerCpuS',
          'cpuMsPer1000Forwarded',
          'loss',
          'rssMiB',
          'deliveredPerS',
          'nacksPerS',
          'rtxShare',
        ] as const) {
          assert.ok(Number.isFinite(run[k]), `${run.scenario}/${run.mode}: ${k} = ${run[k]}`);
        }
        assert.ok((run.packetsOutPerS as number) > 0, `${run.scenario}/${run.mode} forwarded packets`);
        const lat = run.latencyMs as { p50: number; p99: number; max: number };
        assert.ok(lat.p50 >= 0 && lat.p50 <= lat.p99 && lat.p99 <= lat.max, `${run.scenario}/${run.mode}: latency ${JSON.stringify(lat)}`);
      }
      // the fan-out delivers to each of its 5 viewers: out is 5x in
      const fan = report.runs.find((x) => x.scenario === 'fanout' && x.mode === 'fast')!;
      assert.ok(Math.abs((fan.packetsOutPerS as number) / (fan.packetsInPerS as number) - 5) < 0.5, 'fan-out ratio');
      assert.ok(Number.isFinite(report.ratios.echo?.forwardedPerCpuS) && Number.isFinite(report.ratios.fanout?.forwardedPerCpuS));
      // progress lines go to stderr, the report to stdout
      assert.deepEqual(JSON.parse(r.stdout).runs, report.runs);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
