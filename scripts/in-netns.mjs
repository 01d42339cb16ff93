#!/usr/bin/env node
/**
 * Runs a command in a fresh network namespace that has only the loopback
 * interface (up), so nothing it starts can reach any address but 127.0.0.1.
 * Needs root and `unshare`; otherwise (or with FACECAST_NETNS=0) runs the
 * command as it is and says so. Exits with the command's status.
 *
 * Usage: node scripts/in-netns.mjs CMD [ARGS...]
 */
import { spawnSync } from 'node:child_process';

const [cmd, ...args] = process.argv.slice(2);
if (!cmd) {
  console.error('usage: node scripts/in-netns.mjs CMD [ARGS...]');
  process.exit(2);
}

const possible = process.env.FACECAST_NETNS !== '0' && process.env.FACECAST_IN_NETNS !== '1' && process.getuid?.() === 0 && spawnSync('unshare', ['-n', 'true']).status === 0;

let result;
if (possible) {
  console.error('> in a fresh network namespace (loopback only)');
  result = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', cmd, ...args], {
    stdio: 'inherit',
    env: { ...process.env, FACECAST_IN_NETNS: '1' },
  });
} else {
  if (process.env.FACECAST_IN_NETNS !== '1') {
    console.error('> no network namespace (not root, unshare unavailable, or FACECAST_NETNS=0): traffic stays on 127.0.0.1 by configuration');
  }
  result = spawnSync(cmd, args, { stdio: 'inherit' });
}
if (result.error) {
  console.error(`could not run ${cmd}: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
