/**
 * `npm run bench:echo`: the echo page in headless Chromium with the fake face
 * camera, measured side by side in one run: the page with the detector on, and
 * with `?detector=none`, each through the SFU and through a direct in-page
 * loopback (`?loopback=direct`: two RTCPeerConnections, no server), so the SFU's
 * share of the glass-to-glass latency (web/stats/glass.ts) shows. Samples window.facecast.stats once a second after a
 * warm-up and reports medians. All traffic on 127.0.0.1 (run via in-netns).
 *
 * Options: --seconds N (default 15), --warmup N (default 5), --no-record
 */
import { execSync } from 'node:child_process';
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { launchBrowser } from '../test/helpers/browser.js';
import { ensureFaceY4m } from '../test/helpers/face-fixture.js';
import { startTestServer } from '../test/helpers/server.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '15' }, warmup: { type: 'string', default: '5' }, 'no-record': { type: 'boolean' } },
});
const seconds = Math.min(120, Number(values.seconds));
const warmup = Math.min(60, Number(values.warmup));

type Stats = Record<string, number | string | null>;
const KEYS = ['cameraFps', 'outputFps', 'detectFps', 'detectMs', 'echoFps', 'bitrateKbps', 'rttMs', 'glassMs'] as const;

const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function measure(query: string, y4m: string, url: string) {
  const browser = await launchBrowser({ y4m });
  try {
    const page = await browser.context.newPage();
    await page.goto(`${url}/${query}`);
    await page.waitForFunction(() => (window as unknown as { facecast?: { stats: Stats } }).facecast?.stats.connection === 'connected', null, { timeout: 30_000 });
    await page.waitForTimeout(warmup * 1000);
    const samples: Stats[] = [];
    for (let i = 0; i < seconds; i++) {
      await page.waitForTimeout(1000);
      samples.push(await page.evaluate(() => ({ ...(window as unknown as { facecast: { stats: Stats } }).facecast.stats })));
    }
    const out: Record<string, number | null | string> = { query: query || '(default)', detector: String(samples.at(-1)?.detector) };
    for (const k of KEYS) out[k] = median(samples.map((s) => Number(s[k] ?? NaN)));
    return out;
  } finally {
    await browser.close();
  }
}

const fixture = await ensureFaceY4m();
const server = await startTestServer();
try {
  const rows = [];
  // Through the SFU and through a direct in-page loopback (glass-to-glass baseline), alternating.
  for (const query of ['?detector=none', '?detector=none&loopback=direct', '', '?loopback=direct']) rows.push(await measure(query, fixture.path, server.url));
  const commit = (() => {
    try {
      return execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  })();
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const report = { bench: 'echo-page', date: new Date().toISOString(), commit, machine, seconds, warmup, rows };
  console.log(JSON.stringify(report, null, 2));
  if (!values['no-record']) {
    const file = 'docs/BENCHMARKS.md';
    if (!existsSync(file)) writeFileSync(file, '# Benchmarks\n\nEvery figure here was produced by the command named above its table; runs are appended, newest last.\n');
    const fmt = (v: unknown) => (typeof v === 'number' ? (Math.round(v * 10) / 10).toString() : String(v ?? '-'));
    const lines = [
      '',
      `## Echo page, headless Chromium — ${report.date.slice(0, 10)}, commit ${commit}`,
      '',
      `Command: \`npm run bench:echo\` (medians of ${seconds} one-second samples after ${warmup} s warm-up; fake camera 640x480 from test/fixtures; all rows in one run; glass-to-glass = frame capture to echo display, read back from the frame code, each sample itself a median of ~2 s). Machine: ${machine}.`,
      '',
      `| page | detector | camera fps | output fps | detect fps | detect ms | echo fps | kbps out | RTT ms | glass-to-glass ms |`,
      `|---|---|---|---|---|---|---|---|---|---|`,
      ...rows.map((r) => `| \`/${r.query === '(default)' ? '' : r.query}\` | ${r.detector} | ${KEYS.map((k) => fmt(r[k])).join(' | ')} |`),
      '',
    ];
    appendFileSync(file, lines.join('\n'));
    console.error(`recorded in ${file}`);
  }
} finally {
  await server.close();
}
