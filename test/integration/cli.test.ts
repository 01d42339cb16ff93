import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';

const cli = ['--import', 'tsx', 'src/server/cli.ts'];

function runCli(args: string[]) {
  return spawnSync(process.execPath, [...cli, ...args], { encoding: 'utf8', timeout: 20_000 });
}

describe('facecast CLI', () => {
  it('a bad flag: one line on stderr, exit 1, no stack trace', () => {
    const r = runCli(['serve', '--bogus']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^facecast: .*--bogus/);
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
    const child = spawn(process.execPath, [...cli, 'serve', '--port', '0', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += String(d);
          const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.once('exit', () => reject(new Error(`server exited: ${out}`)));
      });
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

  it('state against a server that is not there: one line, exit 1', () => {
    const r = runCli(['state', '--url', 'http://127.0.0.1:9']);
    assert.equal(r.status, 1);
    assert.match(r.stderr.trim(), /^facecast: cannot reach http:\/\/127\.0\.0\.1:9/);
  });
});
