/**
 * Static file serving never hands out a file outside its served roots: path
 * traversal with `..`, percent-encoded dots and slashes, encoded backslashes,
 * double encoding, overlong UTF-8 and NUL bytes. Requests go over a raw TCP
 * socket, so nothing normalizes the path before the server sees it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as fc from 'fast-check';
import type { FacecastServer } from '../../src/server/facecast.js';
import { PROJECT_ROOT } from '../../src/server/static.js';
import { startTestServer } from '../helpers/server.js';

interface RawResponse {
  status: number;
  body: Buffer;
}

/** One request exactly as written (no URL parsing or normalization on the client side). */
function rawGet(port: number, target: string, method = 'GET'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no response to ${JSON.stringify(target)}`));
    }, 5000);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => undefined); // the server may reset a malformed request: the close below answers
    socket.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const headEnd = all.indexOf('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(all.toString('latin1'))?.[1] ?? 0);
      resolve({ status, body: headEnd >= 0 ? all.subarray(headEnd + 4) : Buffer.alloc(0) });
    });
    socket.write(Buffer.concat([Buffer.from(`${method} `), Buffer.from(target, 'latin1'), Buffer.from(' HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')]));
  });
}

describe('static file serving is safe from path traversal', () => {
  let server: FacecastServer;
  let dir: string;
  const CANARY = `facecast-canary-${process.pid}-${Date.now()}`;
  const INDEX = '<!doctype html><title>served</title>';
  const secrets: Buffer[] = [];
  /** Files inside the served roots that a path with ".." may legitimately normalize to. */
  const inside: Buffer[] = [Buffer.from(INDEX)];
  let requests = 0;

  /** The property every response must have: not a 200 carrying a file from outside the served roots. */
  const assertSafe = (target: string, r: RawResponse) => {
    requests++;
    const body = r.body.toString('latin1');
    assert.ok(!body.includes(CANARY), `${JSON.stringify(target)} leaked the file next to the web root (status ${r.status})`);
    for (const s of secrets) assert.ok(!r.body.equals(s), `${JSON.stringify(target)} leaked a file outside the roots`);
    assert.ok(!/root:.*:0:0:/.test(body), `${JSON.stringify(target)} leaked /etc/passwd`);
    assert.ok(!body.includes('"name": "facecast"'), `${JSON.stringify(target)} leaked the project's package.json`);
    assert.ok(r.status !== 0, `${JSON.stringify(target)}: no HTTP response`);
    if (r.status === 200 && r.body.length > 0) {
      assert.ok(
        inside.some((f) => r.body.equals(f)),
        `${JSON.stringify(target)}: a 200 must be a file inside the roots, got ${body.slice(0, 200)}`,
      );
    }
  };

  before(async () => {
    // tmp/secret.txt beside tmp/web/ (the web root), so "one level up" is a real file.
    dir = await mkdtemp(path.join(tmpdir(), 'facecast-static-'));
    await mkdir(path.join(dir, 'web', 'sub'), { recursive: true });
    await writeFile(path.join(dir, 'secret.txt'), CANARY);
    await writeFile(path.join(dir, 'package.json'), CANARY);
    await writeFile(path.join(dir, 'web', 'index.html'), INDEX);
    await writeFile(path.join(dir, 'web', 'sub', 'index.html'), INDEX);
    secrets.push(await readFile(path.join(PROJECT_ROOT, 'package.json')));
    secrets.push(await readFile(path.join(PROJECT_ROOT, 'node_modules', '@vladmandic', 'human', 'package.json')));
    secrets.push(await readFile(path.join(PROJECT_ROOT, 'node_modules', '@vladmandic', 'face-api', 'package.json')));
    secrets.push(await readFile(path.join(PROJECT_ROOT, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'package.json')));
    // The mediapipe mount is the package directory itself, so its package.json is inside a root.
    inside.push(await readFile(path.join(PROJECT_ROOT, 'node_modules', '@mediapipe', 'face_detection', 'package.json')));
    server = await startTestServer({ webRoot: path.join(dir, 'web') });
  });

  after(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    console.log(`# static safety: ${requests} traversal requests, none served a file outside the roots`);
  });

  it('serves files inside the roots (the check below is not vacuous)', async () => {
    const index = await rawGet(server.port, '/');
    assert.equal(index.status, 200);
    assert.equal(index.body.toString(), INDEX);
    // The package mounts are live too (so the traversals below really start inside a root).
    assert.equal((await rawGet(server.port, '/models/human/blazeface.json', 'HEAD')).status, 200);
    assert.equal((await rawGet(server.port, '/vendor/mediapipe-face/package.json', 'HEAD')).status, 200);
  });

  const cases = [
    '/../package.json',
    '/../secret.txt',
    '/..%2fsecret.txt',
    '/%2e%2e/secret.txt',
    '/%2e%2e%2fsecret.txt',
    '/%2E%2E%2Fsecret.txt',
    '/.%2e/secret.txt',
    '/%2e./secret.txt',
    '/%252e%252e/secret.txt',
    '/%252e%252e%252fsecret.txt',
    '/%c0%ae%c0%ae/secret.txt',
    '/%c0%ae%c0%ae%c0%afsecret.txt',
    '/..%5csecret.txt',
    '/%2e%2e%5csecret.txt',
    '/..\\secret.txt',
    '/sub/..%5c..%5csecret.txt',
    '/sub/../../secret.txt',
    '/sub/%2e%2e/%2e%2e/secret.txt',
    '/secret.txt%00',
    '/%00../secret.txt',
    '/index.html%00.js',
    '/..%00/secret.txt',
    '/%2fetc%2fpasswd',
    '//etc/passwd',
    '/models/human/../../../etc/passwd',
    '/models/human/../../package.json',
    '/models/human/..%2f..%2fpackage.json',
    '/models/human/%2e%2e/package.json',
    '/models/human/%2e%2e%2fpackage.json',
    '/models/human/..%5cpackage.json',
    '/models/human/%2e%2e%5c%2e%2e%5c%2e%2e%5c%2e%2e%5cpackage.json',
    '/models/human/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/models/human/%00',
    '/models/face-api/../package.json',
    '/models/face-api/%2e%2e/package.json',
    '/models/face-api/%2e%2e%2fpackage.json',
    '/wasm/tfjs/%2e%2e/package.json',
    '/wasm/tfjs/..%2fpackage.json',
    '/vendor/mediapipe-face/%2e%2e/%2e%2e/%2e%2e/package.json',
    '/vendor/mediapipe-face/..%2f..%2f..%2fpackage.json',
    '/models/human/C:%5cWindows%5cwin.ini',
    '/room/..%2f..%2fpackage.json',
    '/room/x/../../package.json',
    '/api/state/../../package.json',
    '../package.json',
    'http://127.0.0.1/../package.json',
    '/' + '../'.repeat(50) + 'etc/passwd',
    '/' + '%2e%2e%2f'.repeat(50) + 'etc%2fpasswd',
  ];

  for (const target of cases) {
    it(`GET ${target.length > 60 ? `${target.slice(0, 60)}...` : target} serves nothing outside the roots`, async () => {
      assertSafe(target, await rawGet(server.port, target));
      assertSafe(target, await rawGet(server.port, target, 'HEAD'));
    });
  }

  it('a raw NUL byte in the request line is refused', async () => {
    for (const target of ['/secret.txt\u0000', '/models/human/\u0000../../../package.json', '/\u0000/../secret.txt']) {
      const r = await rawGet(server.port, target);
      assertSafe(target, r);
      assert.notEqual(r.status, 200);
    }
  });

  it('random traversal paths built from dangerous segments never leak (fast-check, 600 requests)', async () => {
    const segment = fc.constantFrom(
      '..',
      '.',
      '',
      '%2e%2e',
      '%2E%2E',
      '.%2e',
      '%2e.',
      '..%2f',
      '..%5c',
      '%5c',
      '\\',
      '%00',
      '%2f',
      '%252e%252e',
      '%c0%ae%c0%ae',
      '%e0%80%ae',
      'sub',
      'web',
      'secret.txt',
      'package.json',
      'etc',
      'passwd',
      'index.html',
    );
    const prefix = fc.constantFrom('/', '/models/human/', '/models/face-api/', '/wasm/tfjs/', '/vendor/mediapipe-face/', '/sub/', '//');
    const target = fc
      .tuple(
        prefix,
        fc.array(segment, { minLength: 1, maxLength: 12 }),
        fc.constantFrom('secret.txt', 'package.json', 'etc/passwd', '', 'index.html'),
        fc.constantFrom('/', '%2f', '%5c', '\\'),
      )
      .map(([p, segs, leaf, sep]) => p + [...segs, leaf].join(sep));
    await fc.assert(
      fc.asyncProperty(target, async (t) => {
        assertSafe(t, await rawGet(server.port, t));
      }),
      { numRuns: 600 },
    );
  });
});
