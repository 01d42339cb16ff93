/**
 * `npm run bench:floor`: what one core can do per forwarded packet in Node at all,
 * before any SFU logic — the floor under `npm run bench`'s figures.
 *
 * Measures CPU time (process.cpuUsage: user + system) for N packets of 1200 bytes:
 *  - srtp-gcm:      AES-128-GCM, a new cipher per packet (what SRTP needs: the IV is per packet)
 *  - srtp-ctr-hmac: AES-128-CM + HMAC-SHA1-80, likewise
 *  - werift-encrypt: werift's SrtpSession.encrypt (GCM profile), header object included
 *  - udp-send:      dgram.send of 1200 bytes to a socket on 127.0.0.1 drained by another process
 *  - gcm+send:      both, per packet (the least an SFU does per forwarded packet)
 * Each is run 3 times, alternating; the median is reported as packets per CPU-second.
 *
 * Usage: npm run bench:floor [-- --packets N] [--json FILE] [--no-record]
 */
import { spawn } from 'node:child_process';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { appendFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { execSync } from 'node:child_process';
import { ProtectionProfileAeadAes128Gcm, RtpHeader, SrtpSession } from 'werift';

const { values } = parseArgs({
  options: { packets: { type: 'string', default: '100000' }, json: { type: 'string' }, 'no-record': { type: 'boolean', default: false } },
});
const N = Math.min(1_000_000, Math.max(1000, Number(values.packets)));

const key = randomBytes(16);
const salt = randomBytes(12);
const authKey = randomBytes(20);
const payload = randomBytes(1200 - 12);
const header = Buffer.alloc(12);
header[0] = 0x80;
header[1] = 96;

function gcm(i: number): Buffer {
  const iv = Buffer.from(salt);
  iv.writeUInt32BE((iv.readUInt32BE(8) ^ (i & 0xffff)) >>> 0, 8);
  const c = createCipheriv('aes-128-gcm', key, iv);
  c.setAAD(header);
  const enc = c.update(payload);
  c.final();
  return Buffer.concat([header, enc, c.getAuthTag()]);
}

function ctrHmac(i: number): Buffer {
  const iv = Buffer.alloc(16);
  salt.copy(iv);
  iv.writeUInt16BE(i & 0xffff, 12);
  const enc = createCipheriv('aes-128-ctr', key, iv).update(payload);
  const tag = createHmac('sha1', authKey).update(header).update(enc).update(Buffer.alloc(4)).digest().subarray(0, 10);
  return Buffer.concat([header, enc, tag]);
}

const session = new SrtpSession({
  profile: ProtectionProfileAeadAes128Gcm,
  keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt },
});
function weriftEncrypt(i: number): Buffer {
  return session.encrypt(payload, new RtpHeader({ ssrc: 1234, payloadType: 96, sequenceNumber: i & 0xffff, timestamp: i }));
}

/** A drain on 127.0.0.1 in its own process (its CPU is not ours). */
async function startDrain(): Promise<{ port: number; stop(): void }> {
  const code =
    "const s=require('dgram').createSocket('udp4');s.on('message',()=>{});s.bind(0,'127.0.0.1',()=>console.log(s.address().port));process.stdin.on('close',()=>process.exit(0));process.stdin.resume();";
  const child = spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((r) => child.stdout.once('data', (d) => r(Number(String(d).trim()))));
  return { port, stop: () => child.stdin.end() };
}

async function measure(name: string, perPacket: (i: number) => void, batch = 256): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < N; ) {
    const end = Math.min(N, i + batch);
    for (; i < end; i++) perPacket(i);
    // let the sends' nextTicks and the socket drain run, as in a real event loop
    await new Promise((r) => setImmediate(r));
  }
  const used = process.cpuUsage(start);
  const cpuS = (used.user + used.system) / 1e6;
  process.stderr.write(`${name.padEnd(15)} ${Math.round(N / cpuS)} packets per CPU-second (${((used.system / (used.user + used.system)) * 100).toFixed(0)}% sys)\n`);
  return N / cpuS;
}

const drain = await startDrain();
const socket = dgram.createSocket('udp4');
await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
socket.on('error', () => undefined);
const packet = gcm(0);
const cases: Record<string, (i: number) => void> = {
  'srtp-gcm': (i) => void gcm(i),
  'srtp-ctr-hmac': (i) => void ctrHmac(i),
  'werift-encrypt': (i) => void weriftEncrypt(i),
  'udp-send': () => socket.send(packet, drain.port, '127.0.0.1'),
  'gcm+send': (i) => socket.send(gcm(i), drain.port, '127.0.0.1'),
};
const results: Record<string, number[]> = {};
for (let rep = 0; rep < 3; rep++) {
  for (const [name, fn] of Object.entries(cases)) (results[name] ??= []).push(await measure(name, fn));
}
socket.close();
drain.stop();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;
const floor = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, Math.round(median(v))]));
const commit = (() => {
  try {
    return execSync('git rev-parse --short HEAD').toString().trim();
  } catch {
    return 'unknown';
  }
})();
const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`;
const report = { bench: 'floor', date: new Date().toISOString(), commit, machine, packets: N, packetsPerCpuSecond: floor };
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
if (!values['no-record']) {
  appendFileSync(
    'docs/BENCHMARKS.md',
    [
      '',
      `## Per-packet floor in Node, ${report.date.slice(0, 10)} (commit ${commit})`,
      '',
      `Command: \`npm run bench:floor\` (${N} packets of 1200 bytes per case, median of 3 alternating runs, user + system CPU of one process). Machine: ${machine}.`,
      '',
      '| case | packets per CPU-second |',
      '|---|---|',
      ...Object.entries(floor).map(([k, v]) => `| ${k} | ${v} |`),
      '',
    ].join('\n'),
  );
}
