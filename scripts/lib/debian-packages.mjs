// What the ensure-* scripts share: look for a tool the tests need; if it is missing and we
// run as root on a system with apt-get, install Debian's packages for it (never when
// FACECAST_NO_INSTALL=1); otherwise print the exact install command and exit 1.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const noInstall = ['1', 'true', 'yes'].includes((process.env.FACECAST_NO_INSTALL ?? '').toLowerCase());

export function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  return null;
}

export function fail(lines) {
  for (const line of lines) console.error(line);
  process.exit(1);
}

function run(cmd, args) {
  console.log(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
}

/**
 * Make sure `what` is there, installing `packages` when allowed. Exits the process.
 *  - check(): { ok: true, detail } when usable (detail: what to print), else { ok: false, detail: why not }
 *  - onInstalledButMissing(detail): the lines to print when the install did not help (optional)
 *  - otherwise: what to say where apt-get is not there
 */
export function ensureDebianPackages({ what, packages, check, onInstalledButMissing, otherwise }) {
  const first = check();
  if (first.ok) {
    console.log(first.detail);
    process.exit(0);
  }
  const aptGet = which('apt-get');
  if (!noInstall && isRoot && aptGet) {
    console.log(`${first.detail} Installing Debian's ${packages.join(' ')}...`);
    const started = Date.now();
    // Skip `apt-get update` when the package lists already know every package (another
    // ensure-* script may have just refreshed them); if installing from them fails, refresh once.
    const known = spawnSync('apt-cache', ['show', ...packages], { stdio: 'ignore' }).status === 0;
    // Waits for a dpkg lock another apt run holds instead of failing at once.
    const install = () => run(aptGet, ['install', '-y', '--no-install-recommends', '-o', 'DPkg::Lock::Timeout=300', ...packages]);
    try {
      if (!known) run(aptGet, ['update']);
      try {
        install();
      } catch (err) {
        if (!known) throw err;
        run(aptGet, ['update']);
        install();
      }
    } catch (err) {
      fail([`Installing ${what} failed: ${err instanceof Error ? err.message : String(err)}`]);
    }
    console.log(`${what} installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const after = check();
    if (after.ok) {
      console.log(after.detail);
      process.exit(0);
    }
    fail(onInstalledButMissing?.(after.detail) ?? [`apt-get installed ${packages.join(' ')}, but ${what} is still not usable: ${after.detail}`]);
  }
  fail([
    aptGet ? `${what} is missing. Install it with: ${isRoot ? '' : 'sudo '}apt-get install -y --no-install-recommends ${packages.join(' ')}` : `${what} is missing. ${otherwise}`,
    `(${first.detail})`,
  ]);
}
