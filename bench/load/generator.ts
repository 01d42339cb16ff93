/**
 * The load generator (its own process): real werift peers on 127.0.0.1 that
 * publish VP8 RTP (test/helpers/vp8-source.ts: ~30 fps, packets <= 1200 bytes,
 * keyframes every 3 s and on PLI) and receive what the SFU forwards.
 *
 * Each packet carries, in its last 12 bytes, a magic and the send time
 * (performance.now() of this process); receivers compute the added latency on
 * the same clock.
 *
 * Receivers are counting receivers: once connected, RTP datagrams are taken off
 * the ICE connection before werift's receive path (which would decrypt, parse and
 * route every packet and cost more CPU than the SFU itself): every datagram is
 * counted from its clear header, every `sampleEvery`-th one is decrypted with
 * the peer's own SRTP session to read the stamp. RTCP still goes to werift (PLI
 * reaches the publisher, the server gets its receiver reports).
 *
 * Protocol on stdout (one JSON object per line): {"phase":"start"} when the
 * measured window begins, {"phase":"end"} when it ends, then {"result":...}.
 * Input: one JSON argument (GeneratorArgs).
 */
import { Event, GenericNack, type RTCDtlsTransport, RtcpTransportLayerFeedback, type RtpPacket } from 'werift';
import { TestClient } from '../../test/helpers/werift-client.js';
import { Vp8Source } from '../../test/helpers/vp8-source.js';
import { waitFor } from '../../test/helpers/server.js';
import { WhepViewer, WhipPublisher } from '../../test/helpers/whip-client.js';

export interface GeneratorArgs {
  url: string;
  /** whep: one WHIP publisher into `url` (room `bench`), WHEP viewers spread over `viewerUrls` in turn (bench/cluster.ts). */
  scenario: 'echo' | 'fanout' | 'room' | 'whep';
  viewerUrls?: string[];
  /** echo: peers each echoing itself; room: participants; fanout: 1. */
  publishers: number;
  /** fanout: viewers of the one publisher. */
  subscribers: number;
  bitrateBps: number;
  /** fanout: this many more viewers that NACK their last 500 packets every 10 ms (not counted as receivers). */
  hostile?: number;
  /** Receivers NACK their gaps (see the file comment). */
  nack?: boolean;
  /** The first `count` receivers lose `rate` (0..1) of their RTP datagrams on the path. */
  lossy?: { count: number; rate: number };
  warmupS: number;
  durationS: number;
  sampleEvery: number;
}

export interface GeneratorResult {
  packetsSent: number;
  packetsExpected: number;
  /** RTP datagrams received, retransmissions included. */
  packetsReceived: number;
  /** Distinct packets received (each SSRC and sequence number once). */
  packetsDelivered: number;
  /** NACK messages the receivers sent (with `nack`). */
  nacksSent: number;
  latencySamples: number;
  latencyMs: { p50: number; p99: number; max: number };
  peers: number;
  setupMs: number;
  /** NACK messages the hostile viewers sent in the measured window. */
  hostileNacks: number;
}

const MAGIC = 0xfacecab1;
const STAMP_BYTES = 12;

function stamp(payload: Buffer, now: number): void {
  if (payload.length < 32) return;
  payload.writeUInt32BE(MAGIC, payload.length - STAMP_BYTES);
  payload.writeDoubleBE(now, payload.length - 8);
}

class Counter {
  received = 0;
  delivered = 0;
  nacks = 0;
  readonly latencies: number[] = [];
  counting = false;
}

/** A deterministic PRNG (mulberry32): the same losses in every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NACK_EVERY_MS = 30;
const NACK_TRIES = 10;
const NACK_GIVE_UP_MS = 1000;

/** One receiver's gaps, per SSRC, NACKed the way libwebrtc's NackModule does (see the file comment). */
class GapNacker {
  private readonly highest = new Map<number, number>();
  /** `ssrc:seq` -> first missed and tries so far. */
  private readonly missing = new Map<number, Map<number, { since: number; tries: number; last: number }>>();

  onPacket(ssrc: number, seq: number, now: number): void {
    const top = this.highest.get(ssrc);
    if (top === undefined) {
      this.highest.set(ssrc, seq);
      return;
    }
    const ahead = (seq - top) & 0xffff;
    if (ahead === 0) return;
    if (ahead < 0x8000) {
      if (ahead > 1 && ahead < 1000) {
        let gaps = this.missing.get(ssrc);
        if (!gaps) this.missing.set(ssrc, (gaps = new Map()));
        for (let s = (top + 1) & 0xffff; s !== seq; s = (s + 1) & 0xffff) gaps.set(s, { since: now, tries: 0, last: -Infinity });
      }
      this.highest.set(ssrc, seq);
    } else this.missing.get(ssrc)?.delete(seq);
  }

  /** The NACKs due now: [ssrc, lost sequence numbers]. */
  due(now: number): [number, number[]][] {
    const out: [number, number[]][] = [];
    for (const [ssrc, gaps] of this.missing) {
      const lost: number[] = [];
      for (const [seq, g] of gaps) {
        if (g.tries >= NACK_TRIES || now - g.since > NACK_GIVE_UP_MS) gaps.delete(seq);
        else if (now - g.last >= NACK_EVERY_MS) {
          g.tries++;
          g.last = now;
          lost.push(seq);
        }
      }
      if (lost.length) out.push([ssrc, lost]);
    }
    return out;
  }
}

interface ReceiveOptions {
  /** Every RTP datagram's clear header. */
  onRtp?: (ssrc: number, seq: number) => void;
  /** Lose this share of RTP datagrams on arrival. */
  dropRate?: number;
  seed?: number;
  nacker?: GapNacker;
}

/** Take RTP off the peer's ICE connection (see the file comment); RTCP still goes to werift. */
function countingReceiver(client: TestClient, counter: Counter, sampleEvery: number, opts: ReceiveOptions = {}): void {
  const { onRtp, dropRate = 0, nacker } = opts;
  const random = prng(opts.seed ?? 1);
  /** Distinct packets seen while counting: ssrc * 65536 + seq. */
  const seen = new Set<number>();
  const dtls = client.pc.dtlsTransports[0] as RTCDtlsTransport & { srtp: { decrypt(b: Buffer): Buffer } };
  const connection = dtls.iceTransport.connection as unknown as { onData: Event<[Buffer]> };
  const werift = connection.onData;
  const mine = new Event<[Buffer]>();
  connection.onData = mine;
  mine.subscribe((data: Buffer) => {
    const b1 = data[1]!;
    const isRtp = data.length > 12 && data[0]! >> 6 === 2 && !(b1 >= 192 && b1 <= 223);
    if (!isRtp) {
      werift.execute(data);
      return;
    }
    if (dropRate > 0 && random() < dropRate) return;
    const seq = data.readUInt16BE(2);
    const ssrc = data.readUInt32BE(8);
    onRtp?.(ssrc, seq);
    nacker?.onPacket(ssrc, seq, performance.now());
    if (!counter.counting) return;
    counter.received++;
    const key = ssrc * 65536 + seq;
    if (!seen.has(key)) {
      seen.add(key);
      counter.delivered++;
    }
    if (seq % sampleEvery !== 0) return;
    try {
      const plain = dtls.srtp.decrypt(data);
      if (plain.length >= 32 + 12 && plain.readUInt32BE(plain.length - STAMP_BYTES) === MAGIC) {
        counter.latencies.push(performance.now() - plain.readDoubleBE(plain.length - 8));
      }
    } catch {
      // not ours to judge: werift would drop it too
    }
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]!) as GeneratorArgs;
  const setupStart = performance.now();
  const counter = new Counter();
  const publishers: { client: { sendRtp(p: RtpPacket): void; pliListeners?: (() => void)[] }; source: Vp8Source; receivers: number }[] = [];
  const others: { close(): Promise<void> }[] = [];
  const receivers: TestClient[] = [];
  const all: TestClient[] = [];
  const hostile: TestClient[] = [];
  const newSource = (i: number) => new Vp8Source({ bitrate: args.bitrateBps, keyframeEvery: 90, ssrc: 0x10000 + i });

  if (args.scenario === 'echo') {
    for (let i = 0; i < args.publishers; i++) {
      const c = new TestClient(args.url, { keep: false });
      await c.connect();
      publishers.push({ client: c, source: newSource(i), receivers: 1 });
      receivers.push(c);
    }
  } else if (args.scenario === 'whep') {
    const pub = new WhipPublisher(args.url);
    await pub.publish('/whip/bench?name=publisher');
    publishers.push({ client: { sendRtp: (p) => pub.track.writeRtp(p) }, source: newSource(0), receivers: args.subscribers });
    others.push(pub);
    const urls = args.viewerUrls ?? [args.url];
    for (let i = 0; i < args.subscribers; i++) {
      const v = new WhepViewer(urls[i % urls.length]!);
      await v.watch('/whep/bench');
      others.push(v);
      receivers.push({ pc: v.pc } as TestClient);
    }
  } else if (args.scenario === 'fanout') {
    const c = new TestClient(args.url, { keep: false });
    await c.join('bench', 'publisher');
    await c.connect();
    publishers.push({ client: c, source: newSource(0), receivers: args.subscribers });
    for (let i = 0; i < args.subscribers; i++) {
      const s = new TestClient(args.url, { keep: false });
      await s.join('bench', `viewer-${i}`);
      await s.subscribeOnly();
      receivers.push(s);
    }
    for (let i = 0; i < (args.hostile ?? 0); i++) {
      const s = new TestClient(args.url, { keep: false });
      await s.join('bench', `hostile-${i}`);
      await s.subscribeOnly();
      hostile.push(s);
    }
    all.push(c);
  } else {
    for (let i = 0; i < args.publishers; i++) {
      const c = new TestClient(args.url, { keep: false });
      await c.join('bench', `p${i}`);
      await c.connect();
      publishers.push({ client: c, source: newSource(i), receivers: args.publishers - 1 });
      receivers.push(c);
    }
  }
  for (const r of [...receivers, ...hostile]) if (!all.includes(r) && args.scenario !== 'whep') all.push(r);
  for (const p of publishers) p.client.pliListeners?.push(() => p.source.requestKeyframe());
  // Every server offer answered (a room's subscriptions arrive by renegotiation).
  await waitFor(() => all.every((c) => c.pc.signalingState === 'stable'), 10_000, 'stable signaling');
  const nackers: { client: TestClient; nacker: GapNacker }[] = [];
  receivers.forEach((r, i) => {
    const nacker = args.nack ? new GapNacker() : undefined;
    if (nacker) nackers.push({ client: r, nacker });
    const dropRate = args.lossy && i < args.lossy.count ? args.lossy.rate : 0;
    countingReceiver(r, counter, args.sampleEvery, { dropRate, seed: i + 1, nacker });
  });
  const nackTimer = setInterval(() => {
    const now = performance.now();
    for (const { client, nacker } of nackers)
      for (const [ssrc, lost] of nacker.due(now)) {
        const dtls = client.pc.dtlsTransports[0]!;
        void dtls.sendRtcp([new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: ssrc, lost }) })]).catch(() => undefined);
        if (counter.counting) counter.nacks++;
      }
  }, 10);
  // Hostile viewers: NACK the 500 packets before the latest one they got, every 10 ms.
  let hostileNacks = 0;
  const hostileTimers = hostile.map((h) => {
    const last = { ssrc: 0, seq: -1 };
    countingReceiver(h, new Counter(), Number.MAX_SAFE_INTEGER, {
      onRtp: (ssrc, seq) => {
        last.ssrc = ssrc;
        last.seq = seq;
      },
    });
    const dtls = h.pc.dtlsTransports[0]!;
    return setInterval(() => {
      if (last.seq < 0) return;
      const lost = Array.from({ length: 500 }, (_, i) => (last.seq - i) & 0xffff);
      void dtls.sendRtcp([new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: last.ssrc, lost }) })]).catch(() => undefined);
      if (measuring) hostileNacks++;
    }, 10);
  });

  let sent = 0;
  let expected = 0;
  let measuring = false;
  const timer = setInterval(() => {
    for (const p of publishers) {
      for (const packet of p.source.nextFrame()) {
        stamp(packet.payload, performance.now());
        p.client.sendRtp(packet);
        if (measuring) {
          sent++;
          expected += p.receivers;
        }
      }
    }
  }, 1000 / 30);

  const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));
  const setupMs = performance.now() - setupStart;
  await sleep(args.warmupS);
  measuring = true;
  counter.counting = true;
  process.stdout.write(JSON.stringify({ phase: 'start' }) + '\n');
  await sleep(args.durationS);
  measuring = false;
  clearInterval(timer);
  for (const n of hostileTimers) clearInterval(n);
  process.stdout.write(JSON.stringify({ phase: 'end' }) + '\n');
  await sleep(0.5); // in flight
  counter.counting = false;
  clearInterval(nackTimer);
  const sorted = counter.latencies.sort((a, b) => a - b);
  const result: GeneratorResult = {
    packetsSent: sent,
    packetsExpected: expected,
    packetsReceived: counter.received,
    packetsDelivered: counter.delivered,
    nacksSent: counter.nacks,
    latencySamples: sorted.length,
    latencyMs: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN },
    peers: all.length,
    setupMs,
    hostileNacks,
  };
  process.stdout.write(JSON.stringify({ result }) + '\n');
  await Promise.race([Promise.all([...all, ...others].map((c) => c.close().catch(() => undefined))), sleep(5)]);
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`generator: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
