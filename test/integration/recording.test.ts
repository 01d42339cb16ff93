/**
 * Recording (--record DIR, the recording API) with a real werift publisher sending realistic
 * VP8 RTP (Vp8Source): the WebM file is finalized when the publisher leaves, when the recording
 * is stopped, on server.close() and on SIGTERM, and ffprobe reads it back (codec, duration,
 * frames). Vp8Source payloads are not decodable VP8, so frames are counted by ffprobe's demuxer
 * (-count_packets); test/e2e/recording-browser.test.ts decodes a Chromium publisher's recording.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { RtpHeader, RtpPacket } from 'werift';
import { ConfigError, parseServeArgs, SERVE_HELP } from '../../src/server/config.js';
import type { FacecastServer } from '../../src/server/facecast.js';
import { startTestServer, waitFor } from '../helpers/server.js';
import { assertRecording, frameTimes, hasDuration, keyframeTimes, probe } from '../helpers/webm-probe.js';
import { Vp8Source } from '../helpers/vp8-source.js';
import { TestClient } from '../helpers/werift-client.js';

const FPS = 30;

/**
 * Sends a Vp8Source at 30 fps paced by the wall clock (a late timer sends the frames it owes,
 * so the media time stays the wall time under load); answers PLIs with keyframes. Like
 * Chromium probing for bandwidth, it sends a padding-only packet (no payload) after every third
 * frame, in the same sequence number space.
 */
class Publisher {
  readonly source = new Vp8Source({ keyframeEvery: 60, bitrate: 500_000 });
  frames = 0;
  /** Leave out the second packet of this frame (a loss the SFU cannot repair: nothing resends it). */
  dropInFrame = -1;
  /** performance.now() when that frame went out. */
  droppedAt = Infinity;
  /** Indexes of the frames sent as keyframes (periodic, or asked for with a PLI). */
  readonly keyframes: number[] = [];
  private seq = Math.floor(Math.random() * 0x10000);
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;

  constructor(readonly client: TestClient) {
    client.pliListeners.push(() => this.source.requestKeyframe());
  }

  start(): void {
    this.startedAt = performance.now();
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - this.startedAt) / 1000) * FPS) + 1;
      for (let n = 0; this.frames < due && n < 10; n++) this.sendFrame();
    }, 10);
  }

  private sendFrame(): void {
    const packets = this.source.nextFrame();
    if ((packets[0]!.payload[4]! & 0x01) === 0) this.keyframes.push(this.frames); // Vp8Source: 4-byte descriptor, then the VP8 header
    packets.forEach((p, i) => {
      p.header.sequenceNumber = this.seq++ & 0xffff;
      if (this.frames === this.dropInFrame && i === 1) {
        this.droppedAt = performance.now();
        return;
      }
      this.client.sendRtp(p);
    });
    if (++this.frames % 3 === 0) {
      const last = packets.at(-1)!.header;
      const header = new RtpHeader({
        ssrc: last.ssrc,
        payloadType: last.payloadType,
        sequenceNumber: this.seq++ & 0xffff,
        timestamp: last.timestamp,
        padding: true,
        paddingSize: 224,
      });
      // werift's sender writes header + payload only: the padding goes in as the payload (its last byte the count).
      const padding = Buffer.alloc(224);
      padding[223] = 224;
      this.client.sendRtp(new RtpPacket(header, padding));
    }
  }

  /** Stops sending; the media time sent, in seconds. */
  stop(): number {
    clearInterval(this.timer);
    return this.frames / FPS;
  }
}

const webmFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.webm'))
    .sort();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A publisher in `room` as `name`, connected and sending. */
async function publish(url: string, room: string, name: string): Promise<Publisher> {
  const client = new TestClient(url);
  await client.join(room, name);
  await client.connect();
  const publisher = new Publisher(client);
  publisher.start();
  return publisher;
}

describe('recording to WebM (werift publisher, ffprobe)', () => {
  const dirs: string[] = [];
  const clients: TestClient[] = [];
  const publishers: Publisher[] = [];
  let server: FacecastServer | undefined;
  let child: ChildProcess | undefined;
  const tempDir = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'facecast-rec-'));
    dirs.push(dir);
    return dir;
  };
  const track = (p: Publisher) => {
    publishers.push(p);
    clients.push(p.client);
    return p;
  };

  afterEach(async () => {
    for (const p of publishers.splice(0)) p.stop();
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
    await server?.close();
    server = undefined;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = undefined;
  });
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('config: --record DIR, FACECAST_RECORD, the config file key "record" (made absolute), in --help; a DIR that cannot be made stops the start', async () => {
    const record = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
      const c = parseServeArgs(argv, env);
      assert.ok(c !== 'help');
      return c.record;
    };
    assert.equal(record([]), undefined, 'off by default');
    assert.equal(record(['--record', 'recs']), path.resolve('recs'));
    assert.equal(record([], { FACECAST_RECORD: '/srv/recs' }), '/srv/recs');
    const file = path.join(tempDir(), 'facecast.json');
    writeFileSync(file, JSON.stringify({ record: '/from/file' }));
    assert.equal(record(['--config', file]), '/from/file');
    assert.equal(record(['--config', file, '--record', '/flag']), '/flag', 'the flag wins');
    writeFileSync(file, JSON.stringify({ record: true }));
    assert.throws(
      () => parseServeArgs(['--config', file], {}),
      (err: Error) => err instanceof ConfigError && /key "record"/.test(err.message),
    );
    assert.throws(() => parseServeArgs(['--record', ''], {}), ConfigError);
    assert.match(SERVE_HELP, /--record DIR/);
    const notDir = path.join(tempDir(), 'a-file');
    writeFileSync(notDir, '');
    await assert.rejects(startTestServer({ record: path.join(notDir, 'recs') }), /^Error: --record .*a-file\/recs: ENOTDIR/);
  });

  it('--record DIR: a publisher that leaves leaves a finalized DIR/<room>-<name>-<time>.webm; /api/state shows it meanwhile', async () => {
    const dir = tempDir();
    server = await startTestServer({ record: dir });
    const pub = track(await publish(server.url, 'rec', 'alice'));
    const rec = await waitFor(
      async () => (await server!.state()).peers.find((p) => p.name === 'alice' && p.recording && p.recording.frames >= 30)?.recording,
      15_000,
      'the recording to show 30 frames in /api/state',
    );
    assert.equal(rec.state, 'recording');
    assert.ok(rec.bytes > 10_000, `bytes ${rec.bytes}`);
    assert.equal(path.dirname(rec.file), dir);
    assert.match(path.basename(rec.file), /^rec-alice-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z\.webm$/);
    const viaHttp = (await (await fetch(`${server.url}/api/state`)).json()) as { peers: { name: string; recording: { file: string } | null }[] };
    assert.equal(viaHttp.peers.find((p) => p.name === 'alice')?.recording?.file, rec.file);

    await sleep(3000);
    const publishedS = pub.stop();
    await pub.client.close(); // leave
    await waitFor(async () => !(await server!.state()).peers.some((p) => p.name === 'alice'), 15_000, 'alice to be gone');
    const files = webmFiles(dir);
    assert.deepEqual(files, [path.basename(rec.file)]);
    const p = await waitFor(() => (hasDuration(rec.file) ? probe(rec.file) : undefined), 10_000, 'the file to be finalized (a duration)');
    assertRecording(p, publishedS, 'after leave');
    // Every frame sent is in the file (the padding between them taken out), but the last few in flight.
    assert.ok(p.packets >= 0.95 * pub.frames, `${p.packets} frames in the file, ${pub.frames} sent`);
    console.log(`# left after ${publishedS.toFixed(2)} s: ${pub.frames} frames sent, ${p.packets} in the file, ${p.durationS.toFixed(3)} s, ${statSync(rec.file).size} bytes`);
  });

  it('a lost packet: the broken frames are left out and the recording goes on from the keyframe it asks for', async () => {
    const dir = tempDir();
    server = await startTestServer({ record: dir });
    const client = new TestClient(server.url);
    await client.join('lossy', 'dave');
    await client.connect();
    const pub = track(new Publisher(client));
    pub.dropInFrame = 40; // keyframes come at frames 0, 60, 120: this one is in the middle of a GOP
    pub.start();
    const rec = await waitFor(async () => (await server!.state()).peers.find((p) => p.name === 'dave')?.recording, 15_000, 'the recording');
    await waitFor(() => pub.frames > 100, 15_000, 'frame 100 sent');
    const pliAfterLoss = client.pliTimes.filter((t) => t > pub.droppedAt).length;
    const publishedS = pub.stop();
    await client.close();
    await waitFor(() => hasDuration(rec.file), 15_000, 'the file to be finalized');
    const p = probe(rec.file);
    assertRecording(p, publishedS, 'with a lost packet');
    assert.ok(pliAfterLoss >= 1, 'the publisher was asked for a keyframe after the loss');
    // In the file: frames 0-39, then nothing until the first keyframe sent after the loss (the one
    // asked for, or the periodic one at frame 60 if the request came late), then every frame.
    const resume = pub.keyframes.find((k) => k > 40)!;
    const times = frameTimes(rec.file);
    const at = (frame: number) => times.filter((t) => Math.abs(t - frame / FPS) < 0.002).length;
    assert.equal(times.filter((t) => t < 40 / FPS - 0.002).length, 40, 'frames 0-39 are in the file');
    assert.equal(times.filter((t) => t > 40 / FPS - 0.002 && t < resume / FPS - 0.002).length, 0, `no frame from the broken one (40) to the keyframe at ${resume}`);
    assert.equal(at(resume), 1, `the recording goes on at frame ${resume}`);
    assert.ok(
      keyframeTimes(rec.file).some((t) => Math.abs(t - resume / FPS) < 0.002),
      `frame ${resume} is a keyframe in the file`,
    );
    assert.ok(p.packets >= pub.frames - (resume - 40) - 5, `every frame after it (but the last few in flight): ${p.packets} of ${pub.frames}`);
    const keys = keyframeTimes(rec.file);
    console.log(
      `# a lost packet at frame 40: resumed at keyframe ${resume} (sent keyframes ${pub.keyframes.join(', ')}), ${pub.frames - p.packets} frames left out, keyframes in the file at ${keys.map((t) => t.toFixed(2)).join(', ')} s`,
    );
  });

  it('the API: DELETE finalizes while the publisher stays, POST starts a new file, server.close() finalizes that one; 404/409/405', async () => {
    const dir = tempDir();
    server = await startTestServer({ record: dir });
    const api = `${server.url}/api/rooms/studio/participants/bob/recording`;
    assert.equal((await fetch(`${server.url}/api/rooms/studio/participants/nobody/recording`, { method: 'POST' })).status, 404);
    const pub = track(await publish(server.url, 'studio', 'bob'));
    await waitFor(async () => (await server!.state()).peers.find((p) => p.name === 'bob')?.recording?.frames, 15_000, 'the automatic recording');
    await sleep(2000);

    const sentBefore = pub.frames;
    const stopped = await fetch(api, { method: 'DELETE' });
    assert.equal(stopped.status, 200);
    const first = (await stopped.json()) as { file: string; state: string; frames: number };
    assert.equal(first.state, 'done');
    const p1 = probe(first.file); // finalized before the answer: readable at once
    assertRecording(p1, sentBefore / FPS, 'stopped by DELETE');
    assert.equal(p1.packets, first.frames, 'the frames the API counted are the frames in the file');
    assert.equal((await fetch(api, { method: 'DELETE' })).status, 404, 'nothing to stop now');
    await sleep(1500);
    assert.equal((await server.state()).peers.find((p) => p.name === 'bob')?.recording, null, 'not restarted automatically after a stop');

    const started = await fetch(api, { method: 'POST' });
    assert.equal(started.status, 201);
    const second = (await started.json()) as { file: string };
    assert.notEqual(second.file, first.file);
    assert.equal((await fetch(api, { method: 'POST' })).status, 200, 'already recording');
    assert.equal((await fetch(api, { method: 'PUT' })).status, 405);
    const framesAtStart = pub.frames;
    await waitFor(async () => (await server!.state()).peers.find((p) => p.name === 'bob')?.recording?.frames, 15_000, 'the second recording');
    await sleep(2500);
    const sentSecond = (pub.frames - framesAtStart) / FPS;
    await server.close(); // graceful shutdown while bob still publishes
    server = undefined;
    pub.stop();
    assertRecording(probe(second.file), sentSecond, 'stopped by server.close()');
    assert.deepEqual(webmFiles(dir), [path.basename(first.file), path.basename(second.file)].sort());

    const off = await startTestServer();
    try {
      const res = await fetch(`${off.url}/api/rooms/studio/participants/bob/recording`, { method: 'POST' });
      assert.equal(res.status, 409, 'recording is off without --record');
    } finally {
      await off.close();
    }
  });

  it('SIGTERM: `facecast serve --record DIR --workers 2` (the room on a worker thread; the API routed there) finalizes the recording of a publisher still sending, and exits 0', async () => {
    const dir = tempDir();
    const args = ['--import', 'tsx', 'src/server/cli.ts', 'serve', '--port', '0', '--log-level', 'info', '--record', dir, '--workers', '2'];
    child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    let out = '';
    child.stdout!.on('data', (d) => (out += String(d)));
    child.stderr!.on('data', (d) => (out += String(d)));
    const url = await waitFor(() => /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out)?.[1], 30_000, 'the server to listen');
    const pub = track(await publish(url, 'live', 'carol'));
    const file = await waitFor(
      async () => {
        const state = (await (await fetch(`${url}/api/state`)).json()) as { peers: { name: string; recording: { file: string; frames: number } | null }[] };
        const rec = state.peers.find((p) => p.name === 'carol')?.recording;
        return rec && rec.frames > 0 ? rec.file : undefined;
      },
      15_000,
      'the recording to start',
    );
    const framesAtStart = pub.frames;
    const viaApi = await fetch(`${url}/api/rooms/live/participants/carol/recording`);
    assert.equal(viaApi.status, 200, "the API finds the recording on the room's worker");
    assert.equal(((await viaApi.json()) as { file: string }).file, file);
    await sleep(3000);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out.slice(-2000));
    const sentS = (pub.frames - framesAtStart) / FPS;
    pub.stop();
    assert.match(out, /recording finalized/);
    const p = probe(file);
    assertRecording(p, sentS, 'stopped by SIGTERM');
    console.log(`# SIGTERM after ~${sentS.toFixed(2)} s: ${p.packets} frames, ${p.durationS.toFixed(3)} s`);
  });
});
