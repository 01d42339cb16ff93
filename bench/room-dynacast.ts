/**
 * `npm run bench:dynacast`: a three-page room in headless Chromium (fake face camera,
 * `?detector=none`, simulcast on), with dynacast (the default) and with `--no-dynacast`,
 * alternating, once with every tile shown and once with every page hiding every remote tile
 * ("Hide video": nobody watches any video, so dynacast may switch every encoder off). Per run, after a warm-up: the CPU of every Chromium process (utime + stime
 * from /proc, all three pages publish and receive), the simulcast layers each page encodes
 * (outbound-rtp framesEncoded growing per rid), the time the encoders spent (totalEncodeTime: the
 * publishers' encoding CPU, which dynacast is meant to cut) and the frames each page decodes. Each page
 * is brought to the front in turn while measuring, like a user switching tabs (a background
 * page renders, captures and encodes at a crawl). All traffic on 127.0.0.1 (run via in-netns).
 *
 * Options: --seconds N (default 12), --warmup N (default 6), --repeat N (default 3), --no-record
 */
import { execSync } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import { launchBrowser } from '../test/helpers/browser.js';
import { ensureFaceY4m } from '../test/helpers/face-fixture.js';
import { startTestServer, waitFor } from '../test/helpers/server.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '12' },
    warmup: { type: 'string', default: '6' },
    repeat: { type: 'string', default: '3' },
    'no-record': { type: 'boolean' },
  },
});
const seconds = Math.min(60, Number(values.seconds));
const warmup = Math.min(30, Number(values.warmup));
const repeat = Math.min(5, Math.max(1, Number(values.repeat)));
const CLK_TCK = Number(execSync('getconf CLK_TCK').toString().trim()) || 100;

/** CPU seconds (user + system) of every Chromium process now. */
function chromiumCpuS(): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!comm.startsWith('chrom')) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    } catch {
      // gone meanwhile
    }
  }
  return ticks / CLK_TCK;
}

type RoomWindow = Window & { facecastRoom?: { pc: RTCPeerConnection | null } };

/** framesEncoded per rid, seconds spent encoding (totalEncodeTime, all rids), and frames decoded in total, of one page. */
function rtpCounts(page: Page): Promise<{ encoded: Record<string, number>; encodeS: number; decoded: number }> {
  return page.evaluate(async () => {
    const pc = (window as RoomWindow).facecastRoom?.pc;
    const encoded: Record<string, number> = {};
    let decoded = 0;
    let encodeS = 0;
    if (pc)
      (await pc.getStats()).forEach((r: { type: string; kind?: string; rid?: string; framesEncoded?: number; framesDecoded?: number; totalEncodeTime?: number }) => {
        if (r.type === 'outbound-rtp' && r.kind === 'video') {
          encoded[r.rid ?? ''] = r.framesEncoded ?? 0;
          encodeS += r.totalEncodeTime ?? 0;
        }
        if (r.type === 'inbound-rtp' && r.kind === 'video') decoded += r.framesDecoded ?? 0;
      });
    return { encoded, encodeS, decoded };
  });
}

interface Row {
  mode: 'dynacast' | 'no-dynacast';
  /** shown: every tile on screen; hidden: every page has hidden every remote tile ("Hide video"). */
  tiles: 'shown' | 'hidden';
  chromiumCpuPct: number;
  /** Time the pages' encoders spent encoding (outbound-rtp totalEncodeTime), % of one core. */
  encodePct: number;
  /** Mean layers a page encoded (> 1 fps) during the window. */
  layersEncoded: number;
  /** Frames encoded per second, all pages and layers. */
  encodedFps: number;
  /** Frames decoded per second per remote video. */
  decodedFps: number;
}

/** Clicks "Hide video" on every remote tile of the page. */
function hideAll(page: Page): Promise<number> {
  return page.evaluate(() => {
    const buttons = [...document.querySelectorAll<HTMLButtonElement>('figure.tile button.tile-hide')];
    for (const b of buttons) b.click();
    return buttons.length;
  });
}

async function run(mode: Row['mode'], tiles: Row['tiles'], y4m: string): Promise<Row> {
  const server = await startTestServer(mode === 'no-dynacast' ? { noDynacast: true } : {});
  const browser = await launchBrowser({ y4m });
  try {
    const pages: Page[] = [];
    for (const name of ['alice', 'bob', 'carol']) {
      const page = await browser.context.newPage();
      await page.goto(`${server.url}/room/bench-dynacast?name=${name}&detector=none`);
      pages.push(page);
    }
    for (const page of pages) {
      await page.bringToFront();
      await waitFor(async () => (await rtpCounts(page)).decoded > 30, 30_000, 'each page decoding the others');
    }
    if (tiles === 'hidden') for (const page of pages) if ((await hideAll(page)) !== pages.length - 1) throw new Error('a page without its hide buttons');
    await new Promise((r) => setTimeout(r, warmup * 1000));
    const before = await Promise.all(pages.map(rtpCounts));
    const cpu0 = chromiumCpuS();
    const t0 = performance.now();
    // Each page in front for an equal share of the window.
    for (const page of pages) {
      await page.bringToFront();
      await new Promise((r) => setTimeout(r, (seconds * 1000) / pages.length));
    }
    const s = (performance.now() - t0) / 1000;
    const cpu = chromiumCpuS() - cpu0;
    const after = await Promise.all(pages.map(rtpCounts));
    let layers = 0;
    let encoded = 0;
    let decoded = 0;
    let encodeS = 0;
    after.forEach((a, i) => {
      encodeS += a.encodeS - before[i]!.encodeS;
      for (const [rid, n] of Object.entries(a.encoded)) {
        const d = n - (before[i]!.encoded[rid] ?? 0);
        encoded += d;
        if (d / s > 1) layers++;
      }
      decoded += a.decoded - before[i]!.decoded;
    });
    const round = (x: number) => Math.round(x * 10) / 10;
    return {
      mode,
      tiles,
      chromiumCpuPct: round((cpu / s) * 100),
      encodePct: round((encodeS / s) * 100),
      layersEncoded: round(layers / pages.length),
      encodedFps: round(encoded / s),
      decodedFps: round(decoded / s / (pages.length * (pages.length - 1))),
    };
  } finally {
    await browser.close();
    await server.close();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return Math.round((s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2) * 10) / 10;
};

const fixture = await ensureFaceY4m();
const rows: Row[] = [];
const CASES = [
  ['shown', 'dynacast'],
  ['shown', 'no-dynacast'],
  ['hidden', 'dynacast'],
  ['hidden', 'no-dynacast'],
] as const;
for (let i = 0; i < repeat; i++) for (const [tiles, mode] of CASES) rows.push(await run(mode, tiles, fixture.path));
process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
const summary = CASES.map(([tiles, mode]) => {
  const rs = rows.filter((r) => r.mode === mode && r.tiles === tiles);
  return {
    mode,
    tiles,
    chromiumCpuPct: median(rs.map((r) => r.chromiumCpuPct)),
    encodePct: median(rs.map((r) => r.encodePct)),
    encodeRuns: rs.map((r) => r.encodePct).join(', '),
    layersEncoded: median(rs.map((r) => r.layersEncoded)),
    encodedFps: median(rs.map((r) => r.encodedFps)),
    decodedFps: median(rs.map((r) => r.decodedFps)),
    runs: rs.map((r) => r.chromiumCpuPct).join(', '),
  };
});
if (!values['no-record']) {
  const commit = execSync('git rev-parse --short HEAD').toString().trim();
  const ratio = (tiles: Row['tiles'], k: 'encodePct' | 'chromiumCpuPct') => {
    const on = summary.find((r) => r.tiles === tiles && r.mode === 'dynacast')!;
    const off = summary.find((r) => r.tiles === tiles && r.mode === 'no-dynacast')!;
    return Math.round((on[k] / off[k]) * 100) / 100;
  };
  appendFileSync(
    'docs/BENCHMARKS.md',
    [
      '',
      `## Dynacast: a three-page Chromium room, ${new Date().toISOString().slice(0, 10)} (commit ${commit})`,
      '',
      `Command: \`npm run bench:dynacast\` (3 room pages, fake 640x480 face camera, \`?detector=none\`, simulcast q/h/f; ${warmup} s warm-up, ${seconds} s measured with each page in front for a third; medians of ${repeat} alternating runs). Machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}. Chromium CPU: every Chromium process, % of one core.`,
      '',
      '| tiles | mode | encoding time, all pages (runs) | Chromium CPU (runs) | layers encoded per page | frames encoded / s (all pages) | frames decoded / s per remote video |',
      '|---|---|---|---|---|---|---|',
      ...summary.map(
        (r) => `| ${r.tiles} | ${r.mode} | ${r.encodePct}% (${r.encodeRuns}) | ${r.chromiumCpuPct}% (${r.runs}) | ${r.layersEncoded} | ${r.encodedFps} | ${r.decodedFps} |`,
      ),
      '',
      `Dynacast ÷ without, tiles shown: encoding time ${ratio('shown', 'encodePct')}x, Chromium CPU ${ratio('shown', 'chromiumCpuPct')}x; every remote tile hidden: encoding time ${ratio('hidden', 'encodePct')}x, Chromium CPU ${ratio('hidden', 'chromiumCpuPct')}x.`,
      '',
    ].join('\n'),
  );
}
process.exit(0);
