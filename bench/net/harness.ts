/// <reference lib="dom" />
// (DOM types are only for the code passed to page.evaluate(), which runs in Chromium.)
/**
 * One bad-network session, shared by `npm run bench:net` and the CI test
 * (test/e2e/bad-network.test.ts):
 *
 *   Chromium "tx" (room page, fake camera)  ─┐                      ┌─> facecast SFU (child process,
 *   Chromium "rx" (room page, fake camera)  ─┴─> TurnRelay (impairs) ┘    `serve --ice-server turn:… --rtc-ports …`)
 *
 * Both pages run with `?relay=1` (iceTransportPolicy 'relay'), so every packet
 * between them and the SFU, both ways, crosses the relay and its impairment. The
 * SFU gets the relay as its `--ice-server` (that is how the pages learn it, in
 * `welcome`), but the relay refuses the SFU's own allocation (it comes from the
 * SFU's `--rtc-ports` range, outside the kernel's ephemeral range that Chromium's
 * sockets use), so the SFU has host candidates only and packets cross the relay
 * once, not twice. rx's view of tx is measured from rx's RTCPeerConnection
 * (inbound-rtp video, sampled every 50 ms in the page) and the SFU's /api/state.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { launchBrowser, type LaunchedBrowser } from '../../test/helpers/browser.js';
import { NO_IMPAIRMENT, TurnRelay, type Impairment, type RelayStats } from './relay.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The SFU's UDP ports: below the ephemeral range (32768-60999) that Chromium's sockets get, so the relay can tell them apart. */
export const SFU_RTC_PORTS: [number, number] = [20000, 20999];
const SAMPLE_MS = 50;

/** What rx's RTCPeerConnection says about the video it receives from tx (inbound-rtp), plus the selected candidate pair. */
export interface InboundVideo {
  t: number;
  framesDecoded: number;
  framesPerSecond: number | null;
  freezeCount: number;
  totalFreezesDuration: number;
  nackCount: number;
  pliCount: number;
  packetsLost: number;
  packetsReceived: number;
  frameWidth: number | null;
  localCandidateType: string | null;
  remoteCandidateType: string | null;
}

/** What the SFU says about rx's subscription to tx's video, and tx's published video. */
export interface SfuCounters {
  nacksReceived: number;
  nacksAnswered: number;
  retransmissions: number;
  keyframeRequestsReceived: number;
  /** PLIs the SFU sent tx (keyframe requests for tx's video). */
  keyframeRequestsSent: number;
  /** rx's subscription to tx's video: NACK messages in, retransmitted packets, NACKed packets no longer in the cache, PLI/FIR in. */
  subNacks: number;
  subRetransmissions: number;
  subNackMisses: number;
  subKeyframeRequests: number;
}

export interface Window {
  from: number;
  to: number;
  framesDecoded: number;
  /** framesDecoded / seconds. */
  decodedFps: number;
  /** Longest time between two increases of framesDecoded (sampled every 50 ms), ms. */
  longestGapMs: number;
  freezeCount: number;
  totalFreezesDurationS: number;
  nackCount: number;
  pliCount: number;
  packetsLost: number;
  packetsReceived: number;
  sfu: SfuCounters;
  relay: RelayStats;
  /** Median of Chromium's framesPerSecond over the window. */
  medianFps: number | null;
}

export interface NetSession {
  relay: TurnRelay;
  url: string;
  tx: Page;
  rx: Page;
  /** rx's inbound-rtp video now. */
  inbound(): Promise<InboundVideo | null>;
  /** The SFU's counters now. */
  sfu(): Promise<SfuCounters>;
  /** Times (Date.now()) at which rx's framesDecoded was seen to grow, with the count. */
  frameTimes(): Promise<{ t: number; f: number }[]>;
  /** Times (Date.now(), ±50 ms) at which rx's pliCount was seen to grow, with the count. */
  pliTimes(): Promise<{ t: number; n: number }[]>;
  /** Measure from a mark taken with mark() to now. */
  mark(): Promise<Mark>;
  since(mark: Mark): Promise<Window>;
  close(): Promise<void>;
}

export interface Mark {
  t: number;
  inbound: InboundVideo;
  sfu: SfuCounters;
  relay: RelayStats;
}

export interface SessionOptions {
  y4m: string;
  room?: string;
  /** Impairment while connecting (default none). */
  impairment?: Impairment;
  /** Give up connecting after this long (default 60 s). */
  connectTimeoutMs?: number;
  log?: (line: string) => void;
}

/** `facecast serve` in a child process, with the relay as its ICE server. */
async function startSfu(relay: TurnRelay): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/server/cli.ts', 'serve', '--port', '0', '--log-level', 'info', '--ice-server', relay.url, '--rtc-ports', SFU_RTC_PORTS.join('-')],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // Never outlive this process, however it ends (an uncaught exception, --test-force-exit).
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + String(d)).slice(-64_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the SFU did not start in 30 s: ${out}`));
    }, 30_000);
    const onData = () => {
      const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the SFU exited (${code}): ${out}`));
    });
  });
  return { child, url, output: () => out };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 8_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Installed in rx: samples inbound-rtp video every 50 ms; keeps the times framesDecoded grew.
 * Plain JavaScript in a string: functions compiled by tsx carry `__name` helpers that do not exist in the page.
 */
const SAMPLER = `(() => {
  if (window.__net) return;
  const net = { frames: [], plis: [], last: null, busy: false, error: null };
  window.__net = net;
  setInterval(async () => {
    const pc = window.facecastRoom && window.facecastRoom.pc;
    if (!pc || net.busy) return;
    net.busy = true;
    try {
      const report = await pc.getStats();
      const t = Date.now();
      let inbound, pairId;
      report.forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'video') inbound = r;
        if (r.type === 'transport' && typeof r.selectedCandidatePairId === 'string') pairId = r.selectedCandidatePairId;
      });
      if (!inbound) return;
      const pair = pairId ? report.get(pairId) : undefined;
      const cand = (id) => (typeof id === 'string' && report.get(id) ? report.get(id).candidateType : null);
      const num = (k) => (typeof inbound[k] === 'number' ? inbound[k] : 0);
      const f = num('framesDecoded');
      const lastF = net.frames.length ? net.frames[net.frames.length - 1].f : -1;
      if (f !== lastF) net.frames.push({ t, f });
      const p = num('pliCount');
      if (p !== (net.plis.length ? net.plis[net.plis.length - 1].n : 0)) net.plis.push({ t, n: p });
      net.last = {
        t,
        framesDecoded: f,
        framesPerSecond: typeof inbound.framesPerSecond === 'number' ? inbound.framesPerSecond : null,
        freezeCount: num('freezeCount'),
        totalFreezesDuration: num('totalFreezesDuration'),
        nackCount: num('nackCount'),
        pliCount: num('pliCount'),
        packetsLost: num('packetsLost'),
        packetsReceived: num('packetsReceived'),
        frameWidth: typeof inbound.frameWidth === 'number' ? inbound.frameWidth : null,
        localCandidateType: pair ? cand(pair.localCandidateId) : null,
        remoteCandidateType: pair ? cand(pair.remoteCandidateId) : null,
      };
    } catch (err) {
      net.error = String(err);
    } finally {
      net.busy = false;
    }
  }, ${SAMPLE_MS});
})()`;

function installSampler(page: Page): Promise<void> {
  return page.evaluate(SAMPLER);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Longest time without a new decoded frame in [from, to], from the sampled increase times. */
export function longestGap(frames: { t: number; f: number }[], from: number, to: number): number {
  let prev = from;
  let longest = 0;
  for (const { t } of frames) {
    if (t <= from) continue;
    if (t > to) break;
    longest = Math.max(longest, t - prev);
    prev = t;
  }
  return Math.max(longest, to - prev);
}

export async function startNetSession(opts: SessionOptions): Promise<NetSession> {
  const log = opts.log ?? (() => {});
  const room = opts.room ?? 'badnet';
  const relay = new TurnRelay({
    username: 'bench',
    password: randomBytes(9).toString('base64url'),
    impairment: opts.impairment ?? NO_IMPAIRMENT,
    refuseClient: (_address, port) => port >= SFU_RTC_PORTS[0] && port <= SFU_RTC_PORTS[1],
  });
  let sfu: Awaited<ReturnType<typeof startSfu>> | undefined;
  const browsers: LaunchedBrowser[] = [];
  const close = async () => {
    await Promise.all(browsers.map((b) => b.close().catch(() => {})));
    if (sfu) await stopChild(sfu.child);
    await relay.close();
  };
  try {
    await relay.start();
    sfu = await startSfu(relay);
    const url = sfu.url;
    log(`relay ${relay.url.replace(/:[^:@]+@/, ':***@')}, SFU ${url}`);
    // One browser per page: a page that is not the front tab gets no video frame callbacks,
    // and the room page's compositor (canvas.captureStream) then sends 1-2 fps.
    const q = 'detector=none&audio=0&simulcast=0&relay=1';
    browsers.push(await launchBrowser({ y4m: opts.y4m }));
    const tx = await browsers[0]!.context.newPage();
    await tx.goto(`${url}/room/${room}?name=tx&${q}`);
    browsers.push(await launchBrowser({ y4m: opts.y4m }));
    const rx = await browsers[1]!.context.newPage();
    await rx.goto(`${url}/room/${room}?name=rx&${q}`);
    await installSampler(rx);

    const inbound = () => rx.evaluate(() => ((window as unknown as { __net?: { last: unknown } }).__net?.last ?? null) as InboundVideo | null);
    const state = async () => {
      const res = await fetch(`${url}/api/state`);
      return (await res.json()) as {
        peers: {
          name: string;
          nacksReceived: number;
          nacksAnswered: number;
          retransmissions: number;
          keyframeRequestsReceived: number;
          tracks: { kind: string; keyframeRequestsSent: number }[];
          subscriptions: { kind: string; nacksIn: number; retransmissions: number; nackMisses: number; keyframeRequestsIn: number }[];
        }[];
      };
    };
    const sfuCounters = async (): Promise<SfuCounters> => {
      const peers = (await state()).peers;
      const r = peers.find((p) => p.name === 'rx');
      const t = peers.find((p) => p.name === 'tx');
      const sub = r?.subscriptions.find((s) => s.kind === 'video');
      return {
        nacksReceived: r?.nacksReceived ?? 0,
        nacksAnswered: r?.nacksAnswered ?? 0,
        retransmissions: r?.retransmissions ?? 0,
        keyframeRequestsReceived: r?.keyframeRequestsReceived ?? 0,
        keyframeRequestsSent: t?.tracks.find((x) => x.kind === 'video')?.keyframeRequestsSent ?? 0,
        subNacks: sub?.nacksIn ?? 0,
        subRetransmissions: sub?.retransmissions ?? 0,
        subNackMisses: sub?.nackMisses ?? 0,
        subKeyframeRequests: sub?.keyframeRequestsIn ?? 0,
      };
    };
    const pliTimes = () => rx.evaluate(() => (window as unknown as { __net?: { plis: { t: number; n: number }[] } }).__net?.plis ?? []);
    const frameTimes = () => rx.evaluate(() => (window as unknown as { __net?: { frames: { t: number; f: number }[] } }).__net?.frames ?? []);

    // Connected through the relay, and rx decodes tx.
    const deadline = Date.now() + (opts.connectTimeoutMs ?? 60_000);
    for (;;) {
      const v = await inbound();
      if (v && v.framesDecoded >= 30) {
        if (v.localCandidateType !== 'relay') throw new Error(`rx's selected candidate pair is not relayed: local ${v.localCandidateType}, remote ${v.remoteCandidateType}`);
        break;
      }
      if (Date.now() > deadline) {
        const roomState = await rx.evaluate(() => {
          const r = (window as unknown as { facecastRoom?: { status: string; tiles(): unknown; serverErrors: unknown } }).facecastRoom;
          return r ? { status: r.status, tiles: r.tiles(), serverErrors: r.serverErrors } : null;
        });
        const netErr = await rx.evaluate(() => (window as unknown as { __net?: { error?: string } }).__net?.error ?? null);
        throw new Error(
          `sampler error ${netErr}; rx did not decode 30 frames of tx within ${opts.connectTimeoutMs ?? 60_000} ms: inbound ${JSON.stringify(v)}, room ${JSON.stringify(roomState)}, ` +
            `relay ${JSON.stringify(relay.stats)}, SFU log tail: ${sfu.output().slice(-2000)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }

    const mark = async (): Promise<Mark> => {
      const [v, s] = await Promise.all([inbound(), sfuCounters()]);
      return { t: Date.now(), inbound: v!, sfu: s, relay: structuredClone(relay.stats) };
    };
    const since = async (m: Mark): Promise<Window> => {
      const now = await mark();
      const frames = await frameTimes();
      const a = m.inbound;
      const b = now.inbound;
      const seconds = (now.t - m.t) / 1000;
      const fpsSamples: number[] = [];
      // Chromium's own framesPerSecond, from the samples we keep (only the latest is kept, so sample the frame list instead).
      for (let t = m.t + 1000; t <= now.t; t += 1000) {
        const inSecond = frames.filter((x) => x.t > t - 1000 && x.t <= t);
        if (inSecond.length > 0) {
          const before = frames.filter((x) => x.t <= t - 1000).at(-1)?.f ?? inSecond[0]!.f;
          fpsSamples.push(inSecond.at(-1)!.f - before);
        } else fpsSamples.push(0);
      }
      const diff = (k: keyof SfuCounters) => now.sfu[k] - m.sfu[k];
      const rd = (d: 'up' | 'down') => {
        const x = now.relay[d];
        const y = m.relay[d];
        return {
          packets: x.packets - y.packets,
          forwarded: x.forwarded - y.forwarded,
          droppedLoss: x.droppedLoss - y.droppedLoss,
          droppedOutage: x.droppedOutage - y.droppedOutage,
          reordered: x.reordered - y.reordered,
        };
      };
      return {
        from: m.t,
        to: now.t,
        framesDecoded: b.framesDecoded - a.framesDecoded,
        decodedFps: (b.framesDecoded - a.framesDecoded) / seconds,
        longestGapMs: longestGap(frames, m.t, now.t),
        freezeCount: b.freezeCount - a.freezeCount,
        totalFreezesDurationS: b.totalFreezesDuration - a.totalFreezesDuration,
        nackCount: b.nackCount - a.nackCount,
        pliCount: b.pliCount - a.pliCount,
        packetsLost: b.packetsLost - a.packetsLost,
        packetsReceived: b.packetsReceived - a.packetsReceived,
        sfu: {
          nacksReceived: diff('nacksReceived'),
          nacksAnswered: diff('nacksAnswered'),
          retransmissions: diff('retransmissions'),
          keyframeRequestsReceived: diff('keyframeRequestsReceived'),
          keyframeRequestsSent: diff('keyframeRequestsSent'),
          subNacks: diff('subNacks'),
          subRetransmissions: diff('subRetransmissions'),
          subNackMisses: diff('subNackMisses'),
          subKeyframeRequests: diff('subKeyframeRequests'),
        },
        relay: { up: rd('up'), down: rd('down'), allocations: now.relay.allocations, refusedAllocations: now.relay.refusedAllocations, errors: now.relay.errors },
        medianFps: median(fpsSamples),
      };
    };

    return { relay, url, tx, rx, inbound, sfu: sfuCounters, frameTimes, pliTimes, mark, since, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * After an outage that ended at `end` (Date.now()): ms from then to the first newly
 * decoded frame, or null if none (yet). That first frame can be a stale one: a frame
 * that was waiting for a retransmission when the outage began and completes as soon
 * as NACKs get through again, with nothing decodable after it until a keyframe.
 */
export function recoveryMs(frames: { t: number; f: number }[], end: number, until = Infinity): number | null {
  const first = frames.find((x) => x.t > end && x.t <= until);
  return first ? first.t - end : null;
}

/**
 * Video resumed for good: ms from `end` to the first newly decoded frame after which at
 * least `run` more frames are decoded within `withinMs` (default 10 within 1 s), or
 * null if that has not happened (yet).
 */
export function resumedMs(frames: { t: number; f: number }[], end: number, run = 10, withinMs = 1000): number | null {
  for (let i = 0; i < frames.length; i++) {
    const a = frames[i]!;
    if (a.t <= end) continue;
    // The count at a.t is the first new frame(s); look for `run` more within the window.
    if (frames.some((b) => b.t > a.t && b.t <= a.t + withinMs && b.f >= a.f + run)) return a.t - end;
  }
  return null;
}
