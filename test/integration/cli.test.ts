import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { TestClient } from '../helpers/werift-client.js';

const cli = ['--import', 'tsx', 'src/server/cli.ts'];

function runCli(args: string[]) {
  return spawnSync(process.execPath, [...cli, ...args], { encoding: 'utf8', timeout: 20_000 });
}

/** `facecast serve --port 0` in a child process; `url` once it logs that it listens. */
function serveCli() {
  const child = spawn(process.execPath, [...cli, 'serve', '--port', '0', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const url = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += String(d);
      const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', () => reject(new Error(`server exited: ${out}`)));
  });
  return { child, url };
}

describe('facecast CLI', () => {
  it('a bad flag: one line on stderr, exit 1, no stack trace', () => {
    const r = runCli(['serve', '--bogus']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^facecast: .*--bogus/);
  });

  it('--redis where no Redis answers: one line naming it (password hidden), exit 1', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    await new Promise<void>((resolve) => blocker.close(() => resolve())); // a free port: nothing listens there
    const r = runCli(['serve', '--port', '0', '--log-level', 'silent', '--redis', `redis://:hunter2@127.0.0.1:${port}`]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim(), `facecast: cannot reach Redis at redis://:***@127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  it('port in use: one line, exit 1', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = runCli(['serve', '--port', String(port), '--log-level', 'silent']);
      assert.equal(r.status, 1);
      assert.equal(r.stderr.trim(), `facecast: port ${port} on 127.0.0.1 is already in use (try --port)`);
    } finally {
      blocker.close();
    }
  });

  it('serves, answers `facecast state`, and exits 0 on SIGTERM', async () => {
    const { child, url: listening } = serveCli();
    try {
      const url = await listening;
      const health = await fetch(url + '/healthz');
      assert.equal(health.status, 200);
      const table = runCli(['state', '--url', url]);
      assert.equal(table.status, 0, table.stderr);
      assert.match(table.stdout, /^PEER\s+NAME\s+ROOM\s+CONN\s+ICE/);
      assert.match(table.stdout, /0 room\(s\), 0 peer\(s\)/);
      const json = runCli(['state', '--url', url, '--json']);
      assert.deepEqual(JSON.parse(json.stdout).peers, []);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    }
  });

  it('SIGTERM during a call: the client is told (shutting-down, close 1001), exit 0 within 5 s', async () => {
    const { child, url: listening } = serveCli();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let client: TestClient | undefined;
    try {
      const url = await listening;
      client = new TestClient(url);
      await client.connect();
      const wsClosed = new Promise<number>((resolve) => client!.ws.once('close', (code) => resolve(code)));
      const t0 = performance.now();
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      const seconds = (performance.now() - t0) / 1000;
      assert.ok(seconds < 5, `exited after ${seconds.toFixed(1)} s`);
      assert.equal(await wsClosed, 1001);
      assert.ok(
        client.messages.some((m) => m.type === 'error' && m.code === 'shutting-down'),
        `messages: ${JSON.stringify(client.messages.map((m) => m.type))}`,
      );
      console.log(`# graceful shutdown during a call: client told (shutting-down, 1001), exit 0 after ${seconds.toFixed(2)} s`);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await client?.close();
    }
  });

  it('state against a server that is not there: one line, exit 1', () => {
    const r = runCli(['state', '--url', 'http://127.0.0.1:9']);
    assert.equal(r.status, 1);
    assert.match(r.stderr.trim(), /^facecast: cannot reach http:\/\/127\.0\.0\.1:9/);
  });
});
