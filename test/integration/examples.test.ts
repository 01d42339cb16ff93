import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, describe, it } from 'node:test';
import WebSocket from 'ws';

/** Run an example the way its header says (tsx, against the built package) until it prints its URL. */
async function runExample(file: string): Promise<{ url: string; child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', file], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not start:\n${out}`)), 30_000);
    child.stdout!.on('data', () => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`${file} exited (${code}):\n${out}`)));
  });
  return { url, child, output: () => out };
}

/** Open the signaling socket, join `room`; resolves with the server's first messages (welcome, then joined or error). */
function joinRoom(wsUrl: string, room: string, name: string): Promise<{ status?: number; messages: { type: string; name?: string; code?: string }[] }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl);
    const messages: { type: string }[] = [];
    ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode, messages }));
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { type: string };
      messages.push(m);
      if (m.type === 'welcome') ws.send(JSON.stringify({ type: 'join', room, name }));
      else {
        ws.close();
        resolve({ messages });
      }
    });
    ws.on('error', () => undefined);
  });
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(check(), what);
}

describe('examples/', () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) c.kill('SIGKILL');
  });

  it('plain-http.ts: the app keeps its routes; signaling and the API under /facecast; events logged', async () => {
    const { url, child, output } = await runExample('examples/plain-http.ts');
    children.push(child);
    assert.equal(await (await fetch(`${url}/hello`)).text(), 'your app answered /hello\n');
    assert.deepEqual(await (await fetch(`${url}/facecast/healthz`)).json(), { ok: true });
    const joined = await joinRoom(`${url.replace('http', 'ws')}/facecast/ws`, 'demo', 'bob');
    assert.equal(joined.messages.at(-1)?.type, 'joined');
    await until(() => output().includes('joined: bob in demo'), `the participant-joined event printed:\n${output()}`);
    const state = (await (await fetch(`${url}/facecast/api/state`)).json()) as { rooms: unknown[] };
    assert.ok(Array.isArray(state.rooms));
    child.kill('SIGTERM');
    assert.equal(await new Promise((r) => child.once('exit', r)), 0, 'SIGTERM: closed and exited');
  });

  it('express.ts: the authorize hook refuses an unknown key and names a known one', async () => {
    const { url, child, output } = await runExample('examples/express.ts');
    children.push(child);
    assert.equal(await (await fetch(`${url}/`)).text(), 'an Express app with an SFU inside\n');
    const ws = `${url.replace('http', 'ws')}/facecast/ws`;
    assert.equal((await joinRoom(`${ws}?key=wrong`, 'lobby', 'x')).status, 401);
    const other = await joinRoom(`${ws}?key=demo-key`, 'elsewhere', 'x');
    assert.equal(other.messages.at(-1)?.code, 'forbidden', 'the hook granted room lobby only');
    const ok = await joinRoom(`${ws}?key=demo-key`, 'lobby', 'alice');
    assert.equal(ok.messages.at(-1)?.type, 'joined');
    assert.equal(ok.messages.at(-1)?.name, 'alice');
    await until(() => output().includes('joined: alice in lobby'), `the event printed:\n${output()}`);
    child.kill('SIGTERM');
    assert.equal(await new Promise((r) => child.once('exit', r)), 0);
  });
});
