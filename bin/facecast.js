#!/usr/bin/env node
// The `facecast` command: runs the compiled CLI (built by `npm run build` / `npm start`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/server/cli.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('facecast: not built yet; run "npm run build" first\n');
  process.exit(1);
}
await import(cli);
