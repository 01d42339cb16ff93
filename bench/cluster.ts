/**
 * `npm run bench:cluster` (also `npm run bench -- --scenarios cluster`): one WHIP publisher to
 * 150 WHEP viewers on a cluster of three nodes (`facecast serve --redis`, each its own process
 * with its room workers) and one redis-server, everything on 127.0.0.1.
 *
 * Two layouts, alternated run by run:
 *   cascade  the viewers spread over the three nodes: the room's node pushes the publisher once
 *            to each other node, every node fans out to its own viewers
 *   single   the same viewers all on the room's node (what a room that cannot span nodes gives)
 * Reported per run: delivered packets against expected, each node's CPU (utime + stime of the
 * process, all threads, over the measured window) and packets out, the push traffic, and the
 * generator's latency samples. The generator is bench/load/generator.ts (`whep` scenario).
 *
 * Usage: npm run bench:cluster [-- --viewers 150] [--bitrate 800000] [--duration S] [--repeat N] [--no-record]
 */
import { execSync, spawn } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ServerState } from '../src/server/facecast.js';
import { ClusterNode } from '../test/helpers/cluster-node.js';
import { TestRedis } from '../test/helpers/redis.js';
import type { GeneratorArgs, GeneratorResult } from './load/generator.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLK_TCK = Number(execSync('getconf CLK_TCK').toString().trim()) || 100;

const { values } = parseArgs({
  options: {
    viewers: { type: 'string', default: '150' },
    bitrate: { type: 'string', default: '800000' },
    duration: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '5' },
    repeat: { type: 'string', default: '2' },
    'no-record': { type: 'boolean', default: false },
  },
});
const viewers = Number(values.viewers);
const bitrateBps = Number(values.bitrate);
const durationS = Number(values.duration);
const warmupS = Number(values.warmup);
const repeat = Number(values.repeat);

const cpuSeconds = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
};

interface NodeFigures {
  role: 'room' | 'edge';
  viewers: number;
  cpuPct: number;
  packetsOutPerS: number;
  pushPacketsPerS: number;
}

interface Run {
  layout: 'cascade' | 'single';
  delivered: number;
  expected: number;
  deliveredShare: number;
  p50Ms: number;
  p99Ms: number;
  setupS: number;
  nodes: NodeFigures[];
  totalCpuPct: number;
}

async function counters(node: ClusterNode): Promise<{ out: number; push: number }> {
  const s = await node.json<ServerState>('/api/state?scope=node');
  return { out: s.peers.reduce((n, p) => n + p.packetsOut, 0), push: (s.pushes ?? []).reduce((n, p) => n + p.packetsOut, 0) };
}

async function runOnce(layout: Run['layout']): Promise<Run> {
  const redis = await TestRedis.start();
  const nodes = await Promise.all([0, 1, 2].map(() => ClusterNode.start(redis.url, ['--max-participants', '400', '--max-room-size', '400'])));
  try {
    for (const n of nodes) {
      const deadline = Date.now() + 10_000;
      while ((await n.json<{ nodes: unknown[] }>('/api/nodes')).nodes.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    }
    const room = nodes[0]!;
    const args: GeneratorArgs = {
      url: room.url,
      scenario: 'whep',
      viewerUrls: layout === 'cascade' ? nodes.map((n) => n.url) : [room.url],
      publishers: 1,
      subscribers: viewers,
      bitrateBps,
      warmupS,
      durationS,
      sampleEvery: 16,
    };
    const gen = spawn(process.execPath, ['--import', 'tsx', 'bench/load/generator.ts', JSON.stringify(args)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let result: GeneratorResult | undefined;
    let start: { cpu: number[]; c: { out: number; push: number }[]; at: number } | undefined;
    let end: typeof start;
    const mark = async () => ({ cpu: nodes.map((n) => cpuSeconds(n.child.pid!)), c: await Promise.all(nodes.map(counters)), at: performance.now() });
    const killer = setTimeout(() => gen.kill('SIGKILL'), (warmupS + durationS + 240) * 1000);
    await new Promise<void>((resolve, reject) => {
      const pending: Promise<void>[] = [];
      readline.createInterface({ input: gen.stdout! }).on('line', (line) => {
        let o: { phase?: string; result?: GeneratorResult };
        try {
          o = JSON.parse(line) as typeof o;
        } catch {
          process.stderr.write(`${line}\n`);
          return;
        }
        if (o.phase === 'start') pending.push(mark().then((m) => void (start = m)));
        if (o.phase === 'end') pending.push(mark().then((m) => void (end = m)));
        if (o.result) result = o.result;
      });
      gen.once('exit', (code) => {
        clearTimeout(killer);
        void Promise.all(pending).then(() => (code === 0 && result ? resolve() : reject(new Error(`generator exited ${code}`))));
      });
    });
    const s = start!;
    const e = end!;
    const seconds = (e.at - s.at) / 1000;
    const perNode = nodes.map(
      (_, i): NodeFigures => ({
        role: i === 0 ? 'room' : 'edge',
        viewers: layout === 'single' ? (i === 0 ? viewers : 0) : Math.floor(viewers / 3) + (i < viewers % 3 ? 1 : 0),
        cpuPct: Math.round(((e.cpu[i]! - s.cpu[i]!) / seconds) * 1000) / 10,
        packetsOutPerS: Math.round((e.c[i]!.out - s.c[i]!.out) / seconds),
        pushPacketsPerS: Math.round((e.c[i]!.push - s.c[i]!.push) / seconds),
      }),
    );
    const r = result!;
    return {
      layout,
      delivered: r.packetsDelivered,
      expected: r.packetsExpected,
      deliveredShare: Math.round((r.packetsDelivered / Math.max(1, r.packetsExpected)) * 10000) / 10000,
      p50Ms: Math.round(r.latencyMs.p50 * 10) / 10,
      p99Ms: Math.round(r.latencyMs.p99 * 10) / 10,
      setupS: Math.round(r.setupMs / 100) / 10,
      nodes: perNode,
      totalCpuPct: Math.round(perNode.reduce((n, x) => n + x.cpuPct, 0) * 10) / 10,
    };
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    await redis.stop();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return Math.round(m * 10) / 10;
};

async function main(): Promise<void> {
  const runs: Run[] = [];
  for (let i = 0; i < repeat; i++) {
    for (const layout of ['cascade', 'single'] as const) {
      const r = await runOnce(layout);
      runs.push(r);
      process.stderr.write(`# ${JSON.stringify(r)}\n`);
    }
  }
  const commit = execSync('git rev-parse --short HEAD', { cwd: root }).toString().trim();
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, nothing pinned`;
  const summary = (layout: Run['layout']) => {
    const rs = runs.filter((r) => r.layout === layout);
    return {
      deliveredShare: median(rs.map((r) => r.deliveredShare * 1000)) / 1000,
      p99Ms: median(rs.map((r) => r.p99Ms)),
      totalCpuPct: median(rs.map((r) => r.totalCpuPct)),
      roomNodeCpuPct: median(rs.map((r) => r.nodes[0]!.cpuPct)),
      edgeCpuPct: median(rs.flatMap((r) => r.nodes.slice(1).map((n) => n.cpuPct))),
      roomNodePacketsOutPerS: median(rs.map((r) => r.nodes[0]!.packetsOutPerS + r.nodes[0]!.pushPacketsPerS)),
      pushPacketsPerS: median(rs.map((r) => r.nodes[0]!.pushPacketsPerS)),
    };
  };
  const cascade = summary('cascade');
  const single = summary('single');
  const report = { date: new Date().toISOString(), commit, machine, viewers, bitrateBps, durationS, repeat, cascade, single, runs };
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  if (values['no-record']) return;
  const row = (name: string, s: typeof cascade) =>
    `| ${name} | ${(s.deliveredShare * 100).toFixed(2)}% | ${s.p99Ms} | ${s.roomNodeCpuPct}% | ${s.edgeCpuPct}% | ${s.totalCpuPct}% | ${s.roomNodePacketsOutPerS} | ${s.pushPacketsPerS} |`;
  appendFileSync(
    path.join(root, 'docs/BENCHMARKS.md'),
    [
      '',
      `## Cluster: 1 WHIP publisher -> ${viewers} WHEP viewers on 3 nodes (${report.date.slice(0, 10)}, ${commit})`,
      '',
      `${machine}; \`npm run bench:cluster\`, ${bitrateBps / 1000} kbps, ${durationS} s windows, medians of ${repeat} runs per layout, alternated.`,
      'cascade: viewers spread over the 3 nodes, the room node pushes the publisher once to each other node; single: every viewer on the room node.',
      '',
      '| layout | delivered | p99 ms | room node CPU | edge node CPU (each) | all nodes CPU | room node pkts out/s | of which pushes/s |',
      '|---|---|---|---|---|---|---|---|',
      row('cascade', cascade),
      row('single', single),
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:cluster: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
