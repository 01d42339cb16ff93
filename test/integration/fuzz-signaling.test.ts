/**
 * Property-based fuzzing of the signaling protocol (fast-check), against a real
 * server on 127.0.0.1: malformed JSON, wrong shapes, wrong field types, unicode
 * and huge strings, oversized frames, out-of-order sequences and junk SDP.
 *
 * Properties:
 *  - every bad message gets exactly one `error` with a known code (the code
 *    `parseClientMessage` / `checkSdp` / the protocol's state rules predict), in
 *    order; frames over the socket limit (256 KiB) close that socket (1009);
 *  - nothing the server says fails the shared ServerMessage schema, and it never
 *    answers `internal`, logs an error, throws or leaves an unhandled rejection;
 *  - afterwards a fresh client still connects and gets its echo, /api/state
 *    answers, and the peers go back to 0 once the sockets close.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as fc from 'fast-check';
import { pino } from 'pino';
import WebSocket from 'ws';
import { ClientMessage, ErrorCode, MAX_MESSAGE_BYTES, parseClientMessage, ServerMessage, type ParseResult } from '../../src/protocol/messages.js';
import { startServer, type FacecastServer } from '../../src/server/facecast.js';
import { checkSdp, SfuError } from '../../src/sfu/errors.js';
import { waitFor } from '../helpers/server.js';
import { Vp8Source } from '../helpers/vp8-source.js';
import { TestClient } from '../helpers/werift-client.js';

/** The server's WebSocket frame limit (server.ts: maxPayload 4 * MAX_MESSAGE_BYTES). */
const WS_MAX_PAYLOAD = 4 * MAX_MESSAGE_BYTES;
const KNOWN_CODES = new Set<string>(ErrorCode.options);
/** Codes that come straight from parsing (synchronously, ahead of queued messages). */
const PARSE_CODES = new Set(['bad-json', 'bad-message', 'too-large']);

// ---------------------------------------------------------------------------
// Process-wide guards: anything unhandled while fuzzing fails the test.

const unhandled: string[] = [];
const onUnhandled = (err: unknown) => {
  unhandled.push(err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err));
};

function assertNothingUnhandled(): void {
  assert.deepEqual(unhandled, [], `unhandled errors/rejections during the fuzz:\n${unhandled.join('\n')}`);
}

/** Rethrow a fast-check failure with its (possibly megabytes long) counterexample cut short. */
async function check<T>(property: fc.IAsyncProperty<T>, params: fc.Parameters<T>): Promise<void> {
  try {
    await fc.assert(property, { endOnFailure: true, ...params });
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : '';
    const short = text.length > 4000 ? `${text.slice(0, 3000)}\n[... ${text.length - 4000} chars ...]\n${text.slice(-1000)}` : text;
    throw new Error(`${cause.slice(0, 4000)}\n\n${short}`);
  }
}

// ---------------------------------------------------------------------------
// Frames and the oracle.

interface Frame {
  data: string | Uint8Array;
  binary: boolean;
}

const text = (s: string): Frame => ({ data: s, binary: false });
const binary = (b: Uint8Array): Frame => ({ data: b, binary: true });
const frameBytes = (f: Frame) => (typeof f.data === 'string' ? Buffer.byteLength(f.data, 'utf8') : f.data.byteLength);
const describeFrame = (f: Frame) => {
  const s = typeof f.data === 'string' ? JSON.stringify(f.data) : `<binary ${Buffer.from(f.data).toString('hex')}>`;
  return `${f.binary ? 'binary' : 'text'} frame of ${frameBytes(f)} bytes: ${s.length > 300 ? `${s.slice(0, 300)}...` : s}`;
};

/** What the server's parser makes of a frame as it arrives (text goes over the wire as UTF-8). */
function oracle(f: Frame): ParseResult {
  if (typeof f.data !== 'string') return parseClientMessage(f.data);
  return parseClientMessage(Buffer.from(f.data, 'utf8').toString('utf8'));
}

// ---------------------------------------------------------------------------
// Arbitraries.

const KNOWN_TYPES = ['offer', 'answer', 'ice', 'negotiate', 'join', 'echo', 'tile'] as const;
const FIELDS: Record<(typeof KNOWN_TYPES)[number], string[]> = {
  offer: ['sdp'],
  answer: ['sdp'],
  ice: ['candidate'],
  negotiate: [],
  join: ['room', 'name', 'echo'],
  echo: ['enabled'],
  tile: ['name', 'width', 'height'],
};

const loneSurrogates = fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 8 });
/** 1k to 70k code units of one character (up to ~210 KB as UTF-8, more once JSON-escaped). */
const bigString = fc
  .tuple(fc.constantFrom('x', 'é', '😀', '一', '"', '\\', '\u0000', '\n'), fc.integer({ min: 1000, max: 70_000 }))
  .map(([c, n]) => c.repeat(Math.ceil(n / c.length)));
const hostileString = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: loneSurrogates },
  {
    weight: 2,
    arbitrary: fc.constantFrom('', ' ', '\u0000', '😀'.repeat(40), 'a'.repeat(2000), '__proto__', 'v=0\r\n', '../../etc/passwd', '%00', 'NaN', '\u202e', '\ufeff'),
  },
  { weight: 1, arbitrary: bigString },
);
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: hostileString },
  { weight: 2, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.constantFrom(-1, 1e308, -0, 0.5, 2 ** 53, 16385, Number.MAX_SAFE_INTEGER) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 2, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 2, arbitrary: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 }) },
  { weight: 2, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }) },
  {
    weight: 1,
    arbitrary: fc.record(
      {
        candidate: fc.jsonValue({ maxDepth: 1 }),
        sdpMid: fc.jsonValue({ maxDepth: 1 }),
        sdpMLineIndex: fc.jsonValue({ maxDepth: 1 }),
        usernameFragment: fc.jsonValue({ maxDepth: 1 }),
      },
      { requiredKeys: [] },
    ),
  },
);

const malformedJson = fc.oneof(
  fc.tuple(fc.json({ maxDepth: 3 }), fc.nat()).map(([j, n]) => j.slice(0, n % Math.max(1, j.length))),
  fc.tuple(fc.json({ maxDepth: 3 }), fc.nat(), fc.constantFrom('{', '}', '[', ']', ',', ':', '"', '\\', '\u0000', "'", 'NaN', 'undefined', '//', '\ud800')).map(([j, n, c]) => {
    const i = n % (j.length + 1);
    return j.slice(0, i) + c + j.slice(i);
  }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom(
    '',
    ' ',
    '{',
    '{"type": "offer", ',
    '{"type":"join","room":"a",}',
    "{'type':'join','room':'a'}",
    'NaN',
    'undefined',
    '\ufeff{"type":"negotiate"}',
    '{"type":"negotiate"}\u0000',
    '{"type":"negotiate"}{"type":"negotiate"}',
    '1e99999',
    '['.repeat(5000),
    '{"a":'.repeat(3000),
  ),
);

const wrongShape = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.record(
    {
      type: fc.oneof(
        fc.string({ maxLength: 12 }),
        fc.integer(),
        fc.constant(null),
        fc.constantFrom('OFFER', 'Offer', ' offer', 'offer\u0000', 'welcome', 'error', 'joined', '__proto__', 'constructor', 'toString', 'ïce'),
      ),
      sdp: fc.string({ maxLength: 20 }),
      room: fc.string({ maxLength: 20 }),
    },
    { requiredKeys: [] },
  ),
);

/** A known type with its fields (and some others) set to hostile values. */
const knownTypeWrongFields = fc
  .tuple(fc.constantFrom(...KNOWN_TYPES), fc.array(fc.tuple(fc.nat(), hostileValue), { minLength: 0, maxLength: 4 }), fc.boolean())
  .map(([type, fields, extraKey]) => {
    const names = [...FIELDS[type], ...(extraKey ? ['__proto__', 'constructor', 'type', 'candidate', 'x'] : [])];
    const obj: Record<string, unknown> = { type };
    for (const [i, v] of fields) if (names.length) obj[names[i % names.length]!] = v;
    return obj;
  });

/** Known types with unicode, emoji and control characters where names and SDP go. */
const unicodeFields = fc
  .tuple(fc.constantFrom(...KNOWN_TYPES), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 80 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 80 }))
  .map(([type, a, b]) => ({ type, sdp: a, room: a, name: b, candidate: { candidate: b, sdpMid: a }, enabled: a, width: b, height: 1 }));

/** Over MAX_MESSAGE_BYTES (in UTF-8 bytes, not code units) but within the socket limit. */
const oversized = fc
  .record({
    ch: fc.constantFrom('x', 'é', '😀', '一'),
    bytes: fc.integer({ min: MAX_MESSAGE_BYTES + 1, max: WS_MAX_PAYLOAD - 1024 }),
    type: fc.constantFrom(...KNOWN_TYPES, 'nope'),
    field: fc.constantFrom('sdp', 'room', 'candidate', 'pad'),
    asBinary: fc.boolean(),
  })
  .map(({ ch, bytes, type, field, asBinary }): Frame => {
    const s = JSON.stringify({ type, [field]: ch.repeat(Math.ceil(bytes / Buffer.byteLength(ch))) });
    return asBinary ? binary(new TextEncoder().encode(s)) : text(s);
  });

const json = (v: unknown) => JSON.stringify(v) ?? 'undefined';

/** Frames the parser must reject (parse failures only: they never change a session's state). */
const badFrame: fc.Arbitrary<Frame> = fc
  .oneof(
    { weight: 30, arbitrary: malformedJson.map(text) },
    { weight: 20, arbitrary: wrongShape.map((v) => text(json(v))) },
    { weight: 50, arbitrary: knownTypeWrongFields.map((v) => text(json(v))) },
    { weight: 20, arbitrary: unicodeFields.map((v) => text(json(v))) },
    { weight: 10, arbitrary: fc.uint8Array({ maxLength: 600 }).map(binary) },
    { weight: 10, arbitrary: fc.oneof(knownTypeWrongFields, wrongShape).map((v) => binary(new TextEncoder().encode(json(v)))) },
    { weight: 3, arbitrary: oversized },
  )
  .filter((f) => frameBytes(f) <= WS_MAX_PAYLOAD && !oracle(f).ok);

// --- Well-formed messages that are out of order (the session's state decides the answer).

const SDP_TEMPLATE = [
  'v=0',
  'o=- 13116362 0 IN IP4 0.0.0.0',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=extmap-allow-mixed',
  'a=msid-semantic:WMS *',
  'm=video 9 UDP/TLS/RTP/SAVPF 98',
  'c=IN IP4 0.0.0.0',
  'a=end-of-candidates',
  'a=ice-ufrag:4b54',
  'a=ice-pwd:9b1cad953b4f2f9de5d22f',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 30:8C:7F:35:58:07:B5:93:07:2D:A5:D1:D9:27:4B:44:E1:32:94:07:5D:D7:A3:A3:E4:10:71:28:2F:08:5A:2F',
  'a=setup:actpass',
  'a=sendrecv',
  'a=mid:0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=rtcp-mux',
  'a=ssrc:262610842 cname:817f194b-bfc5-46e6-8ce4-562fa0675c4c',
  'a=rtpmap:98 VP8/90000',
  'a=rtcp-fb:98 nack',
  'a=rtcp-fb:98 nack pli',
];

const GARBAGE_SDP_LINES = [
  'a=rtpmap:98 VP8/abc',
  'a=rtpmap:-1 VP8/90000',
  'a=rtpmap:98',
  'a=rtpmap:98 H264/90000/2/2',
  `a=fmtp:98 x=${'y'.repeat(5000)}`,
  'a=fmtp:98',
  'a=extmap:0 urn:ietf:params:rtp-hdrext:sdes:mid',
  'a=extmap:99999999999 foo',
  'a=extmap:x',
  'a=ssrc:abc cname:x',
  'a=ssrc:-1',
  'a=ssrc-group:FID 1',
  'a=ssrc-group:FID',
  'a=simulcast:send q;h;f',
  'a=simulcast:recv',
  'a=rid:h send',
  'a=rid:',
  'a=msid:',
  'a=msid:a b c d e',
  'm=video 9 UDP/TLS/RTP/SAVPF',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101 102 103 104 105',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
  'm=video 0 UDP/TLS/RTP/SAVPF 98',
  'm=',
  'a=sctp-port:-5',
  'a=max-message-size:1e309',
  'a=setup:foo',
  'a=setup:passive',
  'a=setup:active',
  'a=mid:',
  'a=mid:0',
  'a=mid:😀',
  'a=group:BUNDLE 0 1 2 3',
  'a=group:BUNDLE',
  'a=fingerprint:sha-1 zz',
  'a=fingerprint:md5 00',
  'a=fingerprint:',
  'a=ice-ufrag:',
  'a=ice-pwd:',
  'a=ice-lite',
  'a=rtcp-fb:* nack',
  'a=rtcp-fb:98 transport-cc ccm fir goog-remb',
  'a=recvonly',
  'a=inactive',
  'b=AS:-1',
  'c=IN IP4 0.0.0.0',
  'c=IN',
  `a=${'😀'.repeat(100)}`,
  'a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host',
  'a=candidate:1 1 udp x 127.0.0.1 x typ host',
  'a=candidate:garbage',
  '\u0000',
  '',
];

type SdpMutation =
  | { op: 'delete'; i: number }
  | { op: 'duplicate'; i: number }
  | { op: 'swap'; i: number; j: number }
  | { op: 'insert'; i: number; line: string }
  | { op: 'corrupt'; i: number; pos: number; ch: string }
  | { op: 'truncate'; at: number };

const sdpMutation: fc.Arbitrary<SdpMutation> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), i: fc.nat() }),
  fc.record({ op: fc.constant('duplicate' as const), i: fc.nat() }),
  fc.record({ op: fc.constant('swap' as const), i: fc.nat(), j: fc.nat() }),
  fc.record({
    op: fc.constant('insert' as const),
    i: fc.nat(),
    line: fc.oneof(
      fc.constantFrom(...GARBAGE_SDP_LINES),
      fc.string({ maxLength: 30 }).map((s) => `a=${s}`),
    ),
  }),
  fc.record({ op: fc.constant('corrupt' as const), i: fc.nat(), pos: fc.nat(), ch: fc.constantFrom('', ' ', '0', '9', '-', ':', 'x', '\u0000', '😀', '\r\n') }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);

/**
 * Network hygiene: a junk SDP must never name an address other than 127.0.0.1,
 * nor an mDNS name (werift would resolve `.local` candidates by multicast).
 */
function loopbackOnly(sdp: string): string {
  return sdp
    .split('\r\n')
    .filter((line) => !/\.local/i.test(line))
    .filter((line) => !line.startsWith('a=candidate') || line.split(' ')[4] === '127.0.0.1')
    .map((line) => line.replace(/\d+\.\d+\.\d+\.\d+/g, (ip) => (ip === '0.0.0.0' ? ip : '127.0.0.1')).replace(/IP6/g, 'IP4'))
    .join('\r\n');
}

function applyMutations(mutations: SdpMutation[]): string {
  const lines = [...SDP_TEMPLATE];
  let truncateAt: number | undefined;
  for (const m of mutations) {
    const at = (i: number) => i % Math.max(1, lines.length);
    switch (m.op) {
      case 'delete':
        lines.splice(at(m.i), 1);
        break;
      case 'duplicate':
        lines.splice(at(m.i), 0, lines[at(m.i)] ?? '');
        break;
      case 'swap': {
        const a = at(m.i);
        const b = at(m.j);
        [lines[a], lines[b]] = [lines[b] ?? '', lines[a] ?? ''];
        break;
      }
      case 'insert':
        lines.splice(at(m.i), 0, m.line);
        break;
      case 'corrupt': {
        const line = lines[at(m.i)] ?? '';
        if (line.startsWith('a=candidate') || line.startsWith('c=')) break;
        const p = m.pos % (line.length + 1);
        lines[at(m.i)] = line.slice(0, p) + m.ch + line.slice(p + 1);
        break;
      }
      case 'truncate':
        truncateAt = m.at;
        break;
    }
  }
  let sdp = lines.join('\r\n') + '\r\n';
  if (truncateAt !== undefined) sdp = sdp.slice(0, truncateAt % (sdp.length + 1));
  return loopbackOnly(sdp);
}

/** A junk SDP: mutations of a real werift offer, or not an SDP at all. */
const junkSdp = fc
  .oneof(
    { weight: 6, arbitrary: fc.array(sdpMutation, { minLength: 1, maxLength: 5 }).map(applyMutations) },
    { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 200 }).map(loopbackOnly) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((s) => loopbackOnly(`v=0\r\n${s}`)) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n', 'v=0\r\nm=video 0 UDP/TLS/RTP/SAVPF 98\r\na=fingerprint:x\r\na=ice-ufrag:y\r\n', 'v=0\n'),
    },
  )
  .filter((s) => s.length > 0);

/** What checkSdp says about an offer: its error code, or undefined when it would reach werift. */
function checkSdpCode(sdp: string): string | undefined {
  try {
    checkSdp(sdp, 'offer');
    return undefined;
  } catch (err) {
    if (err instanceof SfuError) return err.code;
    throw err;
  }
}

const roomName = fc.stringMatching(/^[A-Za-z0-9_-]{1,30}$/);
const participantName = fc.stringMatching(/^[A-Za-z0-9_.-]{1,32}$/);
const wellFormedCandidate = fc.oneof(
  fc.constant(null),
  fc.record(
    {
      candidate: fc.string({ maxLength: 200 }),
      sdpMid: fc.option(fc.string({ maxLength: 64 })),
      sdpMLineIndex: fc.option(fc.integer({ min: 0, max: 1023 })),
      usernameFragment: fc.option(fc.string({ maxLength: 64 })),
    },
    { requiredKeys: ['candidate'] },
  ),
);

/** One step of a session that never completes a negotiation. */
type Op =
  | { k: 'answer'; sdp: string }
  | { k: 'ice'; candidate: unknown }
  | { k: 'echo'; enabled: boolean }
  | { k: 'tile'; name: string; width: number; height: number }
  | { k: 'join'; room: string; name?: string; echo?: boolean }
  | { k: 'offer'; sdp: string }
  | { k: 'bad'; frame: Frame };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant('answer' as const), sdp: fc.oneof(fc.string({ minLength: 1, maxLength: 100 }), junkSdp, fc.constant(SDP_TEMPLATE.join('\r\n'))) }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('ice' as const), candidate: wellFormedCandidate }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('echo' as const), enabled: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant('tile' as const), name: participantName, width: fc.integer({ min: 0, max: 16384 }), height: fc.integer({ min: 0, max: 16384 }) }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('join' as const), room: roomName, name: participantName, echo: fc.boolean() }, { requiredKeys: ['k', 'room'] }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('offer' as const), sdp: junkSdp.filter((s) => checkSdpCode(s) !== undefined) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('bad' as const), frame: badFrame.filter((f) => frameBytes(f) < 8192) }) },
);

let roomSerial = 0;

/** The frame for an op, and what the server answers (per the protocol's rules) given whether the peer is in a room. */
function play(o: Op, inRoom: boolean, socketTag: string): { frame: Frame; answer: string | undefined; parseCode?: string; joins: boolean } {
  switch (o.k) {
    case 'bad':
      return { frame: o.frame, answer: undefined, parseCode: (oracle(o.frame) as { code: string }).code, joins: false };
    case 'answer':
      // The server never offered, so any answer is unexpected.
      return { frame: text(json({ type: 'answer', sdp: o.sdp })), answer: 'wrong-state', joins: false };
    case 'ice':
      return { frame: text(json({ type: 'ice', candidate: o.candidate })), answer: 'no-offer', joins: false };
    case 'echo':
      return { frame: text(json({ type: 'echo', enabled: o.enabled })), answer: inRoom ? undefined : 'not-joined', joins: false };
    case 'tile':
      return { frame: text(json({ type: 'tile', name: o.name, width: o.width, height: o.height })), answer: inRoom ? undefined : 'not-joined', joins: false };
    case 'join': {
      // Rooms unique to this socket: no twins replaced, no full rooms.
      const room = `${socketTag}-${roomSerial++}-${o.room}`.slice(0, 64);
      return { frame: text(json({ type: 'join', room, name: o.name, echo: o.echo })), answer: inRoom ? 'already-joined' : 'joined', joins: true };
    }
    case 'offer':
      // An offer without a join first puts the peer in its private echo room (a `joined`), then fails checkSdp.
      return { frame: text(json({ type: 'offer', sdp: o.sdp })), answer: `${inRoom ? '' : 'joined,'}${checkSdpCode(o.sdp)!}`, joins: true };
  }
}

// --- Chaos: negotiations that reach werift, with junk SDP and candidates.

/** ICE candidates with hostile fields, always on 127.0.0.1 (or unparseable, with no host at all). */
const chaosCandidate = fc.oneof(
  fc
    .record({
      foundation: fc.constantFrom('1', 'x', '😀', 'a'.repeat(300)),
      component: fc.constantFrom('1', '2', '0', '-1', '99999999999', 'x'),
      transport: fc.constantFrom('udp', 'UDP', 'tcp', 'sctp', 'x'),
      priority: fc.constantFrom('1', '0', '-1', '4294967296', '1e400', 'NaN'),
      port: fc.constantFrom('9', '0', '-1', '65536', '99999', 'x'),
      typ: fc.constantFrom('host', 'srflx', 'relay', 'prflx', 'x', ''),
      extra: fc.constantFrom('', ' raddr 127.0.0.1 rport 9', ' raddr 127.0.0.1 rport x', ' generation x', ' ufrag 😀', ' tcptype passive'),
    })
    .map((c) => `candidate:${c.foundation} ${c.component} ${c.transport} ${c.priority} 127.0.0.1 ${c.port} typ ${c.typ}${c.extra}`),
  fc.string({ maxLength: 60 }).map((s) => s.replace(/[\s.]/g, '')),
);

type ChaosOp =
  | { k: 'offer'; sdp: string }
  | { k: 'answer'; sdp: string }
  | { k: 'negotiate' }
  | { k: 'ice'; candidate: string | null; sdpMid: string | null; sdpMLineIndex: number | null }
  | { k: 'echo'; enabled: boolean }
  | { k: 'tile'; height: number }
  | { k: 'join'; room: string }
  | { k: 'bad'; frame: Frame };

const validSdp = SDP_TEMPLATE.join('\r\n') + '\r\n';
const chaosOp: fc.Arbitrary<ChaosOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('offer' as const), sdp: fc.oneof({ weight: 5, arbitrary: junkSdp }, { weight: 1, arbitrary: fc.constant(validSdp) }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('answer' as const), sdp: fc.oneof(junkSdp, fc.constant(validSdp.replace('a=setup:actpass', 'a=setup:active'))) }) },
  { weight: 2, arbitrary: fc.constant({ k: 'negotiate' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('ice' as const),
      candidate: fc.option(chaosCandidate, { freq: 8 }),
      sdpMid: fc.option(fc.constantFrom('0', '1', '', '😀', 'x'.repeat(64))),
      sdpMLineIndex: fc.option(fc.integer({ min: 0, max: 1023 })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('echo' as const), enabled: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('tile' as const), height: fc.integer({ min: 0, max: 16384 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('join' as const), room: roomName }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('bad' as const), frame: badFrame.filter((f) => frameBytes(f) < 8192) }) },
);

function chaosFrame(o: ChaosOp, tag: string): Frame {
  switch (o.k) {
    case 'offer':
    case 'answer':
      return text(json({ type: o.k, sdp: o.sdp }));
    case 'negotiate':
      return text(json({ type: 'negotiate' }));
    case 'ice':
      return text(json({ type: 'ice', candidate: o.candidate === null ? null : { candidate: o.candidate, sdpMid: o.sdpMid, sdpMLineIndex: o.sdpMLineIndex } }));
    case 'echo':
      return text(json({ type: 'echo', enabled: o.enabled }));
    case 'tile':
      return text(json({ type: 'tile', name: 'guest', width: o.height, height: o.height }));
    case 'join':
      return text(json({ type: 'join', room: `${tag}-${o.room}`.slice(0, 64) }));
    case 'bad':
      return o.frame;
  }
}

/** Messages the schema accepts. */
const wellFormed = fc.oneof(
  fc.record({ type: fc.constant('offer'), sdp: fc.string({ minLength: 1, maxLength: 300 }) }),
  fc.record({ type: fc.constant('answer'), sdp: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 300 }) }),
  fc.record({ type: fc.constant('ice'), candidate: wellFormedCandidate }),
  fc.record({ type: fc.constant('negotiate') }),
  fc.record({ type: fc.constant('join'), room: roomName, name: participantName, echo: fc.boolean() }, { requiredKeys: ['type', 'room'] }),
  fc.record({ type: fc.constant('echo'), enabled: fc.boolean() }),
  fc.record({ type: fc.constant('tile'), name: participantName, width: fc.integer({ min: 0, max: 16384 }), height: fc.integer({ min: 0, max: 16384 }) }),
);

// ---------------------------------------------------------------------------
// A raw signaling socket.

class FuzzSocket {
  readonly received: ServerMessage[] = [];
  readonly invalid: string[] = [];
  closeCode: number | undefined;
  private readonly listeners = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const raw = String(data);
      let parsed: ReturnType<typeof ServerMessage.safeParse> | undefined;
      try {
        parsed = ServerMessage.safeParse(JSON.parse(raw));
      } catch {
        parsed = undefined;
      }
      if (parsed?.success) this.received.push(parsed.data);
      else this.invalid.push(raw.slice(0, 500));
      for (const l of this.listeners) l();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      for (const l of this.listeners) l();
    });
    ws.on('error', () => undefined);
  }

  static async open(url: string): Promise<FuzzSocket> {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/ws');
    const s = new FuzzSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    await s.until(() => s.received.length >= 1, 5000, 'welcome');
    assert.equal(s.received[0]!.type, 'welcome');
    s.received.shift();
    return s;
  }

  send(f: Frame): void {
    this.ws.send(typeof f.data === 'string' ? f.data : Buffer.from(f.data), { binary: f.binary });
  }

  /** Resolve once `done()` holds; reject on timeout, or if the socket closes first (unless `closeOk`). */
  until(done: () => boolean, timeoutMs: number, what: string, closeOk = false): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        if (err) reject(err);
        else resolve();
      };
      const listener = () => {
        if (done()) finish();
        else if (this.closeCode !== undefined && !closeOk) finish(new Error(`socket closed (${this.closeCode}) while waiting for ${what}`));
      };
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${this.labels().slice(-20).join(' ')}`)), timeoutMs);
      this.listeners.add(listener);
      listener();
    });
  }

  labels(from = 0): string[] {
    return this.received.slice(from).map((m) => (m.type === 'error' ? m.code : m.type));
  }

  close(): void {
    this.ws.close();
  }
}

// ---------------------------------------------------------------------------

describe('signaling fuzz: parseClientMessage (unit property)', () => {
  const anyFrame = fc.oneof(
    { weight: 10, arbitrary: badFrame },
    { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => text(json(v))) },
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }).map(text) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }).map(binary) },
    { weight: 1, arbitrary: loneSurrogates.map(text) },
    { weight: 3, arbitrary: wellFormed.map((m) => text(json(m))) },
  );

  it('never throws and always answers ok or a known error code (20,000 inputs)', () => {
    let rejected = 0;
    let accepted = 0;
    fc.assert(
      fc.property(anyFrame, (f) => {
        const raw = f.data;
        const r = parseClientMessage(raw);
        const bytes = typeof raw === 'string' ? new TextEncoder().encode(raw).length : raw.byteLength;
        if (r.ok) {
          accepted++;
          assert.ok(ClientMessage.safeParse(r.message).success, 'an accepted message is a ClientMessage');
          assert.ok(bytes <= MAX_MESSAGE_BYTES, 'an accepted message is within the limit');
        } else {
          rejected++;
          assert.ok(KNOWN_CODES.has(r.code), `unknown code ${r.code}`);
          assert.equal(typeof r.message, 'string');
          assert.ok(r.message.length > 0 && r.message.length < 2000, 'a short readable sentence');
          if (bytes > MAX_MESSAGE_BYTES) assert.equal(r.code, 'too-large');
        }
      }),
      { numRuns: 20_000 },
    );
    console.log(`# parseClientMessage: 20000 inputs, ${accepted} accepted, ${rejected} rejected with a known code, none threw`);
    assert.ok(accepted > 1000 && rejected > 10_000, 'both outcomes exercised');
  });

  it('accepts every well-formed message and returns it unchanged', () => {
    fc.assert(
      fc.property(wellFormed, fc.boolean(), (m, asBinary) => {
        const s = JSON.stringify(m);
        const r = parseClientMessage(asBinary ? new TextEncoder().encode(s) : s);
        assert.ok(r.ok, `${s}: ${r.ok ? '' : r.message}`);
        assert.deepEqual(r.message, JSON.parse(s));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('signaling fuzz against a live server (127.0.0.1)', () => {
  let server: FacecastServer;
  const logged: { level: number; msg?: string }[] = [];
  const sockets: FuzzSocket[] = [];
  const counts = { flood: 0, sequence: 0, chaos: 0, closing: 0 };
  const codes = new Map<string, number>();
  const tally = (labels: string[]) => {
    for (const l of labels) codes.set(l, (codes.get(l) ?? 0) + 1);
  };
  const open = async () => {
    const s = await FuzzSocket.open(server.url);
    sockets.push(s);
    return s;
  };
  const assertClean = (s: FuzzSocket) => {
    assert.deepEqual(s.invalid, [], 'every server message fits the ServerMessage schema');
    for (const m of s.received) {
      if (m.type !== 'error') continue;
      assert.ok(KNOWN_CODES.has(m.code), `known code: ${m.code}`);
      assert.notEqual(m.code, 'internal', `the server failed internally: ${m.message}`);
    }
  };

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtException', onUnhandled);
    const logger = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line) as { level: number; msg?: string }) });
    server = await startServer(
      { host: '127.0.0.1', port: 0, logLevel: 'warn', ice: { iceServers: [], interfaceAddress: '127.0.0.1' }, iceTimeoutS: 30, maxMessageRate: 0 }, // floods on purpose: no rate limit (limits.test.ts checks it)
      logger,
    );
  });

  after(async () => {
    for (const s of sockets) s.ws.terminate();
    await server?.close();
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
    const total = counts.flood + counts.sequence + counts.chaos + counts.closing;
    console.log(`# signaling fuzz: ${total} messages sent (flood ${counts.flood}, out-of-order ${counts.sequence}, chaos ${counts.chaos}, over-limit ${counts.closing})`);
    console.log(
      `# answers: ${[...codes]
        .sort((a, b) => b[1] - a[1])
        .map(([c, n]) => `${c} ${n}`)
        .join(', ')}`,
    );
  });

  it('every malformed or ill-typed frame gets one error with the code the parser predicts, in order', async () => {
    const pool = await Promise.all([open(), open(), open(), open()]);
    await check(
      fc.asyncProperty(fc.array(badFrame, { minLength: 150, maxLength: 250 }), async (frames) => {
        await Promise.all(
          pool.map(async (s, k) => {
            const mine = frames.filter((_, i) => i % pool.length === k);
            const start = s.received.length;
            for (const f of mine) s.send(f);
            counts.flood += mine.length;
            await s.until(() => s.received.length >= start + mine.length, 15_000, `${mine.length} answers`);
            const got = s.received.slice(start);
            tally(s.labels(start));
            assert.equal(got.length, mine.length, 'exactly one answer per frame');
            mine.forEach((f, i) => {
              const m = got[i]!;
              const want = oracle(f) as { code: string };
              assert.ok(m.type === 'error', `an error for ${describeFrame(f)}, got ${JSON.stringify(m).slice(0, 200)}`);
              assert.equal(m.code, want.code, describeFrame(f));
            });
          }),
        );
      }),
      { numRuns: 50 },
    );
    for (const s of pool) assertClean(s);
    assertNothingUnhandled();
  });

  it('out-of-order messages (answer/ice before offer, join twice, tile/echo before join, junk SDP) get the right error', async () => {
    let tag = 0;
    await check(
      fc.asyncProperty(fc.array(fc.array(op, { minLength: 5, maxLength: 40 }), { minLength: 4, maxLength: 4 }), async (sessions) => {
        await Promise.all(
          sessions.map(async (ops) => {
            const s = await open();
            const socketTag = `fz${tag++}`;
            let inRoom = false;
            const expected: string[] = [];
            const parseCodes: string[] = [];
            for (const o of ops) {
              const { frame, answer, parseCode, joins } = play(o, inRoom, socketTag);
              if (answer) expected.push(...answer.split(','));
              if (parseCode) parseCodes.push(parseCode);
              if (joins) inRoom = true;
              s.send(frame);
            }
            // A sentinel that always fails in the queue, after everything else.
            s.send(text(json({ type: 'answer', sdp: 'sentinel' })));
            expected.push('wrong-state');
            counts.sequence += ops.length + 1;
            const total = expected.length + parseCodes.length;
            // On a timeout, the comparison below says what was missing.
            await s.until(() => s.received.length >= total, 5000, `${total} answers`).catch(() => undefined);
            await new Promise((r) => setTimeout(r, 20)); // nothing more may follow
            const labels = s.labels();
            tally(labels);
            const queued = labels.filter((l) => !PARSE_CODES.has(l));
            const fromParser = labels.filter((l) => PARSE_CODES.has(l));
            const describeOps = () => ops.map((o) => (o.k === 'bad' ? `bad(${(oracle(o.frame) as { code: string }).code})` : o.k)).join(' ');
            assert.deepEqual(queued, expected, `answers to the well-formed messages, in order, for: ${describeOps()}`);
            assert.deepEqual(fromParser.sort(), parseCodes.sort(), `parse errors for: ${describeOps()}`);
            assertClean(s);
            s.close();
          }),
        );
      }),
      { numRuns: 35 },
    );
    assertNothingUnhandled();
  });

  it('negotiations with junk SDP and candidates never fail internally nor wedge the socket', async () => {
    let tag = 0;
    await check(
      fc.asyncProperty(fc.array(fc.array(chaosOp, { minLength: 3, maxLength: 15 }), { minLength: 2, maxLength: 2 }), async (sessions) => {
        await Promise.all(
          sessions.map(async (ops) => {
            const s = await open();
            const socketTag = `chaos${tag++}`;
            for (const o of ops) s.send(chaosFrame(o, socketTag));
            // Two joins: whatever the state, the second is refused (or the peer was closed, and the socket with it).
            const sentinel = text(json({ type: 'join', room: `${socketTag}-sentinel` }));
            s.send(sentinel);
            s.send(sentinel);
            counts.chaos += ops.length + 2;
            await s.until(
              () => s.closeCode !== undefined || s.received.some((m) => m.type === 'error' && m.code === 'already-joined'),
              10_000,
              'the sentinel join to be refused',
              true,
            );
            tally(s.labels());
            assertClean(s);
            s.close();
          }),
        );
      }),
      { numRuns: 40 },
    );
    assertNothingUnhandled();
  });

  it('frames over the socket limit (256 KiB) close only that socket, with 1009', async () => {
    await check(
      fc.asyncProperty(fc.integer({ min: WS_MAX_PAYLOAD + 1, max: 1024 * 1024 }), fc.boolean(), async (size, asBinary) => {
        const s = await open();
        const closed = s.until(() => s.closeCode !== undefined, 5000, 'the close', true);
        s.send(asBinary ? binary(new Uint8Array(size).fill(0x7b)) : text(json({ type: 'offer', sdp: 'x'.repeat(size) })));
        counts.closing++;
        await closed;
        assert.equal(s.closeCode, 1009);
        assertClean(s);
      }),
      { numRuns: 8 },
    );
    assertNothingUnhandled();
  });

  it('afterwards the server is healthy: a new client gets its echo, /api/state answers, peers go back to 0', async () => {
    const client = new TestClient(server.url);
    const source = new Vp8Source();
    let timer: NodeJS.Timeout | undefined;
    try {
      await client.connect();
      client.pliListeners.push(() => source.requestKeyframe());
      let frames = 0;
      timer = setInterval(() => {
        if (frames++ > 150) return; // bounded: ~5 s
        for (const p of source.nextFrame()) client.sendRtp(p);
      }, 33);
      await waitFor(() => client.received.filter((p) => p.header.marker).length >= 10, 5000, '10 echoed frames');

      const res = await fetch(`${server.url}/api/state`);
      assert.equal(res.status, 200);
      const state = (await res.json()) as { peers: { id: string; connectionState: string }[] };
      const me = state.peers.find((p) => p.id === client.peerId);
      assert.equal(me?.connectionState, 'connected');
    } finally {
      clearInterval(timer);
      await client.close();
    }
    for (const s of sockets) s.close();
    await waitFor(async () => (await server.state()).peers.length === 0, 10_000, 'every peer to be removed');
    await waitFor(async () => (await server.state()).rooms.length === 0, 5000, 'every room to be dropped');
    const total = counts.flood + counts.sequence + counts.chaos + counts.closing;
    assert.ok(total >= 10_000, `${total} messages sent`);
    const errors = logged.filter((l) => l.level >= 50);
    assert.deepEqual(
      errors.map((l) => l.msg),
      [],
      `no error logged by the server: ${JSON.stringify(errors).slice(0, 3000)}`,
    );
    assertNothingUnhandled();
  });
});
