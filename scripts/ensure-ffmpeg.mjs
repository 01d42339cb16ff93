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
import { ensureDebianPackages, which } from './lib/debian-packages.mjs';

function check() {
  const ffprobe = which('ffprobe');
  const ffmpeg = which('ffmpeg');
  if (!ffprobe || !ffmpeg) return { ok: false, detail: 'ffprobe/ffmpeg are not on $PATH (the recording tests need them).' };
  const r = spawnSync(ffprobe, ['-version'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) return { ok: false, detail: `\`${ffprobe} -version\` failed: ${r.error?.message ?? `exit ${r.status}`}` };
  return { ok: true, detail: `ffprobe found: ${ffprobe}, ffmpeg found: ${ffmpeg}\nVersion: ${r.stdout.split('\n')[0]}` };
}

ensureDebianPackages({ what: 'ffmpeg', packages: ['ffmpeg'], check, otherwise: 'Install ffmpeg (ffprobe included) with your system package manager.' });
