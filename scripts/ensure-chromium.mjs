#!/usr/bin/env node
// Makes sure the system Chromium used by the browser tests is present.
//
//   node scripts/ensure-chromium.mjs
//
// Looks at $CHROMIUM_PATH, else /usr/bin/chromium. If it is missing and we run
// as root on a system with apt-get, installs the Debian `chromium` package
// (set FACECAST_NO_INSTALL=1 to never install). Otherwise prints the install
// command and exits 1. On success prints the path and `--version` and exits 0.
// Never downloads Playwright's own browsers.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ensureDebianPackages, isExecutable } from './lib/debian-packages.mjs';

const DEFAULT_PATH = '/usr/bin/chromium';
const fromEnv = (process.env.CHROMIUM_PATH ?? '').trim();
const chromiumPath = fromEnv || DEFAULT_PATH;
const where = fromEnv ? `CHROMIUM_PATH=${fromEnv}` : DEFAULT_PATH;

function check() {
  if (!isExecutable(chromiumPath)) {
    return { ok: false, detail: existsSync(chromiumPath) ? `${where} exists but is not executable.` : `${where} does not exist.` };
  }
  // The Debian wrapper script may print shell noise on stderr; only stdout matters.
  const r = spawnSync(chromiumPath, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) return { ok: false, detail: `${chromiumPath} --version failed: ${r.error?.message ?? `exit ${r.status}: ${r.stderr.trim()}`}` };
  return { ok: true, detail: `Chromium found: ${chromiumPath}\nVersion: ${r.stdout.trim()}` };
}

ensureDebianPackages({
  what: 'Chromium',
  packages: ['chromium'],
  check,
  onInstalledButMissing: (detail) =>
    fromEnv && isExecutable(DEFAULT_PATH)
      ? [`Chromium was installed at ${DEFAULT_PATH}, but CHROMIUM_PATH=${fromEnv} still does not work (${detail}).`, `Unset CHROMIUM_PATH or point it at ${DEFAULT_PATH}.`]
      : [`apt-get installed chromium, but ${detail}`],
  otherwise: 'Install Chromium with your system package manager, or set CHROMIUM_PATH to one installed elsewhere.',
});
