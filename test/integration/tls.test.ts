/**
 * HTTPS/WSS: with a given certificate the app, /ws and WHIP answer over TLS (and
 * a client that trusts that certificate verifies the name 127.0.0.1); with
 * --tls-self-signed the server makes one for localhost/127.0.0.1 at start.
 */
import assert from 'node:assert/strict';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { describe, it } from 'node:test';
import { generate } from 'selfsigned';
import WebSocket from 'ws';
import { startTestServer } from '../helpers/server.js';

const urlParts = (url: string) => {
  const u = new URL(url);
  return { hostname: u.hostname, port: u.port, path: u.pathname };
};

function get(url: string, opts: https.RequestOptions): Promise<{ status: number; body: string; cert: ReturnType<TLSSocket['getPeerCertificate']> }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ ...opts, ...urlParts(url), agent: false }, (res) => {
      const cert = (res.socket as TLSSocket).getPeerCertificate();
      let body = '';
      res.on('data', (d: Buffer) => (body += String(d)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cert }));
    });
    req.on('error', reject);
  });
}

describe('TLS', () => {
  it('serves https and wss with the given certificate, verified as 127.0.0.1', async () => {
    const pems = await generate([{ name: 'commonName', value: 'test' }], {
      keyType: 'ec',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    const server = await startTestServer({ tlsCert: pems.cert, tlsKey: pems.private });
    try {
      assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const health = await get(server.url + '/healthz', { ca: pems.cert });
      assert.equal(health.status, 200);
      assert.equal(health.body, '{"ok":true}');
      const page = await get(server.url + '/', { ca: pems.cert });
      assert.equal(page.status, 200);
      assert.match(page.body, /<video id="source"/);
      const welcome = await new Promise<string>((resolve, reject) => {
        const ws = new WebSocket(server.url.replace('https', 'wss') + '/ws', { ca: pems.cert });
        ws.once('message', (d) => {
          resolve(JSON.parse(String(d)).type);
          ws.close();
        });
        ws.once('error', reject);
      });
      assert.equal(welcome, 'welcome');
      // An untrusted certificate is refused by a verifying client: TLS is really on.
      await assert.rejects(get(server.url + '/healthz', {}), /self-signed|unable to verify|self signed/i);
    } finally {
      await server.close();
    }
  });

  it('--tls-self-signed makes a certificate for localhost and 127.0.0.1 at start', async () => {
    const server = await startTestServer({ tlsSelfSigned: true });
    try {
      const res = await get(server.url + '/healthz', { rejectUnauthorized: false });
      assert.equal(res.status, 200);
      assert.match(res.cert.subjectaltname ?? '', /DNS:localhost/);
      assert.match(res.cert.subjectaltname ?? '', /IP Address:127\.0\.0\.1/);
      assert.ok(new Date(res.cert.valid_to).getTime() - Date.now() <= 31 * 86_400_000, 'valid for about 30 days');
    } finally {
      await server.close();
    }
  });
});
