#!/usr/bin/env node
/**
 * `npm test`: makes sure Chromium, GStreamer, ffmpeg and redis-server are there, builds, then runs every test
 * (unit, integration, browser) with node's test runner.
 *
 * Network hygiene: the tests run through scripts/in-netns.mjs, which (as root,
 * with `unshare`) puts them in a fresh network namespace that has only the
 * loopback interface, so no test can reach any address but 127.0.0.1.
 * FACECAST_NETNS=0 skips the namespace.
 *
 * Usage: npm test [-- FILE_OR_DIR ...]
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);

function run(cmd, cmdArgs, opts = {}) {
  const r = spawnSync(cmd, cmdArgs, { stdio: 'inherit', cwd: root, ...opts });
  if (r.error) {
    console.error(`npm test: could not run ${cmd}: ${r.error.message}`);
    process.exit(1);
  }
  return r.status ?? 1;
}

function testFiles(targets) {
  const out = [];
  const walk = (p) => {
    const s = statSync(p);
    if (s.isDirectory()) for (const e of readdirSync(p).sort()) walk(path.join(p, e));
    else if (p.endsWith('.test.ts')) out.push(path.relative(root, p));
  };
  for (const t of targets) walk(path.resolve(root, t));
  return out;
}

// Stage 1: Chromium, GStreamer (for the interop test), ffmpeg (recording tests) and the build; stage 2 (in
// the namespace, or when .ci/run already entered one) runs the tests.
if (process.env.FACECAST_TEST_STAGE !== 'run' && process.env.FACECAST_IN_NETNS !== '1') {
  if (run(process.execPath, ['scripts/ensure-chromium.mjs']) !== 0) process.exit(1);
  if (run(process.execPath, ['scripts/ensure-gstreamer.mjs']) !== 0) process.exit(1);
  // ffprobe/ffmpeg read recorded WebM files back (test/*/recording*.test.ts).
  if (run(process.execPath, ['scripts/ensure-ffmpeg.mjs']) !== 0) process.exit(1);
  // redis-server: the cluster tests start their own (test/helpers/redis.ts).
  if (run(process.execPath, ['scripts/ensure-redis.mjs']) !== 0) process.exit(1);
  console.log('> build');
  if (run('npm', ['run', '--silent', 'build']) !== 0) process.exit(1);
  process.exit(
    run(process.execPath, ['scripts/in-netns.mjs', process.execPath, 'scripts/test.mjs', ...args], {
      env: { ...process.env, FACECAST_TEST_STAGE: 'run' },
    }),
  );
}

const files = testFiles(args.length ? args : ['test/unit', 'test/integration', 'test/e2e']);
if (files.length === 0) {
  console.error('npm test: no test files found');
  process.exit(1);
}
const tapFile = path.join(os.tmpdir(), `facecast-test-${process.pid}.tap`);
const status = run(process.execPath, [
  '--import',
  'tsx',
  '--test',
  '--test-concurrency=1',
  // A hung test or hook fails after 3 minutes instead of stalling CI, and a file whose
  // tests are done exits even if something it started still holds the event loop (the
  // leak tests count handles themselves, in-process).
  '--test-timeout=180000',
  '--test-force-exit',
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  '--test-reporter=tap',
  `--test-reporter-destination=${tapFile}`,
  ...files,
]);
// One plain closing line, whatever the reporter prints above it.
try {
  // Counted from the ok / not ok lines (with --test-force-exit the runner may stop
  // before it writes TAP's closing totals); suites are not tests.
  const lines = readFileSync(tapFile, 'utf8').split('\n');
  let passed = 0;
  let failed = 0;
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*(not )?ok \d+ - /.exec(lines[i]);
    if (!m) continue;
    let suite = false;
    for (let j = i + 1; j < lines.length && !/^\s*\.\.\.$/.test(lines[j]); j++) {
      if (/^\s*type: 'suite'$/.test(lines[j])) suite = true;
    }
    if (suite) continue;
    if (m[1]) failed++;
    else passed++;
  }
  console.log(`\n${passed} passed, ${failed} failed`);
  rmSync(tapFile, { force: true });
} catch {
  // no summary: the runner itself failed; its status says so
}
process.exit(status);
