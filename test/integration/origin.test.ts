/**
 * Cross-site WebSocket hijacking: a page on another site must not open the
 * signaling socket with its visitor's browser. Same-origin pages, listed
 * origins (--allow-origin) and non-browser clients (no Origin header) may.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import type { FacecastServer } from '../../src/server/facecast.js';
import { parseServeArgs, ConfigError, type ServerConfig } from '../../src/server/config.js';
import { startTestServer } from '../helpers/server.js';

/** Opens /ws with the given Origin; resolves to the welcome's type, or the HTTP status of a refusal. */
function open(url: string, origin?: string): Promise<string | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/ws', origin ? { origin } : {});
    ws.once('message', (data) => {
      resolve(JSON.parse(String(data)).type);
      ws.close();
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

describe('WebSocket origin check', () => {
  let server: FacecastServer;
  before(async () => {
    server = await startTestServer({ allowOrigins: ['https://app.example'] });
  });
  after(async () => {
    await server?.close();
  });

  it('a page from the server itself is welcome', async () => {
    assert.equal(await open(server.url, server.url), 'welcome');
  });

  it('a client without an Origin (not a browser: werift, GStreamer, curl) is welcome', async () => {
    assert.equal(await open(server.url), 'welcome');
  });

  it('a listed origin is welcome', async () => {
    assert.equal(await open(server.url, 'https://app.example'), 'welcome');
  });

  it('another site, a look-alike host or port, and junk are refused with 403 and leave no peer', async () => {
    const port = new URL(server.url).port;
    for (const origin of ['https://evil.example', `http://127.0.0.1:${Number(port) + 1}`, 'http://127.0.0.1.evil.example', 'null', 'file://', 'https://app.example.evil']) {
      assert.equal(await open(server.url, origin), 403, origin);
    }
    assert.equal((await server.state()).peers.length, 0);
  });

  it('--allow-origin takes origins only, and says so', () => {
    assert.deepEqual((parseServeArgs(['--allow-origin', 'https://a.example:8443', '--allow-origin', 'http://b.example/']) as ServerConfig).allowedOrigins, [
      'https://a.example:8443',
      'http://b.example',
    ]);
    assert.throws(() => parseServeArgs(['--allow-origin', 'https://a.example/path']), ConfigError);
    assert.throws(() => parseServeArgs(['--allow-origin', 'a.example']), /--allow-origin: "a.example" is not an origin/);
  });
});
