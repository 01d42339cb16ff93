/**
 * `npm run bench:churn`: N join/leave cycles of werift clients against an SFU in
 * its own process, next to a resident participant whose call keeps running. Reports
 * the SFU's RSS (after a full GC) and open file descriptors before and after, and
 * what /api/state shows once everyone has left. All on 127.0.0.1; bounded by N and
 * by a time limit.
 *
 * Usage: npm run bench:churn [-- --cycles 1000] [--json FILE] [--no-record]
 */
import { spawn } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { execSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { waitFor } from '../test/helpers/server.js';
import { Vp8Source } from '../test/helpers/vp8-source.js';
import { TestClient } from '../test/helpers/werift-client.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { cycles: { type: 'string', default: '1000' }, json: { type: 'string' }, 'no-record': { type: 'boolean', default: false } },
});
const cycles = Math.min(5000, Math.max(1, Number(values.cycles)));
const deadline = Date.now() + 30 * 60_000;

const sfu = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/load/server.ts', 'fast'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise<string>((resolve, reject) => {
  readline.createInterface({ input: sfu.stdout! }).on('line', (line) => {
    const m = /"url":"([^"]+)"/.exec(line);
    if (m) resolve(m[1]!);
  });
  sfu.once('exit', (code) => reject(new Error(`SFU exited (${code})`)));
});
const pid = sfu.pid!;
const rssMiB = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
const fds = () => readdirSync(`/proc/${pid}/fd`).length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** RSS after a full GC in the SFU, settled. */
async function settledRss(): Promise<number> {
  process.kill(pid, 'SIGUSR2');
  await sleep(1000);
  process.kill(pid, 'SIGUSR2');
  await sleep(500);
  return rssMiB();
}
type State = { peers: unknown[]; rooms: unknown[] };
const state = async () => (await (await fetch(`${url}/api/state`)).json()) as State;

const resident = new TestClient(url, { keep: false });
const source = new Vp8Source();
let timer: NodeJS.Timeout | undefined;
try {
  await resident.join('churn', 'resident');
  await resident.connect();
  timer = setInterval(() => {
    for (const p of source.nextFrame()) resident.sendRtp(p);
  }, 33);
  const cycle = async (i: number) => {
    const c = new TestClient(url, { keep: false });
    await c.join('churn', `visitor-${i % 7}`);
    await c.connect();
    const s = new Vp8Source({ ssrc: 0x1000 + i });
    for (const p of s.nextFrame()) c.sendRtp(p);
    if (i % 3 === 0) c.ws.terminate(); // some vanish without a goodbye
    await c.close();
  };
  // Warm-up: the first visitors load code paths and caches once.
  for (let i = 0; i < 20; i++) await cycle(i);
  await waitFor(async () => (await state()).peers.length === 1, 15_000, 'warm-up visitors gone');
  const before = { rssMiB: await settledRss(), fds: fds() };
  const t0 = performance.now();
  let done = 0;
  for (let i = 0; i < cycles && Date.now() < deadline; i++, done++) {
    await cycle(i);
    if (i % 100 === 99) process.stderr.write(`${i + 1} cycles, SFU RSS ${rssMiB().toFixed(1)} MiB\n`);
  }
  const seconds = (performance.now() - t0) / 1000;
  await waitFor(async () => (await state()).peers.length === 1, 15_000, 'only the resident left');
  const after = { rssMiB: await settledRss(), fds: fds() };
  const final = await state();
  const report = {
    bench: 'churn',
    date: new Date().toISOString(),
    commit: (() => {
      try {
        return execSync('git rev-parse --short HEAD', { cwd: root }).toString().trim();
      } catch {
        return 'unknown';
      }
    })(),
    machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`,
    cycles: done,
    seconds: Math.round(seconds),
    before,
    after,
    rssGrowth: Math.round((after.rssMiB / before.rssMiB - 1) * 1000) / 1000,
    peersLeft: final.peers.length - 1,
    roomsLeft: final.rooms.length,
  };
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
  if (!values['no-record']) {
    appendFileSync(
      path.join(root, 'docs/BENCHMARKS.md'),
      [
        '',
        `## Join/leave churn, ${report.date.slice(0, 10)} (commit ${report.commit})`,
        '',
        `Command: \`npm run bench:churn\` (werift clients join a room, publish, leave — every third vanishes without closing its socket — next to a resident call; SFU in its own process; RSS after a full GC; ${report.machine}).`,
        '',
        '| cycles | time | SFU RSS before → after | growth | open fds before → after | peers left | rooms |',
        '|---|---|---|---|---|---|---|',
        `| ${done} | ${report.seconds} s | ${before.rssMiB.toFixed(1)} → ${after.rssMiB.toFixed(1)} MiB | ${(report.rssGrowth * 100).toFixed(1)}% | ${before.fds} → ${after.fds} | ${report.peersLeft} | ${report.roomsLeft} (the resident's) |`,
        '',
      ].join('\n'),
    );
  }
} finally {
  clearInterval(timer);
  await resident.close().catch(() => undefined);
  sfu.kill('SIGTERM');
}
