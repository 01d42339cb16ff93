/**
 * Interop with a WebRTC stack nobody here wrote: GStreamer's webrtcbin (1.22, libnice,
 * its own DTLS/SRTP) publishes a VP8 test pattern through WHIP
 * (scripts/gst-whip-publish.py, run by the system /usr/bin/python3), and headless
 * Chromium plays it from /watch/ROOM (WHEP). Everything stays on 127.0.0.1: the script's
 * ICE agent gathers on 127.0.0.1 only, the server's too.
 *
 * Needs GStreamer: `node scripts/ensure-gstreamer.mjs` (run by `npm test`).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import type { FacecastServer, ServerState } from '../../src/server/facecast.js';
import { launchBrowser, type LaunchedBrowser } from '../helpers/browser.js';
import { startTestServer, waitFor } from '../helpers/server.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = path.join(root, 'scripts/gst-whip-publish.py');
const PYTHON = '/usr/bin/python3';

type WatchDebug = { status: string; tiles: { stream: string; framesDecoded: number }[] };
const watchState = (page: Page) =>
  page.evaluate(() => {
    const w = (window as unknown as { facecastWatch?: WatchDebug }).facecastWatch;
    return w && { status: w.status, tiles: w.tiles };
  });

/** A running gst-whip-publish.py: its stderr so far and its exit. */
interface Publisher {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function publish(url: string, args: string[]): Publisher {
  const child = spawn(PYTHON, [SCRIPT, url, ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    if (process.env.FACECAST_TEST_LOG) process.stderr.write(chunk);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (err) => {
      stderr += `spawn failed: ${err.message}\n`;
      resolve({ code: null, signal: null });
    });
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, stderr: () => stderr, exited };
}

/** Wait at most `ms` for the script to exit; kill it (TERM, then KILL) if it does not. */
async function stop(p: Publisher | undefined, ms: number): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  const timeout = (t: number) => new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), t).unref());
  if ((await Promise.race([p.exited, timeout(ms)])) !== 'timeout') return;
  p.child.kill('SIGTERM');
  if ((await Promise.race([p.exited, timeout(5000)])) !== 'timeout') return;
  p.child.kill('SIGKILL');
  await Promise.race([p.exited, timeout(5000)]);
}

async function apiState(server: FacecastServer): Promise<ServerState> {
  const res = await fetch(`${server.url}/api/state`);
  assert.equal(res.status, 200);
  return (await res.json()) as ServerState;
}

const exitWithin = async (p: Publisher, ms: number) => Promise.race([p.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref())]);

describe('interop: GStreamer webrtcbin as a WHIP publisher', () => {
  let server: FacecastServer;
  let browser: LaunchedBrowser;
  const publishers: Publisher[] = [];
  before(async () => {
    // Missing GStreamer: fail here with the install command, not with a Python traceback later.
    const check = spawnSync(process.execPath, [path.join(root, 'scripts/ensure-gstreamer.mjs')], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, FACECAST_NO_INSTALL: '1' },
    });
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
    server = await startTestServer();
    browser = await launchBrowser();
  });
  after(async () => {
    // A child left running would hold CI: stdin EOF stops it the normal way, else TERM/KILL.
    for (const p of publishers) p.child.stdin?.end();
    await Promise.all(publishers.map((p) => stop(p, 5000)));
    await browser?.close();
    await server?.close();
  });

  it('WHIP publish from GStreamer webrtcbin -> browser watcher decodes frames', async (t) => {
    const started = Date.now();
    // Bounded by --seconds; the test ends it sooner by closing stdin (DELETE, exit 0).
    const gst = publish(`${server.url}/whip/gst-room?name=gst`, ['--seconds', '100', '--stop-on-stdin', '--verbose']);
    publishers.push(gst);
    const failed = (what: string) => async (err: Error) => {
      throw new Error(`${err.message} (${what})\n--- gst-whip-publish stderr ---\n${gst.stderr()}`);
    };
    const early = gst.exited.then(({ code, signal }) => {
      throw new Error(`gst-whip-publish exited early (${code ?? signal})`);
    });
    early.catch(() => {});
    const race = <T>(p: Promise<T>) => Promise.race([p, early]);

    await race(waitFor(() => /connected; publishing/.test(gst.stderr()), 30_000, 'webrtcbin to connect')).catch(failed('connect'));
    const connectedMs = Date.now() - started;
    // --verbose printed the offer and the answer: every candidate on either side is 127.0.0.1.
    const candidates = gst
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('a=candidate:'));
    assert.ok(candidates.length >= 2, `candidates in the offer and the answer:\n${gst.stderr()}`);
    for (const c of candidates) assert.match(c, /^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 \d+ typ host/i);

    const watcher = await browser.context.newPage();
    await watcher.goto(`${server.url}/watch/gst-room`);
    await race(
      waitFor(async () => (await watchState(watcher))?.tiles.some((t) => t.stream === 'gst' && t.framesDecoded >= 30), 40_000, 'the watcher to decode 30 frames of "gst"'),
    ).catch(async (err: Error) => failed(`watcher: ${JSON.stringify(await watchState(watcher))}`)(err));
    const decodedMs = Date.now() - started;
    assert.match((await watchState(watcher))!.status, /watching room "gst-room"/);

    const state = await apiState(server);
    const peer = state.peers.find((p) => p.name === 'gst');
    assert.ok(peer, `the WHIP peer "gst" in /api/state: ${JSON.stringify(state.peers.map((p) => p.name))}`);
    assert.equal(peer.room, 'gst-room');
    assert.equal(peer.connectionState, 'connected');
    assert.equal(peer.codec, 'video/VP8', 'VP8 negotiated');
    assert.equal(peer.tracks.length, 1, 'one published track');
    assert.equal(peer.tracks[0]!.codec, 'video/VP8');
    assert.ok(peer.packetsIn > 30, `packets in from webrtcbin: ${peer.packetsIn}`);
    assert.ok(peer.tracks[0]!.keyframesIn >= 1, 'at least one VP8 keyframe recognised');
    assert.equal(peer.tracks[0]!.subscribers, 1, 'the watcher subscribes to it');
    const viewer = state.peers.find((p) => p.name.startsWith('whep-'));
    assert.ok(viewer && viewer.packetsOut > 30, `the WHEP viewer got packets: ${viewer?.packetsOut}`);

    // The script's own DELETE ends the session; it exits 0.
    gst.child.stdin!.end();
    const exit = await exitWithin(gst, 20_000);
    assert.deepEqual(exit, { code: 0, signal: null }, `gst-whip-publish exit\n${gst.stderr()}`);
    assert.match(gst.stderr(), /DELETE http:\/\/127\.0\.0\.1:\d+\/whip\/gst-room\/\S+ -> 200/);
    await waitFor(async () => !(await apiState(server)).peers.some((p) => p.name === 'gst'), 10_000, 'the WHIP peer to be gone');
    await watcher.close({ runBeforeUnload: true });
    await waitFor(async () => (await apiState(server)).peers.length === 0, 10_000, 'no peers left');
    t.diagnostic(
      `webrtcbin connected after ${connectedMs} ms, watcher decoded 30 frames after ${decodedMs} ms; ${peer.packetsIn} packets, ${peer.tracks[0]!.keyframesIn} keyframes in, ${peer.tracks[0]!.keyframeRequestsSent} keyframe requests sent to webrtcbin`,
    );
  });

  it('publishes for --seconds, then DELETEs its session by itself and exits 0', async () => {
    const gst = publish(`${server.url}/whip/gst-timed?name=gst2`, ['--seconds', '3']);
    publishers.push(gst);
    await waitFor(async () => (await server.state()).peers.find((p) => p.name === 'gst2' && p.packetsIn > 0), 30_000, 'packets from webrtcbin').catch((err: Error) => {
      throw new Error(`${err.message}\n${gst.stderr()}`);
    });
    const exit = await exitWithin(gst, 30_000);
    assert.deepEqual(exit, { code: 0, signal: null }, `gst-whip-publish exit\n${gst.stderr()}`);
    assert.match(gst.stderr(), /DELETE \S+ -> 200/);
    assert.equal((await server.state()).peers.filter((p) => p.name === 'gst2').length, 0, 'the session is gone when the script has exited');
  });

  it('a refused POST is a non-zero exit with the reason', async () => {
    // A room name with a space: the server answers 400, and the script says so.
    const gst = publish(`${server.url}/whip/bad%20room`, ['--seconds', '3']);
    publishers.push(gst);
    const exit = await exitWithin(gst, 30_000);
    assert.deepEqual(exit, { code: 1, signal: null }, gst.stderr());
    assert.match(gst.stderr(), /FAILED: POST \S+ -> 400 .*room names/);
  });
});
