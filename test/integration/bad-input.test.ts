import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RTCPeerConnection } from 'werift';
import WebSocket from 'ws';
import type { FacecastServer } from '../../src/server/facecast.js';
import { startTestServer, waitFor } from '../helpers/server.js';
import { Vp8Source } from '../helpers/vp8-source.js';
import { TestClient } from '../helpers/werift-client.js';

type Msg = { type: string; code?: string; message?: string };

/** A raw signaling socket that records what the server says. */
async function rawSocket(url: string): Promise<{ ws: WebSocket; messages: Msg[]; next: (type: string) => Promise<Msg> }> {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + '/ws');
  const messages: Msg[] = [];
  ws.on('message', (d) => messages.push(JSON.parse(String(d)) as Msg));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let seen = 0;
  const next = async (type: string) => {
    const m = await waitFor(() => messages.slice(seen).find((x) => x.type === type), 5000, `a "${type}" message`);
    seen = messages.indexOf(m) + 1;
    return m;
  };
  await next('welcome');
  return { ws, messages, next };
}

async function audioOnlyOffer(): Promise<string> {
  const pc = new RTCPeerConnection({ iceServers: [], iceUseIpv4: false, iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1'] });
  pc.addTransceiver('audio', { direction: 'sendrecv' });
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  const sdp = pc.localDescription!.sdp;
  await pc.close();
  return sdp;
}

describe('bad signaling input gets a clear error and harms nobody else', () => {
  let server: FacecastServer;
  let healthy: TestClient;
  let timer: NodeJS.Timeout;

  before(async () => {
    server = await startTestServer();
    healthy = new TestClient(server.url);
    await healthy.connect();
    const source = new Vp8Source();
    healthy.pliListeners.push(() => source.requestKeyframe());
    let frames = 0;
    timer = setInterval(() => {
      if (frames++ > 600) return; // bounded: at most ~20 s
      for (const p of source.nextFrame()) healthy.sendRtp(p);
    }, 33);
  });

  after(async () => {
    clearInterval(timer);
    await healthy?.close();
    await server?.close();
  });

  const cases: [string, string | (() => Promise<string>), string, RegExp][] = [
    ['malformed JSON', '{"type": "offer", ', 'bad-json', /not valid JSON/],
    ['an unknown type', JSON.stringify({ type: 'subscribe', room: 'x' }), 'bad-message', /invalid message/],
    ['a number where the SDP goes', JSON.stringify({ type: 'offer', sdp: 12 }), 'bad-message', /sdp/],
    ['an SDP that is not one', JSON.stringify({ type: 'offer', sdp: 'hello world' }), 'bad-sdp', /not an SDP/],
    ['an SDP with no media', JSON.stringify({ type: 'offer', sdp: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' }), 'bad-sdp', /no media/],
    ['a video-less (audio only) offer', async () => JSON.stringify({ type: 'offer', sdp: await audioOnlyOffer() }), 'no-video', /no video/],
    [
      'a candidate before the offer',
      JSON.stringify({ type: 'ice', candidate: { candidate: 'candidate:1 1 udp 2130706431 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 } }),
      'no-offer',
      /before any offer/,
    ],
    ['an answer with no offer', JSON.stringify({ type: 'answer', sdp: 'v=0\r\n' }), 'wrong-state', /unexpected answer/],
    ['a message over 64 KiB', JSON.stringify({ type: 'offer', sdp: 'x'.repeat(70 * 1024) }), 'too-large', /limit is 65536/],
  ];

  for (const [what, payload, code, text] of cases) {
    it(`${what} -> error ${code}`, async () => {
      const sock = await rawSocket(server.url);
      sock.ws.send(typeof payload === 'string' ? payload : await payload());
      const err = await sock.next('error');
      assert.equal(err.code, code);
      assert.match(err.message!, text);
      // The same socket still works afterwards.
      sock.ws.send('{');
      assert.equal((await sock.next('error')).code, 'bad-json');
      sock.ws.close();
    });
  }

  it('a frame far over the limit closes only that socket', async () => {
    const sock = await rawSocket(server.url);
    const closed = new Promise<number>((resolve) => sock.ws.once('close', (code) => resolve(code)));
    sock.ws.send('x'.repeat(1024 * 1024));
    assert.equal(await closed, 1009);
  });

  it('the healthy call kept flowing and the bad sockets left nothing behind', async () => {
    const before = healthy.received.length;
    await waitFor(() => healthy.received.length > before + 30, 3000, 'more echo packets');
    await waitFor(async () => (await server.state()).peers.length === 1, 10_000, 'only the healthy peer left');
    assert.equal((await server.state()).peers[0]!.id, healthy.peerId);
  });

  it('a client vanishing mid-handshake leaves nothing behind', async () => {
    const pc = new RTCPeerConnection({ iceServers: [], iceUseIpv4: false, iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1'] });
    pc.addTransceiver('video', { direction: 'sendrecv' });
    await pc.setLocalDescription(await pc.createOffer());
    const sock = await rawSocket(server.url);
    sock.ws.send(JSON.stringify({ type: 'offer', sdp: pc.localDescription!.sdp }));
    await waitFor(async () => (await server.state()).peers.length === 2, 5000, 'the half-open peer');
    sock.ws.terminate(); // vanish: no close frame
    await pc.close();
    await waitFor(async () => (await server.state()).peers.length === 1, 10_000, 'the half-open peer to be removed');
  });
});

describe('a peer that goes silent', () => {
  it('is removed after --ice-timeout while its socket stays open', async () => {
    const server = await startTestServer({ iceTimeout: 2 });
    const client = new TestClient(server.url);
    try {
      await client.connect();
      const source = new Vp8Source();
      for (let i = 0; i < 5; i++) for (const p of source.nextFrame()) client.sendRtp(p);
      const t0 = Date.now();
      await client.pc.close(); // the network is gone; the WebSocket is not
      const error = await client.nextMessage((m) => m.type === 'error', 8000);
      assert.equal(error.type === 'error' && error.message.includes('media timeout'), true, JSON.stringify(error));
      assert.equal((await server.state()).peers.length, 0);
      const took = Date.now() - t0;
      assert.ok(took >= 1500 && took < 6000, `removed after ${took} ms`);
    } finally {
      client.ws.close();
      await server.close();
    }
  });
});

describe('a socket that never sends a message', () => {
  for (const workers of [0, 2]) {
    it(`is told (error timeout) and closed with 1008 after --ice-timeout, while one that spoke stays (${workers ? `${workers} room workers` : 'rooms in the main thread'})`, async () => {
      const server = await startTestServer({ iceTimeout: 1, workers });
      try {
        const silent = await rawSocket(server.url);
        const talker = await rawSocket(server.url);
        talker.ws.send(JSON.stringify({ type: 'join', room: 'quiet', name: 't' }));
        await talker.next('joined');
        const t0 = Date.now();
        const code = await new Promise<number>((resolve) => silent.ws.once('close', (c) => resolve(c)));
        assert.equal(code, 1008);
        assert.ok(Date.now() - t0 < 3000, `closed after ${Date.now() - t0} ms`);
        assert.equal(silent.messages.at(-1)?.type === 'error' && (silent.messages.at(-1) as { code?: string }).code, 'timeout');
        assert.equal(talker.ws.readyState, WebSocket.OPEN, 'the socket that joined is still open');
        talker.ws.close();
      } finally {
        await server.close();
      }
    });
  }
});

describe('welcome', () => {
  it("hands the browser the server's ICE servers (none by default)", async () => {
    const plain = await startTestServer();
    const withTurn = await startTestServer({ iceServers: ['turn:u:p@127.0.0.1:9'] });
    try {
      const a = await rawSocket(plain.url);
      const b = await rawSocket(withTurn.url);
      const welcomeA = a.messages.find((m) => m.type === 'welcome') as unknown as { iceServers: unknown[] };
      const welcomeB = b.messages.find((m) => m.type === 'welcome') as unknown as { iceServers: unknown[] };
      assert.deepEqual(welcomeA.iceServers, []);
      assert.deepEqual(welcomeB.iceServers, [{ urls: 'turn:127.0.0.1:9', username: 'u', credential: 'p' }]);
      a.ws.close();
      b.ws.close();
    } finally {
      await plain.close();
      await withTurn.close();
    }
  });
});
