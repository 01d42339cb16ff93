#!/usr/bin/env node
// Makes sure redis-server (the cluster tests start their own, on 127.0.0.1 and a free port) is present.
//
//   node scripts/ensure-redis.mjs
//
// Looks for redis-server on $PATH. If it is missing and we run as root on a system with
// apt-get, installs Debian's `redis-server` package without recommends (set
// FACECAST_NO_INSTALL=1 to never install). Otherwise prints the install command and exits 1.
// On success prints the path and the version line and exits 0.
import { spawnSync } from 'node:child_process';
import { ensureDebianPackages, which } from './lib/debian-packages.mjs';

function check() {
  const server = which('redis-server');
  if (!server) return { ok: false, detail: 'redis-server is not on $PATH (the cluster tests need it).' };
  const r = spawnSync(server, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) return { ok: false, detail: `\`${server} --version\` failed: ${r.error?.message ?? `exit ${r.status}`}` };
  return { ok: true, detail: `redis-server found: ${server}\nVersion: ${r.stdout.trim()}` };
}

ensureDebianPackages({ what: 'redis-server', packages: ['redis-server'], check, otherwise: 'Install Redis (redis-server, 6.2 or newer) with your system package manager.' });
