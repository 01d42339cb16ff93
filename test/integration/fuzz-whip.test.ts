/**
 * Property-based fuzzing of the WHIP/WHEP endpoints (fast-check) against a real
 * server on 127.0.0.1, with auth on: random methods, paths (percent-encoding,
 * unicode, traversal), content types, bearer tokens (valid, forged, junk), ETags,
 * bodies (SDP-like junk, truncated and mutated real offers, binary, empty, over the
 * limit).
 *
 * Properties: every answer is a known 2xx/4xx status with a text body (never 5xx,
 * never a hang); nothing leaks (participants and sessions return to zero once the
 * sessions made are deleted); the server stays healthy for a real WHIP publisher.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { mintToken } from '../../src/server/auth.js';
import type { FacecastServer } from '../../src/server/facecast.js';
import { fakeVideoOffer } from '../helpers/sdp.js';
import { startTestServer, waitFor } from '../helpers/server.js';

const SECRET = 'fuzz-secret-0123456789abcdef0123456789';
const REQUESTS = 1500;
const KNOWN = new Set([200, 201, 204, 400, 401, 403, 404, 405, 412, 413, 415, 422, 503]);

const OFFER = fakeVideoOffer('sendonly');

// In the main thread, and on room workers (requests routed by the room in their path).
for (const workers of [0, 2])
  describe(`WHIP/WHEP fuzz (auth on, 127.0.0.1, ${workers ? `${workers} room workers` : 'rooms in the main thread'})`, () => {
    let server: FacecastServer;
    let good: string;
    let wrongRoom: string;
    before(async () => {
      server = await startTestServer({ authSecret: SECRET, workers });
      good = await mintToken(SECRET, { room: '*', identity: 'fuzzer' }, 600);
      wrongRoom = await mintToken(SECRET, { room: 'elsewhere', identity: 'fuzzer' }, 600);
    });
    after(async () => {
      await server?.close();
    });

    it(`${REQUESTS} random requests: known statuses only, text bodies, nothing leaks`, async () => {
      const forged = await mintToken('another-secret-0123456789abcdef01234567', { room: '*', identity: 'x' }, 600);
      const body = fc.oneof(
        fc.constant(OFFER),
        fc.constant(OFFER.replace('a=sendonly', 'a=recvonly')),
        fc.nat({ max: OFFER.length }).map((n) => OFFER.slice(0, n)),
        fc.tuple(fc.nat({ max: OFFER.length - 1 }), fc.string({ maxLength: 20 })).map(([i, s]) => OFFER.slice(0, i) + s + OFFER.slice(i + 1)),
        fc.string({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')),
        fc.constant(''),
        fc.constant('v=0\r\n' + 'a=x\r\n'.repeat(20_000)), // over 64 KiB
      );
      const request = fc.record({
        method: fc.constantFrom('POST', 'POST', 'POST', 'PATCH', 'DELETE', 'OPTIONS', 'GET', 'PUT', 'HEAD'),
        path: fc.oneof(
          fc.constantFrom(
            '/whip/room1',
            '/whep/room1',
            '/whep/room1/fuzzer',
            '/whip/',
            '/whep/',
            '/whip/a/b/c',
            '/whip/%E0%A4%A',
            '/whip/..%2F..%2Fetc',
            '/whep/r%C3%A9',
            '/whip/room1/00000000-0000-0000-0000-000000000000',
          ),
          fc.string({ maxLength: 20 }).map((s) => `/whip/${encodeURIComponent(s)}`),
          fc.string({ maxLength: 20 }).map((s) => `/whep/room1/${encodeURIComponent(s)}`),
        ),
        type: fc.constantFrom('application/sdp', 'application/sdp; charset=utf-8', 'text/plain', 'application/trickle-ice-sdpfrag', '', 'APPLICATION/SDP'),
        auth: fc.constantFrom('good', 'good', 'none', 'forged', 'wrong-room', 'junk', 'basic'),
        ifMatch: fc.option(fc.constantFrom('*', '"x"', 'junk'), { nil: undefined }),
        body,
      });
      const samples = fc.sample(request, { numRuns: REQUESTS, seed: 0x5eed });
      const statuses = new Map<number, number>();
      const created: string[] = [];
      for (const r of samples) {
        const headers: Record<string, string> = {};
        if (r.type) headers['content-type'] = r.type;
        if (r.ifMatch) headers['if-match'] = r.ifMatch;
        const token = { good, forged, 'wrong-room': wrongRoom, junk: 'a.b.c', none: '', basic: '' }[r.auth];
        if (r.auth === 'basic') headers.authorization = 'Basic Zm9vOmJhcg==';
        else if (token) headers.authorization = `Bearer ${token}`;
        const hasBody = r.method !== 'GET' && r.method !== 'HEAD' && r.method !== 'OPTIONS';
        const res = await fetch(server.url + r.path, { method: r.method, headers, body: hasBody ? r.body : undefined, signal: AbortSignal.timeout(10_000) });
        const text = await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        assert.ok(KNOWN.has(res.status), `${r.method} ${r.path} (${r.auth}) -> ${res.status}: ${text.slice(0, 200)}`);
        if (res.status === 201) created.push(res.headers.get('location')!);
        else if (res.status >= 400 && r.method !== 'HEAD') assert.ok(text.trim().length > 0, `${res.status} without a reason`);
      }
      console.log(
        `# WHIP/WHEP fuzz: ${REQUESTS} requests; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}; sessions created ${created.length}`,
      );
      for (const location of created) {
        const res = await fetch(server.url + location, { method: 'DELETE', headers: { authorization: `Bearer ${good}` } });
        assert.ok(res.status === 200 || res.status === 404, `DELETE ${location}: ${res.status}`);
      }
      await waitFor(async () => (await server.state()).peers.length === 0, 15_000, 'every fuzz participant gone');
      const health = await fetch(server.url + '/healthz');
      assert.equal(health.status, 200);
    });
  });
