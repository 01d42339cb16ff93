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
import { ensureDebianPackages, isExecutable } from './lib/debian-packages.mjs';

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

function check() {
  if (!isExecutable(PYTHON)) return { ok: false, detail: `${PYTHON} does not exist.` };
  const r = spawnSync(PYTHON, ['-c', CHECK], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) return { ok: false, detail: r.error.message };
  if (r.status !== 0) {
    const lines = r.stderr.trim().split('\n');
    return { ok: false, detail: `GStreamer webrtcbin is not usable from ${PYTHON}: ${lines[lines.length - 1] || `exit ${r.status ?? r.signal}`}` };
  }
  return { ok: true, detail: `GStreamer webrtcbin found (${PYTHON} with gi): ${r.stdout.trim()}` };
}

ensureDebianPackages({
  what: 'GStreamer webrtcbin',
  packages: PACKAGES,
  check,
  otherwise: `Install GStreamer 1.22+ (plugins base/good/bad, libnice plugin) and PyGObject for ${PYTHON} with your system package manager.`,
});
