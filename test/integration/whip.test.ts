/**
 * WHIP ingest and WHEP egress over plain HTTP, with werift peers on 127.0.0.1:
 * a WHIP publisher sends VP8, a WHEP viewer receives it through the SFU;
 * DELETE, PATCH (trickle ICE) and the error answers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FacecastServer } from '../../src/server/facecast.js';
import { fakeOffer } from '../helpers/sdp.js';
import { startTestServer, waitFor } from '../helpers/server.js';
import { payloadKey, WhepViewer, WhipPublisher } from '../helpers/whip-client.js';

describe('WHIP / WHEP (werift peers on 127.0.0.1)', () => {
  let server: FacecastServer;
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    server = await startTestServer();
  });

  after(async () => {
    for (const c of closers) await c().catch(() => undefined);
    await server?.close();
  });

  it('WHIP publish -> WHEP watch: RTP arrives with identical payloads; DELETE ends both sessions', async () => {
    const pub = new WhipPublisher(server.url);
    closers.push(() => pub.close());
    const created = await pub.publish('/whip/studio?name=cam1');
    assert.match(created.location, /^\/whip\/studio\/[0-9a-f-]{36}$/, 'Location is the relative session URL');
    assert.ok(created.etag && /^"[^"]+"$/.test(created.etag), 'quoted ETag');
    assert.equal(created.headers.get('content-type'), 'application/sdp');
    assert.equal(created.headers.get('access-control-allow-origin'), '*');
    assert.match(created.answer, /^a=candidate:.* 127\.0\.0\.1 \d+ typ host/m, 'the answer carries the server candidates (non-trickle)');
    await waitFor(() => pub.pc.connectionState === 'connected', 10_000, 'WHIP publisher connected');
    pub.start();

    const state = async () => await server.state();
    await waitFor(async () => (await state()).peers.find((p) => p.name === 'cam1')?.tracks.length === 1, 5000, 'the WHIP track to be published');
    const whipPeer = (await state()).peers.find((p) => p.name === 'cam1')!;
    assert.equal(whipPeer.room, 'studio');

    const viewer = new WhepViewer(server.url);
    closers.push(() => viewer.close());
    const watched = await viewer.watch('/whep/studio');
    assert.match(watched.location, /^\/whep\/studio\/[0-9a-f-]{36}$/);
    assert.match(watched.answer, /^a=sendonly/m, 'the answer sends on the recvonly m-line of the offer');
    assert.match(watched.answer, /^a=msid:cam1 /m, "the stream id is the publisher's name");
    await waitFor(() => viewer.pc.connectionState === 'connected', 10_000, 'WHEP viewer connected');
    await waitFor(() => viewer.received.length >= 100, 8000, '100 RTP packets at the WHEP viewer');

    const unknown = viewer.received.filter((p) => !pub.sent.has(payloadKey(p.payload)));
    assert.equal(unknown.length, 0, 'every received payload is one the WHIP client sent');
    assert.equal(viewer.received[0]!.payload[4], 0x10, 'the viewer starts on a keyframe');
    assert.equal(new Set(viewer.received.map((p) => p.header.ssrc)).size, 1, 'one SSRC');
    const viewerPeer = (await state()).peers.find((p) => p.name.startsWith('whep-'))!;
    assert.equal(viewerPeer.subscriptions.length, 1);
    assert.ok(viewerPeer.packetsOut >= 100);
    assert.equal((await state()).rooms.find((r) => r.name === 'studio')?.participants.length, 2);

    // One publisher's stream: /whep/ROOM/PUBLISHER.
    const one = new WhepViewer(server.url);
    closers.push(() => one.close());
    await one.watch('/whep/studio/cam1');
    await waitFor(() => one.received.length >= 20, 8000, 'RTP at the one-publisher WHEP viewer');
    assert.ok(one.received.every((p) => pub.sent.has(payloadKey(p.payload))));

    const recvonly = 'm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\na=rtpmap:96 VP8/90000';
    const nobody = await fetch(server.url + '/whep/studio/nobody', { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: fakeOffer(recvonly) });
    assert.equal(nobody.status, 404, 'WHEP of a publisher not in the room');
    assert.equal(
      (await fetch(server.url + '/whip/studio/' + created.location.split('/')[3], { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: fakeOffer(recvonly) }))
        .status,
      405,
      'POST on a WHIP session',
    );

    // DELETE ends each session; a second DELETE finds nothing.
    for (const loc of [watched.location, one.created.location, created.location]) {
      const del = await fetch(server.url + loc, { method: 'DELETE' });
      assert.equal(del.status, 200, `DELETE ${loc}`);
      assert.equal(del.headers.get('access-control-allow-origin'), '*');
      assert.equal((await fetch(server.url + loc, { method: 'DELETE' })).status, 404, `second DELETE ${loc}`);
    }
    await waitFor(async () => (await state()).peers.length === 0, 3000, 'no peers left');
    await waitFor(async () => (await state()).rooms.length === 0, 3000, 'no rooms left');
  });

  it('PATCH trickles candidates (204), checks If-Match (412), content type (415), session (404) and ICE restarts (422)', async () => {
    // Reads the candidates the SFU's own peer object was given: rooms in this thread (workers: 0).
    const inproc = await startTestServer({ workers: 0 });
    closers.push(() => inproc.close());
    const pub = new WhipPublisher(inproc.url);
    closers.push(() => pub.close());
    const offerCandidates = async () => {
      // The candidates the offer would carry; sent by PATCH instead.
      const sdp = pub.pc.localDescription!.sdp;
      return sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:'));
    };
    const created = await pub.publish('/whip/trickle', { trickle: true });
    const candidates = await offerCandidates();
    assert.ok(candidates.length > 0, 'the client has candidates to trickle');
    const ufrag = /^a=ice-ufrag:(\S+)/m.exec(pub.pc.localDescription!.sdp)![1]!;
    const pwd = /^a=ice-pwd:(\S+)/m.exec(pub.pc.localDescription!.sdp)![1]!;
    const mid = /^a=mid:(\S+)/m.exec(pub.pc.localDescription!.sdp)![1]!;
    const url = inproc.url + created.location;
    const frag = (u: string) => [`a=ice-ufrag:${u}`, `a=ice-pwd:${pwd}`, 'm=video 9 UDP/TLS/RTP/SAVPF 0', `a=mid:${mid}`, ...candidates, 'a=end-of-candidates', ''].join('\r\n');
    const patch = (body: string, headers: Record<string, string>) => fetch(url, { method: 'PATCH', headers, body });
    const sdpfrag = 'application/trickle-ice-sdpfrag';

    const peer = [...inproc.participants.values()].find((p) => p.room === 'trickle')!;
    // Host candidates only: the client's connectivity checks may already have taught the server a peer-reflexive one.
    const remoteCandidates = () => peer.pc.iceTransports[0]!.connection.remoteCandidates.filter((c) => c.type === 'host');
    assert.equal(remoteCandidates().length, 0, 'no client candidates before the PATCH');

    assert.equal((await patch(frag(ufrag), { 'content-type': 'text/plain', 'if-match': created.etag })).status, 415);
    assert.equal((await patch(frag(ufrag), { 'content-type': sdpfrag, 'if-match': '"not-the-etag"' })).status, 412);
    assert.equal((await patch(frag('otherufrag'), { 'content-type': sdpfrag, 'if-match': '*' })).status, 422, 'ICE restart refused');
    const unknown = await fetch(inproc.url + '/whip/trickle/00000000-0000-0000-0000-000000000000', {
      method: 'PATCH',
      headers: { 'content-type': sdpfrag },
      body: frag(ufrag),
    });
    assert.equal(unknown.status, 404);
    assert.equal(remoteCandidates().length, 0, 'refused PATCHes add nothing');

    const ok = await patch(frag(ufrag), { 'content-type': sdpfrag, 'if-match': created.etag });
    assert.equal(ok.status, 204, await ok.text());
    assert.equal(ok.headers.get('access-control-allow-origin'), '*');
    assert.equal(remoteCandidates().length, candidates.length, 'the server has the trickled candidates');
    assert.ok(remoteCandidates().every((c) => c.host === '127.0.0.1'));
    await waitFor(() => pub.pc.connectionState === 'connected', 10_000, 'trickled WHIP publisher connected');

    assert.equal((await fetch(url, { method: 'DELETE' })).status, 200);
    await waitFor(async () => (await inproc.state()).peers.length === 0, 3000, 'the trickled session gone');
    await waitFor(async () => (await inproc.state()).rooms.length === 0, 3000, 'its room gone (after the reconnect grace)');
  });

  it('OPTIONS answers the CORS preflight', async () => {
    for (const path of ['/whip/studio', '/whep/studio', '/whip/studio/some-session']) {
      const res = await fetch(server.url + path, {
        method: 'OPTIONS',
        headers: { origin: 'http://example.test', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
      assert.equal(res.status, 204, path);
      assert.equal(res.headers.get('access-control-allow-origin'), '*');
      assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST/);
      assert.match(res.headers.get('access-control-allow-methods') ?? '', /DELETE/);
      assert.match(res.headers.get('access-control-allow-headers') ?? '', /content-type/i);
      assert.match(res.headers.get('access-control-expose-headers') ?? '', /Location/);
      assert.equal(res.headers.get('accept-post'), 'application/sdp');
    }
  });

  it('refuses bad requests with the right status and a text body', async () => {
    const post = (path: string, body: BodyInit | undefined, type = 'application/sdp') => fetch(server.url + path, { method: 'POST', headers: { 'content-type': type }, body });
    const expect = async (res: Response, status: number, what: string) => {
      const text = await res.text();
      assert.equal(res.status, status, `${what}: ${res.status} ${text}`);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/, `${what}: text/plain`);
      assert.ok(text.trim().length > 0 && text.length < 300, `${what}: a short message`);
      assert.equal(res.headers.get('access-control-allow-origin'), '*', `${what}: CORS`);
    };
    const video = 'm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtpmap:96 VP8/90000';

    await expect(await post('/whip/studio', fakeOffer(video), 'text/plain'), 415, 'wrong content type');
    await expect(await post('/whip/studio', fakeOffer(video), 'application/json'), 415, 'json');
    await expect(await post('/whip/studio', ''), 400, 'empty body');
    await expect(await post('/whip/studio', 'hello, world'), 400, 'not an SDP');
    await expect(await post('/whip/studio', new Uint8Array([0, 1, 2, 0xff, 0xfe, 0x80])), 400, 'binary garbage');
    await expect(await post('/whip/studio', 'v=0\r\n\u0000\u0001<script>'), 400, 'control characters');
    await expect(await post('/whip/studio', 'x'.repeat(200_000)), 413, 'oversize');
    await expect(await post('/whip/studio', fakeOffer('m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0')), 422, 'no media');
    await expect(await post('/whip/studio', fakeOffer(video.replace('VP8', 'AV1'))), 422, 'no usable codec');
    await expect(await post('/whip/studio', fakeOffer(video.replace('a=sendonly', 'a=recvonly'))), 422, 'WHIP offer that sends nothing');
    await expect(await post('/whip/studio', fakeOffer(video).replace(/^a=fingerprint:.*\r\n/m, '')), 400, 'no fingerprint');
    await expect(await post('/whip/bad%20room', fakeOffer(video)), 400, 'bad room name');
    await expect(await post('/whip/' + 'r'.repeat(65), fakeOffer(video)), 400, 'room name too long');
    await expect(await post('/whip/studio?name=%3Cb%3E', fakeOffer(video)), 400, 'bad participant name');
    await expect(await post('/whep/empty', fakeOffer(video)), 422, 'WHEP offer that receives nothing');
    await expect(await post('/whep/empty', fakeOffer(video.replace('a=sendonly', 'a=recvonly'))), 404, 'WHEP of an empty room');
    await expect(await fetch(server.url + '/whip/studio', { method: 'GET' }), 405, 'GET on the endpoint');
    await expect(await fetch(server.url + '/whip/studio/nope', { method: 'DELETE' }), 404, 'DELETE of an unknown session');
    await expect(await fetch(server.url + '/whep/studio/nope', { method: 'DELETE' }), 404, 'DELETE of an unknown WHEP session');
    assert.equal((await server.state()).peers.length, 0, 'no refused request left a peer behind');
    assert.equal((await server.state()).rooms.length, 0, 'nor a room');
  });
});
