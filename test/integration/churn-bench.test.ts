/**
 * `npm run bench:churn`, short: 30 join/leave cycles against an SFU in its own
 * process. Asserts what must hold at any count (no peers, rooms or file
 * descriptors left behind); the 1000-cycle RSS figure lives in docs/BENCHMARKS.md.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

describe('npm run bench:churn (short)', () => {
  it('30 cycles leave no peers, rooms or file descriptors in the SFU process', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'facecast-churn-'));
    try {
      const out = path.join(dir, 'churn.json');
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/churn.ts', '--cycles', '30', '--no-record', '--json', out], { encoding: 'utf8', timeout: 150_000 });
      assert.equal(r.status, 0, `bench:churn exited ${r.status}: ${r.stderr}`);
      const report = JSON.parse(readFileSync(out, 'utf8')) as {
        cycles: number;
        peersLeft: number;
        roomsLeft: number;
        before: { rssMiB: number; fds: number };
        after: { rssMiB: number; fds: number };
      };
      assert.equal(report.cycles, 30);
      assert.equal(report.peersLeft, 0);
      assert.equal(report.roomsLeft, 1, "the resident's room only");
      assert.ok(report.after.fds <= report.before.fds + 2, `fds ${report.before.fds} -> ${report.after.fds}`);
      assert.ok(Number.isFinite(report.before.rssMiB) && Number.isFinite(report.after.rssMiB));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
