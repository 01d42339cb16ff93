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
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';

const DEFAULT_PATH = '/usr/bin/chromium';
const fromEnv = (process.env.CHROMIUM_PATH ?? '').trim();
const chromiumPath = fromEnv || DEFAULT_PATH;
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

function version(file) {
  // The Debian wrapper script may print shell noise on stderr; only stdout matters.
  const r = spawnSync(file, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) return { ok: false, detail: r.error?.message ?? `exit ${r.status}: ${r.stderr.trim()}` };
  return { ok: true, detail: r.stdout.trim() };
}

function run(cmd, args) {
  console.log(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
}

function installCommand(aptGet) {
  if (!aptGet) return null;
  return isRoot ? 'apt-get install -y chromium' : 'sudo apt-get install -y chromium';
}

function fail(lines) {
  for (const line of lines) console.error(line);
  process.exit(1);
}

function succeed(file) {
  const v = version(file);
  if (!v.ok) {
    fail([`Chromium at ${file} exists but \`${file} --version\` failed: ${v.detail}`]);
  }
  console.log(`Chromium found: ${file}`);
  console.log(`Version: ${v.detail}`);
  process.exit(0);
}

if (isExecutable(chromiumPath)) succeed(chromiumPath);

const aptGet = which('apt-get');
const where = fromEnv ? `CHROMIUM_PATH=${fromEnv}` : DEFAULT_PATH;
const missingDetail = existsSync(chromiumPath) ? `${where} exists but is not executable.` : `${where} does not exist.`;

if (!noInstall && isRoot && aptGet) {
  console.log(`${missingDetail} Installing the Debian chromium package...`);
  try {
    run(aptGet, ['update']);
    run(aptGet, ['install', '-y', '--no-install-recommends', 'chromium']);
  } catch (err) {
    fail([`Installing Chromium failed: ${err instanceof Error ? err.message : String(err)}`]);
  }
  if (isExecutable(chromiumPath)) succeed(chromiumPath);
  if (fromEnv && isExecutable(DEFAULT_PATH)) {
    fail([
      `Chromium was installed at ${DEFAULT_PATH}, but CHROMIUM_PATH=${fromEnv} still does not exist.`,
      `Unset CHROMIUM_PATH or point it at ${DEFAULT_PATH}.`,
    ]);
  }
  fail([`apt-get installed chromium, but ${chromiumPath} is still missing.`]);
}

const cmd = installCommand(aptGet);
fail([
  cmd
    ? `Chromium is missing. Install it with: ${cmd}`
    : 'Chromium is missing. Install Chromium with your system package manager.',
  `(${missingDetail} Set CHROMIUM_PATH to use a Chromium installed elsewhere.)`,
]);
