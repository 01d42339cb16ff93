/**
 * A fuzz of the WebSocket layer itself, against `facecast serve` started as a child
 * process with the CLI's defaults (room workers, one per core): raw frames written on a
 * TCP socket, each case before the first message and after a `join`. After every case
 * /healthz answers and a call next to it (a werift publisher and a subscriber in one
 * room) keeps flowing; the process never exits.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../helpers/server.js';
import { Vp8Source } from '../helpers/vp8-source.js';
import { TestClient } from '../helpers/werift-client.js';

const MAX_PAYLOAD = 4 * 64 * 1024; // the server's ws maxPayload (4x the protocol's message limit)

interface FrameSpec {
  fin?: boolean;
  rsv?: number;
  opcode: number;
  payload?: Buffer;
  mask?: boolean;
  /** Declare this length instead of the payload's (64-bit form). */
  declared?: bigint;
}

function frame({ fin = true, rsv = 0, opcode, payload = Buffer.alloc(0), mask = true, declared }: FrameSpec): Buffer {
  const head = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  const m = mask ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (declared !== undefined) {
    head.push(m | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(declared);
  } else if (payload.length < 126) head.push(m | payload.length);
  else if (payload.length < 65536) {
    head.push(m | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(payload.length);
  } else {
    head.push(m | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(BigInt(payload.length));
  }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, payload]);
  const key = randomBytes(4);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i]! ^= key[i & 3]!;
  return Buffer.concat([Buffer.from(head), ext, key, masked]);
}
const text = (s: string | Buffer, more: Partial<FrameSpec> = {}) => frame({ opcode: 1, payload: Buffer.isBuffer(s) ? s : Buffer.from(s), ...more });
const closeFrame = (code: number, reason: Buffer = Buffer.alloc(0)) => {
  const p = Buffer.alloc(2);
  p.writeUInt16BE(code);
  return frame({ opcode: 8, payload: Buffer.concat([p, reason]) });
};

/** A raw client: the upgrade done by hand, then whatever bytes a case writes; the server's frames parsed. */
class RawWs {
  readonly frames: { opcode: number; payload: Buffer }[] = [];
  private buf = Buffer.alloc(0);
  private upgraded = false;
  ended = false;
  readonly done: Promise<void>;
  constructor(readonly sock: Socket) {
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('error', () => undefined);
    this.done = new Promise((resolve) => sock.once('close', () => ((this.ended = true), resolve())));
  }
  static async open(port: number): Promise<RawWs> {
    const sock = connect(port, '127.0.0.1');
    const ws = new RawWs(sock);
    await new Promise<void>((resolve, reject) => (sock.once('connect', resolve), sock.once('error', reject)));
    sock.write(
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    await waitFor(() => ws.upgraded || ws.ended, 5000, 'the upgrade');
    assert.ok(ws.upgraded, 'upgraded');
    await waitFor(() => ws.messages().some((m) => m.type === 'welcome'), 5000, 'welcome');
    return ws;
  }
  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    if (!this.upgraded) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      assert.match(this.buf.subarray(0, end).toString(), /^HTTP\/1\.1 101/);
      this.upgraded = true;
      this.buf = this.buf.subarray(end + 4);
    }
    for (;;) {
      if (this.buf.length < 2) return;
      let len = this.buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      if (this.buf.length < off + len) return;
      this.frames.push({ opcode: this.buf[0]! & 0x0f, payload: this.buf.subarray(off, off + len) });
      this.buf = this.buf.subarray(off + len);
    }
  }
  messages(): { type: string; code?: string }[] {
    return this.frames.filter((f) => f.opcode === 1).map((f) => JSON.parse(f.payload.toString()) as { type: string; code?: string });
  }
  closeCode(): number | undefined {
    const c = this.frames.find((f) => f.opcode === 8);
    return c && c.payload.length >= 2 ? c.payload.readUInt16BE(0) : c ? 1005 : undefined;
  }
  pongs(): number {
    return this.frames.filter((f) => f.opcode === 10).length;
  }
}

/** What a case must end with: a close frame with one of these codes, or the socket still open. */
type Expect = { close: number[] } | 'open';
interface Case {
  name: string;
  bytes: () => Buffer[];
  expect: Expect;
}

const bigText = (n: number) => Buffer.alloc(n, 0x61);
const cases: Case[] = [
  { name: 'a 1 MiB text frame', bytes: () => [text(bigText(1024 * 1024))], expect: { close: [1009] } },
  { name: 'a 1 MiB binary frame', bytes: () => [frame({ opcode: 2, payload: bigText(1024 * 1024) })], expect: { close: [1009] } },
  { name: 'a text frame of exactly maxPayload (too large for the protocol: an error, socket open)', bytes: () => [text(bigText(MAX_PAYLOAD))], expect: 'open' },
  { name: 'a text frame of maxPayload + 1', bytes: () => [text(bigText(MAX_PAYLOAD + 1))], expect: { close: [1009] } },
  { name: 'a binary frame of 100 KiB (an error, socket open)', bytes: () => [frame({ opcode: 2, payload: bigText(100 * 1024) })], expect: 'open' },
  { name: 'a declared length of 2^53 + 1', bytes: () => [frame({ opcode: 1, declared: 2n ** 53n + 1n })], expect: { close: [1009] } },
  { name: 'a declared length of 2^63', bytes: () => [frame({ opcode: 2, declared: 2n ** 63n })], expect: { close: [1009] } },
  { name: 'a declared length of 2^64 - 1', bytes: () => [frame({ opcode: 1, declared: 2n ** 64n - 1n })], expect: { close: [1009] } },
  { name: 'opcode 3 (reserved data)', bytes: () => [frame({ opcode: 3, payload: Buffer.from('x') })], expect: { close: [1002] } },
  { name: 'opcode 0xB (reserved control)', bytes: () => [frame({ opcode: 0xb })], expect: { close: [1002] } },
  { name: 'invalid UTF-8 in a text frame', bytes: () => [text(Buffer.from([0x7b, 0xff, 0xfe, 0xc3, 0x28]))], expect: { close: [1007] } },
  { name: 'close code 999', bytes: () => [closeFrame(999)], expect: { close: [1002] } },
  { name: 'close code 1005 (may not be sent)', bytes: () => [closeFrame(1005)], expect: { close: [1002] } },
  { name: 'close code 5000', bytes: () => [closeFrame(5000)], expect: { close: [1002] } },
  { name: 'a close frame with a 1-byte payload', bytes: () => [frame({ opcode: 8, payload: Buffer.from([3]) })], expect: { close: [1002] } },
  { name: 'a close reason of invalid UTF-8', bytes: () => [closeFrame(1000, Buffer.from([0xff, 0xfe]))], expect: { close: [1007] } },
  { name: 'an unmasked frame', bytes: () => [text('{"type":"join","room":"x"}', { mask: false })], expect: { close: [1002] } },
  { name: 'RSV1 set (no extension agreed)', bytes: () => [text('{}', { rsv: 4 })], expect: { close: [1002] } },
  { name: 'RSV2 set', bytes: () => [text('{}', { rsv: 2 })], expect: { close: [1002] } },
  { name: 'RSV3 set', bytes: () => [text('{}', { rsv: 1 })], expect: { close: [1002] } },
  {
    name: 'a fragmented text message with a ping between its fragments (valid)',
    bytes: () => [
      text('{"type":', { fin: false }),
      frame({ opcode: 9, payload: Buffer.from('p') }),
      frame({ opcode: 0, payload: Buffer.from('"tile","name":"a",'), fin: false }),
      frame({ opcode: 0, payload: Buffer.from('"height":100}') }),
    ],
    expect: 'open',
  },
  { name: 'a continuation with no message started', bytes: () => [frame({ opcode: 0, payload: Buffer.from('x') })], expect: { close: [1002] } },
  { name: 'a new text frame inside a fragmented message', bytes: () => [text('{"a":', { fin: false }), text('1}')], expect: { close: [1002] } },
  {
    name: 'interleaved text and binary fragments',
    bytes: () => [text('{"a":', { fin: false }), frame({ opcode: 2, payload: Buffer.from('zz'), fin: false })],
    expect: { close: [1002] },
  },
  { name: 'a fragmented ping (FIN clear on a control frame)', bytes: () => [frame({ opcode: 9, fin: false })], expect: { close: [1002] } },
  { name: 'a ping of 126 bytes', bytes: () => [frame({ opcode: 9, payload: bigText(126) })], expect: { close: [1002] } },
  {
    name: 'fragments that add up to more than maxPayload',
    bytes: () => [text(bigText(MAX_PAYLOAD / 2), { fin: false }), frame({ opcode: 0, payload: bigText(MAX_PAYLOAD / 2), fin: false }), frame({ opcode: 0, payload: bigText(16) })],
    expect: { close: [1009] },
  },
  {
    name: '2000 fragments of one byte (a valid, slow message)',
    bytes: () => [
      text('{', { fin: false }),
      ...Array.from({ length: 1998 }, () => frame({ opcode: 0, payload: Buffer.from(' '), fin: false })),
      frame({ opcode: 0, payload: Buffer.from('}') }),
    ],
    expect: 'open',
  },
  { name: 'junk bytes', bytes: () => [randomBytes(64).fill(0xff, 0, 1)], expect: { close: [1002, 1009] } },
  { name: 'a frame cut short, then the socket ends', bytes: () => [text(bigText(100)).subarray(0, 20)], expect: 'open' },
  {
    name: 'a ping flood: 2000 pings at once',
    bytes: () => Array.from({ length: 2000 }, (_, i) => frame({ opcode: 9, payload: Buffer.from(String(i)) })),
    expect: { close: [1008] },
  },
];

describe('WebSocket fuzz against `facecast serve` with the CLI defaults (room workers; child process, 127.0.0.1)', () => {
  let child: ChildProcess;
  let port = 0;
  let base = '';
  let out = '';
  let exited: number | null | undefined;
  let pub: TestClient;
  let viewer: TestClient;
  let sending: NodeJS.Timeout | undefined;
  const tally = { cases: 0, closedAsExpected: 0, leftOpen: 0, crashes: 0 };

  before(async () => {
    child = spawn(process.execPath, ['--import', 'tsx', 'src/server/cli.ts', 'serve', '--port', '0', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (out = (out + String(d)).slice(-200_000)));
    child.stderr!.on('data', (d) => (out = (out + String(d)).slice(-200_000)));
    child.once('exit', (code) => (exited = code));
    base = await waitFor(() => /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out)?.[1], 20_000, 'the CLI to listen');
    port = Number(new URL(base).port);
    const state = (await (await fetch(`${base}/api/state`)).json()) as { rooms: unknown[] };
    assert.deepEqual(state.rooms, []);
    // The call next to the fuzz: a publisher and a subscriber in one room.
    pub = new TestClient(base, { keep: false });
    await pub.join('live', 'pub');
    await pub.connect();
    const source = new Vp8Source();
    sending = setInterval(() => {
      for (const p of source.nextFrame()) pub.sendRtp(p);
    }, 33);
    viewer = new TestClient(base);
    await viewer.join('live', 'viewer');
    await viewer.subscribeOnly();
    await waitFor(() => viewer.received.length > 30, 10_000, 'the call to flow');
  });

  after(async () => {
    clearInterval(sending);
    await viewer?.close().catch(() => undefined);
    await pub?.close().catch(() => undefined);
    child?.kill('SIGTERM');
    await new Promise((r) => (exited !== undefined ? r(undefined) : child?.once('exit', r)));
    console.log(`# websocket fuzz: ${JSON.stringify(tally)}, viewer packets ${viewer?.received.length}`);
  });

  /** After a case: the process lives, /healthz answers, the call moves on. */
  const stillServing = async (what: string) => {
    assert.equal(exited, undefined, `the server exited after ${what}: ${out.slice(-3000)}`);
    // The CLI logs (and survives) errors nothing else caught: none may come from client input.
    assert.doesNotMatch(out, /uncaught|unhandled rejection|room worker (crashed|exited)/, `after ${what}`);
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200, `/healthz after ${what}`);
    const before = viewer.received.length;
    await waitFor(() => viewer.received.length > before + 5, 5000, `the call to keep flowing after ${what}`);
  };

  for (const state of ['first message', 'after join'] as const) {
    it(`${cases.length} malformed or hostile frame sequences, ${state}: each gets its close code (or is taken), the server and the call go on`, async () => {
      for (const c of cases) {
        tally.cases++;
        const ws = await RawWs.open(port);
        if (state === 'after join') {
          ws.sock.write(text(JSON.stringify({ type: 'join', room: `fuzz-${tally.cases}`, name: 'f' })));
          await waitFor(() => ws.messages().some((m) => m.type === 'joined'), 5000, `joined before ${c.name}`);
        }
        for (const b of c.bytes()) ws.sock.write(b);
        if (c.expect === 'open') {
          await new Promise((r) => setTimeout(r, 300));
          assert.equal(ws.closeCode(), undefined, `${c.name} (${state}): closed with ${ws.closeCode()}`);
          tally.leftOpen++;
        } else {
          const codes = c.expect.close;
          await waitFor(() => ws.closeCode() !== undefined, 5000, `a close frame after ${c.name} (${state})`);
          assert.ok(codes.includes(ws.closeCode()!), `${c.name} (${state}): close ${ws.closeCode()}, expected ${codes.join(' or ')}`);
          if (c.name.startsWith('a ping flood')) {
            // Answered up to the message rate's burst (100 at the default 50/s), not all 2000.
            assert.ok(ws.pongs() > 0 && ws.pongs() <= 150, `${ws.pongs()} pongs to 2000 pings`);
          }
          tally.closedAsExpected++;
        }
        ws.sock.destroy();
        await stillServing(`${c.name} (${state})`);
      }
    });
  }

  /** Write raw bytes to the HTTP port; the status line of the answer ('' when the socket closed without one). */
  const rawHttp = (chunks: (string | Buffer)[], opts: { gapMs?: number; waitMs?: number } = {}) =>
    new Promise<string>((resolve) => {
      const sock = connect(port, '127.0.0.1');
      let got = '';
      const finish = () => (sock.destroy(), resolve(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? ''));
      const timer = setTimeout(finish, opts.waitMs ?? 5000);
      sock.on('data', (d) => (got += String(d)));
      sock.on('error', () => undefined);
      sock.on('close', () => (clearTimeout(timer), finish()));
      sock.on('connect', async () => {
        for (const c of chunks) {
          if (sock.destroyed) return;
          sock.write(c);
          if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
        }
      });
    });

  it('HTTP: bad methods and paths on every route (incl. WHIP/WHEP and recording, forwarded to workers), oversized headers and bodies, broken framing: no 5xx, the server and the call go on', async () => {
    const paths = [
      '/',
      '/healthz',
      '/api/state',
      '/metrics',
      '/room/a',
      '/room/bad%20name',
      '/watch/',
      '/ws',
      '/whip/r1',
      '/whep/r1',
      '/whip/r1/00000000-0000-0000-0000-000000000000',
      '/whip/%ZZ',
      '/whep/' + 'x'.repeat(300),
      '/api/rooms/r1/participants/p/recording',
      '/api/rooms/%ZZ/participants/p/recording',
      '/api/rooms/live/participants/pub/recording',
      '/../../etc/passwd',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/index.html?' + 'q'.repeat(4000),
    ];
    const methods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND', 'BREW'];
    const statuses = new Map<string, number>();
    for (const path of paths) {
      for (const method of methods) {
        tally.cases++;
        const status = await rawHttp([`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/sdp\r\ncontent-length: 5\r\nconnection: close\r\n\r\nv=0\r\n`]);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        assert.match(status, /^[1-4]\d\d$/, `${method} ${path}: status ${status || 'none'}`);
      }
    }
    await stillServing(`${paths.length * methods.length} method x path requests`);
    const framing: [string, (string | Buffer)[], RegExp][] = [
      ['headers over 16 KiB', [`GET / HTTP/1.1\r\nHost: x\r\nx-big: ${'a'.repeat(20 * 1024)}\r\n\r\n`], /^431$/],
      ['2000 small headers', [`GET / HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 2000 }, (_, i) => `x-${i}: y\r\n`).join('')}\r\n`], /^(200|431)$/],
      ['a request line of bytes', [Buffer.from([0x47, 0x45, 0x54, 0x20, 0x00, 0xff, 0x0d, 0x0a, 0x0d, 0x0a])], /^400$/],
      ['junk', [randomBytes(512)], /^(400|)$/],
      ['HTTP/9.9', ['GET / HTTP/9.9\r\nHost: x\r\n\r\n'], /^(400|505|)$/],
      ['a bad chunk size', ['POST /whip/r2 HTTP/1.1\r\nHost: x\r\ncontent-type: application/sdp\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'], /^400$/],
      ['content-length and chunked both', ['POST /whip/r2 HTTP/1.1\r\nHost: x\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n'], /^400$/],
      ['a negative content-length', ['POST /whip/r2 HTTP/1.1\r\nHost: x\r\ncontent-length: -1\r\n\r\n'], /^400$/],
      ['a body cut short (says 1000, sends 10, ends)', ['POST /whip/r2 HTTP/1.1\r\nHost: x\r\ncontent-type: application/sdp\r\ncontent-length: 1000\r\n\r\n0123456789'], /^$/],
      [
        'a 20 MiB WHIP body',
        [
          'POST /whip/r2 HTTP/1.1\r\nHost: x\r\ncontent-type: application/sdp\r\ncontent-length: 20971520\r\n\r\n',
          ...Array.from({ length: 20 }, () => Buffer.alloc(1024 * 1024, 0x61)),
        ],
        /^413$/,
      ],
      [
        'a 20 MiB recording-API body',
        [
          'POST /api/rooms/live/participants/pub/recording HTTP/1.1\r\nHost: x\r\ncontent-length: 20971520\r\n\r\n',
          ...Array.from({ length: 20 }, () => Buffer.alloc(1024 * 1024, 0x61)),
        ],
        /^[1-4]\d\d$/,
      ],
      ['a 2 MiB body on a static route', ['POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 2097152\r\n\r\n', Buffer.alloc(2 * 1024 * 1024, 0x61)], /^405$/],
    ];
    for (const [name, chunks, expected] of framing) {
      tally.cases++;
      const status = await rawHttp(chunks, { waitMs: 8000 });
      assert.match(status, expected, `${name}: status ${status || 'none'}`);
      await stillServing(name);
    }
    console.log(`# HTTP statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
  });

  it('HTTP: 30 slowloris clients trickling headers do not hold up others, and are cut off (408) by the 10 s header timeout', async () => {
    tally.cases++;
    const started = Date.now();
    const header = `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nx-slow: ${'s'.repeat(400)}\r\n\r\n`;
    const slow = Array.from({ length: 30 }, () => rawHttp(header.split(''), { gapMs: 50, waitMs: 25_000 }));
    await stillServing('30 slowloris clients (while they trickle)');
    const statuses = await Promise.all(slow);
    const took = Date.now() - started;
    assert.ok(
      statuses.every((s) => s === '408'),
      `slowloris answers: ${statuses.join(',')}`,
    );
    assert.ok(took < 20_000, `cut off after ${took} ms`);
    await stillServing('30 slowloris clients');
  });

  it('half-open sockets: TCP with no bytes, a handshake cut off, an upgrade then silence; then 1000 sockets opened and dropped', async () => {
    const quiet = Array.from({ length: 20 }, () => connect(port, '127.0.0.1').on('error', () => undefined));
    const partial = Array.from({ length: 20 }, () =>
      connect(port, '127.0.0.1', function (this: Socket) {
        this.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
      }).on('error', () => undefined),
    );
    const silent = await Promise.all(Array.from({ length: 20 }, () => RawWs.open(port)));
    await stillServing('60 half-open sockets');
    for (const s of [...quiet, ...partial]) s.destroy();
    for (const s of silent) s.sock.destroy();
    const deadline = Date.now() + 60_000;
    let opened = 0;
    for (let batch = 0; batch < 10 && Date.now() < deadline; batch++) {
      const socks = await Promise.all(Array.from({ length: 100 }, () => RawWs.open(port)));
      opened += socks.length;
      // Half are dropped without a close frame, half with one.
      socks.forEach((s, i) => {
        if (i % 2) s.sock.destroy();
        else s.sock.end(closeFrame(1000));
      });
    }
    assert.equal(opened, 1000);
    await stillServing('1000 sockets opened and dropped');
    const state = (await (await fetch(`${base}/api/state`)).json()) as { peers: { name: string }[] };
    await waitFor(async () => ((await (await fetch(`${base}/api/state`)).json()) as { peers: unknown[] }).peers.length === 2, 10_000, 'only the call left').catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(state.peers.map((p) => p.name))}`);
    });
  });
});
