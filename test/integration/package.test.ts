import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';

const run = promisify(execFile);
const repo = process.cwd();
const bin = (name: string) => path.join(repo, 'node_modules', '.bin', name);

/**
 * The packed tarball, installed offline into an app of its own: unpacked as npm unpacks it
 * into the app's node_modules/facecast, its bin linked into node_modules/.bin, and its
 * dependencies (and the app's: express, @types) linked from this repository's node_modules,
 * since the test runs without a registry (a clean machine's npm cache has tarballs but not
 * the metadata npm needs to resolve version ranges). The app type-checks against the
 * published types and runs (createFacecast, events, the authorize hook, attach to Express),
 * and `npx facecast serve` serves the demo pages from the installed package alone.
 */
const CONSUMER = `import express from 'express';
import type { AddressInfo } from 'node:net';
import { createFacecast, type FacecastEventMap } from 'facecast';
import WebSocket from 'ws';

const seen: string[] = [];
const facecast = createFacecast({ logLevel: 'silent', workers: 1, authorize: ({ kind }) => (kind === 'websocket' ? { allow: true } : { allow: false, reason: 'no WHIP here' }) });
const log = (e: keyof FacecastEventMap) => facecast.on(e, (data: unknown) => void seen.push(\`\${e} \${JSON.stringify(data)}\`));
log('room-created');
log('participant-joined');
// @ts-expect-error: the events are typed; a misspelt one does not compile
facecast.on('participant-joind', () => undefined);
const app = express();
app.get('/', (_req, res) => void res.send('consumer'));
await facecast.ready();
const server = app.listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
facecast.attach(server, { path: '/sfu' });
const base = \`http://127.0.0.1:\${(server.address() as AddressInfo).port}\`;
const whip = await fetch(\`\${base}/sfu/whip/r1\`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: 'v=0' });
const ws = new WebSocket(base.replace('http', 'ws') + '/sfu/ws');
await new Promise<void>((resolve) => {
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { type: string };
    if (msg.type === 'welcome') ws.send(JSON.stringify({ type: 'join', room: 'r1', name: 'carol' }));
    if (msg.type === 'joined') resolve();
  });
});
for (let i = 0; i < 100 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
ws.close();
console.log(JSON.stringify({ app: await (await fetch(base)).text(), whip: whip.status, seen, rooms: await facecast.rooms() }));
await facecast.close();
server.close();
`;

describe('npm pack: facecast as a dependency of another app', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'facecast-pack-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** SIGTERM to the whole process group (npx and the CLI under it), SIGKILL after 5 s; resolves when none is left. */
  async function stopGroup(pgid: number): Promise<void> {
    const alive = () => {
      try {
        process.kill(-pgid, 0);
        return true;
      } catch {
        return false;
      }
    };
    try {
      process.kill(-pgid, 'SIGTERM');
    } catch {
      return;
    }
    for (let i = 0; i < 100 && alive(); i++) {
      if (i === 50) process.kill(-pgid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('installs offline; the app type-checks and runs; npx facecast serve serves the pages', { timeout: 300_000 }, async () => {
    await run('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: repo });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack made a tarball');
    const app = path.join(dir, 'app');
    mkdirSync(app);
    writeFileSync(
      path.join(app, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { facecast: `file:../${tarball}`, express: '^5.0.0' } }),
    );
    const modules = path.join(app, 'node_modules');
    mkdirSync(path.join(modules, 'facecast'), { recursive: true });
    mkdirSync(path.join(modules, '.bin'));
    await run('tar', ['-xzf', path.join(dir, tarball), '-C', path.join(modules, 'facecast'), '--strip-components=1']);
    for (const entry of readdirSync(path.join(repo, 'node_modules'))) {
      if (entry === '.bin' || entry === 'facecast' || entry.startsWith('.')) continue;
      symlinkSync(path.join(repo, 'node_modules', entry), path.join(modules, entry));
    }
    const manifest = JSON.parse(readFileSync(path.join(modules, 'facecast/package.json'), 'utf8')) as { bin: Record<string, string>; files: string[] };
    for (const [name, file] of Object.entries(manifest.bin)) symlinkSync(path.join('..', 'facecast', file), path.join(modules, '.bin', name));
    assert.deepEqual(readdirSync(path.join(modules, 'facecast')).sort(), ['README.md', 'bin', 'dist', 'package.json'], 'the tarball holds the build, not the sources or tests');
    writeFileSync(path.join(app, 'app.ts'), CONSUMER);
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: true,
          lib: ['ES2022', 'DOM'],
          types: ['node'],
          outDir: 'out',
        },
        files: ['app.ts'],
      }),
    );
    await run(bin('tsc'), ['-p', '.'], { cwd: app }).catch((err: { stdout?: string }) => {
      assert.fail(`the consumer app does not type-check:\n${err.stdout}`);
    });
    const { stdout } = await run(process.execPath, ['out/app.js'], { cwd: app, timeout: 60_000 });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { app: string; whip: number; seen: string[]; rooms: { name: string; participants: { name: string }[] }[] };
    assert.equal(result.app, 'consumer');
    assert.equal(result.whip, 403, 'the authorize hook refused WHIP');
    assert.deepEqual(result.seen.slice(0, 2), [
      'room-created {"room":"r1"}',
      `participant-joined ${JSON.stringify({ room: 'r1', participant: { id: JSON.parse(result.seen[1]!.slice('participant-joined '.length)).participant.id, name: 'carol' } })}`,
    ]);

    // npx facecast serve: the CLI of the installed package serves the demo pages.
    // Its own process group: npx runs the CLI as a child of its own, and both must go at the end.
    const cli = spawn('npx', ['--offline', 'facecast', 'serve', '--port', '0', '--workers', '1'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    try {
      let out = '';
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`facecast serve did not start:\n${out}`)), 30_000);
        cli.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        cli.stderr.on('data', (d: Buffer) => (out += d.toString()));
      });
      const page = await (await fetch(url)).text();
      assert.match(page, /<video id="source"/);
      assert.match(page, /<video id="echo"/);
      assert.equal((await fetch(`${url}/models/human/blazeface.json`)).status, 200, 'models served from the installed package');
    } finally {
      await stopGroup(cli.pid!);
    }
    assert.throws(() => process.kill(-cli.pid!, 0), /ESRCH/, 'npx and the facecast process it started are gone');
  });
});
