#!/usr/bin/env node
// Makes sure GStreamer's webrtcbin, usable from the system Python, is there for the
// interop test (test/e2e/interop-gstreamer.test.ts, which runs scripts/gst-whip-publish.py).
//
//   node scripts/ensure-gstreamer.mjs
//
// Checks that /usr/bin/python3 (the system one, never a pyenv/venv python3 on PATH)
// can import gi with Gst, GstWebRTC and GstSdp and that the webrtcbin, vp8enc and
// nicesrc elements exist. If not and we run as root on a system with apt-get, installs
// the Debian packages (set FACECAST_NO_INSTALL=1 to never install). Otherwise prints
// the install command and exits 1. On success prints the GStreamer version and exits 0.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

const PYTHON = '/usr/bin/python3';
// Debian 12: webrtcbin (+ dtls, srtp) is in plugins-bad, vp8enc and rtpvp8pay in
// plugins-good, videotestsrc and videoconvert in plugins-base, nicesrc/nicesink in
// gstreamer1.0-nice; the gir1.2 packages carry the Gst, GstWebRTC and GstSdp typelibs.
const PACKAGES = [
  'python3-gi',
  'gir1.2-gstreamer-1.0',
  'gir1.2-gst-plugins-base-1.0',
  'gir1.2-gst-plugins-bad-1.0',
  'gstreamer1.0-plugins-base',
  'gstreamer1.0-plugins-good',
  'gstreamer1.0-plugins-bad',
  'gstreamer1.0-nice',
];
const CHECK = [
  'import gi',
  "gi.require_version('Gst', '1.0')",
  "gi.require_version('GstWebRTC', '1.0')",
  "gi.require_version('GstSdp', '1.0')",
  'from gi.repository import Gst, GstWebRTC, GstSdp',
  'Gst.init(None)',
  "missing = [e for e in ('webrtcbin', 'vp8enc', 'nicesrc', 'rtpvp8pay', 'videotestsrc', 'videoconvert') if not Gst.ElementFactory.find(e)]",
  "assert not missing, 'missing GStreamer elements: ' + ', '.join(missing)",
  'print(Gst.version_string())',
].join('\n');

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

function check() {
  if (!isExecutable(PYTHON)) return { ok: false, detail: `${PYTHON} does not exist.` };
  const r = spawnSync(PYTHON, ['-c', CHECK], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) return { ok: false, detail: r.error.message };
  if (r.status !== 0) {
    const lines = r.stderr.trim().split('\n');
    return { ok: false, detail: lines[lines.length - 1] || `exit ${r.status ?? r.signal}` };
  }
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
  const cmd = `apt-get install -y --no-install-recommends ${PACKAGES.join(' ')}`;
  return isRoot ? cmd : `sudo ${cmd}`;
}

function fail(lines) {
  for (const line of lines) console.error(line);
  process.exit(1);
}

function succeed(detail) {
  console.log(`GStreamer webrtcbin found (${PYTHON} with gi): ${detail}`);
  process.exit(0);
}

const first = check();
if (first.ok) succeed(first.detail);

const aptGet = which('apt-get');
if (!noInstall && isRoot && aptGet) {
  console.log(`GStreamer webrtcbin is not usable from ${PYTHON} (${first.detail}). Installing the Debian packages...`);
  const started = Date.now();
  try {
    run(aptGet, ['update']);
    // Waits for a dpkg lock held by another apt run instead of failing at once.
    run(aptGet, ['install', '-y', '--no-install-recommends', '-o', 'DPkg::Lock::Timeout=300', ...PACKAGES]);
  } catch (err) {
    fail([`Installing GStreamer failed: ${err instanceof Error ? err.message : String(err)}`]);
  }
  console.log(`GStreamer packages installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const after = check();
  if (after.ok) succeed(after.detail);
  fail([`apt-get installed the GStreamer packages, but the check still fails: ${after.detail}`]);
}

const cmd = installCommand(aptGet);
fail([
  cmd
    ? `GStreamer webrtcbin is missing. Install it with: ${cmd}`
    : `GStreamer webrtcbin is missing. Install GStreamer 1.22+ (plugins base/good/bad, libnice plugin) and PyGObject for ${PYTHON} with your system package manager.`,
  `(${first.detail})`,
]);
