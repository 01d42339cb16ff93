#!/usr/bin/env node
/**
 * Builds the browser app into dist/web/ (web/ is grouped by concern: capture/,
 * client/, stats/, pages/; the static files sit at web/ itself):
 *   web/pages/echo/main.ts   -> dist/web/app.js     (the echo page, /)
 *   web/pages/room/main.ts   -> dist/web/room.js    (the room page, /room/NAME)
 *   web/pages/watch/main.ts  -> dist/web/watch.js   (the WHEP player, /watch/NAME)
 *   web/client/index.ts      -> dist/web/facecast-client.js (facecast/client: the room client
 *                               module for any web app, unminified; types from tsconfig.client.json)
 *   web/capture/detect/worker.ts -> dist/web/detect-worker.js (module worker; each detector
 *                               is a lazily imported chunk under dist/web/chunks/, so a
 *                               worker only fetches the tfjs bundle of the detector it runs)
 *   web/capture/compose-worker.ts -> dist/web/compose-worker.js (the capture path's compositor,
 *                               see web/capture/composer.ts)
 *   web/index.html, web/room.html, web/watch.html, web/client-example.html,
 *   web/client-example.js, web/style.css copied as-is.
 *
 * Usage: node scripts/build-web.mjs [--watch] [--no-minify]
 * Exits non-zero on any build error.
 */
import { build, context } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist', 'web');
const args = new Set(process.argv.slice(2));
const watch = args.has('--watch');
const minify = !args.has('--no-minify');

/** @type {import('esbuild').BuildOptions} */
const common = {
  absWorkingDir: root,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'chrome120',
  sourcemap: true,
  minify,
  legalComments: 'none',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
};

const entries = [
  { entryPoints: ['web/pages/echo/main.ts'], outfile: path.join(outdir, 'app.js') },
  { entryPoints: ['web/pages/room/main.ts'], outfile: path.join(outdir, 'room.js') },
  { entryPoints: ['web/pages/watch/main.ts'], outfile: path.join(outdir, 'watch.js') },
  { entryPoints: ['web/client/index.ts'], outfile: path.join(outdir, 'facecast-client.js'), minify: false },
  { entryPoints: ['web/capture/compose-worker.ts'], outfile: path.join(outdir, 'compose-worker.js') },
  {
    entryPoints: { 'detect-worker': 'web/capture/detect/worker.ts' },
    outdir,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
  },
];

const staticFiles = ['index.html', 'room.html', 'watch.html', 'client-example.html', 'client-example.js', 'style.css'];

async function copyStatic() {
  await Promise.all(staticFiles.map((f) => copyFile(path.join(root, 'web', f), path.join(outdir, f))));
}

async function main() {
  const t0 = performance.now();
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  if (watch) {
    for (const e of entries) {
      const ctx = await context({ ...common, ...e });
      await ctx.watch();
    }
    await copyStatic();
    console.log(`build-web: watching (static files are copied once; re-run for html/css changes)`);
    return;
  }
  await Promise.all(entries.map((e) => build({ ...common, ...e })));
  await copyStatic();
  console.log(`build-web: dist/web built in ${Math.round(performance.now() - t0)} ms`);
}

main().catch((err) => {
  // esbuild already printed its diagnostics; print anything else.
  if (!err?.errors) console.error(err);
  console.error('build-web: FAILED');
  process.exit(1);
});
