/**
 * Structured logs: every HTTP request has an id (X-Request-Id and `req` on its log
 * lines); a signaling peer's lines carry its upgrade request's id and its `peer` id.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import { startServer, type FacecastServer } from '../../src/server/facecast.js';
import { waitFor } from '../helpers/server.js';

describe('structured logs with request and participant ids', () => {
  let server: FacecastServer;
  const lines: Record<string, unknown>[] = [];
  before(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    server = await startServer(
      { host: '127.0.0.1', port: 0, logLevel: 'debug', ice: { iceServers: [], interfaceAddress: '127.0.0.1' }, iceTimeoutS: 30 },
      pino({ level: 'debug' }, sink),
    );
  });
  after(async () => {
    await server?.close();
  });

  it('an HTTP request: X-Request-Id, and a JSON log line with req, method, path, status and ms', async () => {
    const res = await fetch(`${server.url}/healthz`);
    const id = res.headers.get('x-request-id');
    assert.match(id ?? '', /^[0-9a-f]{8}$/);
    const line = await waitFor(() => lines.find((l) => l.req === id && l.msg === 'request'), 2000, 'the request log line');
    assert.equal(line.method, 'GET');
    assert.equal(line.path, '/healthz');
    assert.equal(line.status, 200);
    assert.equal(typeof line.ms, 'number');
    const other = (await fetch(`${server.url}/nope`)).headers.get('x-request-id');
    assert.notEqual(other, id, 'one id per request');
  });

  it('a signaling peer: its lines carry req (the upgrade) and peer', async () => {
    const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/ws`);
    try {
      const welcome = await new Promise<{ peerId: string }>((resolve, reject) => {
        ws.once('message', (d) => resolve(JSON.parse(String(d)) as { peerId: string }));
        ws.once('error', reject);
      });
      ws.send(JSON.stringify({ type: 'join', room: 'logs', name: 'logger' }));
      const joined = await waitFor(() => lines.find((l) => l.peer === welcome.peerId && l.msg === 'joined'), 3000, 'the joined line');
      assert.equal(joined.room, 'logs');
      const connected = lines.find((l) => l.peer === welcome.peerId && l.msg === 'peer connected')!;
      assert.match(String(connected.req), /^[0-9a-f]{8}$/);
      assert.equal(joined.req, connected.req, 'the same request id on every line of the peer');
    } finally {
      ws.terminate();
    }
  });
});
