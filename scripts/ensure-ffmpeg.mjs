#!/usr/bin/env node
// Makes sure ffprobe and ffmpeg (the recording tests read the recorded WebM back with them) are present.
//
//   node scripts/ensure-ffmpeg.mjs
//
// Looks for ffprobe and ffmpeg on $PATH. If either is missing and we run as root on a
// system with apt-get, installs Debian's `ffmpeg` package without recommends (set
// FACECAST_NO_INSTALL=1 to never install). Otherwise prints the install command and
// exits 1. On success prints the paths and the version line and exits 0.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

const noInstall = ['1', 'true', 'yes'].includes((process.env.FACECAST_NO_INSTALL ?? '').toLowerCase());
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  return null;
}

function fail(lines) {
  for (const line of lines) console.error(line);
  process.exit(1);
}

function run(cmd, args) {
  console.log(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
}

function succeed(ffprobe, ffmpeg) {
  const r = spawnSync(ffprobe, ['-version'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) fail([`ffprobe at ${ffprobe} exists but \`ffprobe -version\` failed: ${r.error?.message ?? `exit ${r.status}`}`]);
  console.log(`ffprobe found: ${ffprobe}, ffmpeg found: ${ffmpeg}`);
  console.log(`Version: ${r.stdout.split('\n')[0]}`);
  process.exit(0);
}

const found = () => [which('ffprobe'), which('ffmpeg')];
let [ffprobe, ffmpeg] = found();
if (ffprobe && ffmpeg) succeed(ffprobe, ffmpeg);

const aptGet = which('apt-get');
if (!noInstall && isRoot && aptGet) {
  console.log('ffprobe/ffmpeg missing. Installing the Debian ffmpeg package...');
  const started = Date.now();
  try {
    // Skip `apt-get update` when the package lists already know ffmpeg (ensure-chromium may
    // have just refreshed them); if installing from those lists fails, refresh and retry once.
    const install = () => run(aptGet, ['install', '-y', '--no-install-recommends', 'ffmpeg']);
    const known = spawnSync('apt-cache', ['show', 'ffmpeg'], { stdio: 'ignore' }).status === 0;
    if (!known) run(aptGet, ['update']);
    try {
      install();
    } catch (err) {
      if (!known) throw err;
      run(aptGet, ['update']);
      install();
    }
  } catch (err) {
    fail([`Installing ffmpeg failed: ${err instanceof Error ? err.message : String(err)}`]);
  }
  console.log(`ffmpeg installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  [ffprobe, ffmpeg] = found();
  if (ffprobe && ffmpeg) succeed(ffprobe, ffmpeg);
  fail(['apt-get installed ffmpeg, but ffprobe/ffmpeg are still not on $PATH.']);
}

fail([
  aptGet
    ? `ffprobe/ffmpeg are missing (the recording tests need them). Install them with: ${isRoot ? '' : 'sudo '}apt-get install -y --no-install-recommends ffmpeg`
    : 'ffprobe/ffmpeg are missing (the recording tests need them). Install ffmpeg with your system package manager.',
]);
