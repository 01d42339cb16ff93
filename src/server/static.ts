import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (this file is src/server/static.ts or dist/server/static.js). */
export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

const require = createRequire(import.meta.url);

/**
 * Directory of an installed npm package: resolved like an import from here (a package whose
 * `exports` hide package.json is looked up the way Node does, in every node_modules from
 * here up: facecast installed in an app has its dependencies beside it, not inside it).
 */
export function packageDir(name: string): string {
  try {
    return path.dirname(require.resolve(`${name}/package.json`));
  } catch {
    for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
      const candidate = path.join(dir, 'node_modules', name);
      if (existsSync(path.join(candidate, 'package.json'))) return candidate;
      if (path.dirname(dir) === dir) return path.join(PROJECT_ROOT, 'node_modules', name);
    }
  }
}

export interface Mount {
  /** URL prefix, ending in '/'. */
  prefix: string;
  dir: string;
}

/** URL prefixes served from disk: the built app, model weights and wasm from npm packages. */
export function defaultMounts(webRoot = path.join(PROJECT_ROOT, 'dist', 'web')): Mount[] {
  return [
    { prefix: '/models/face-api/', dir: path.join(packageDir('@vladmandic/face-api'), 'model') },
    { prefix: '/models/human/', dir: path.join(packageDir('@vladmandic/human'), 'models') },
    { prefix: '/vendor/mediapipe-face/', dir: packageDir('@mediapipe/face_detection') },
    { prefix: '/wasm/tfjs/', dir: path.join(packageDir('@tensorflow/tfjs-backend-wasm'), 'dist') },
    { prefix: '/', dir: webRoot },
  ];
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.tflite': 'application/octet-stream',
  '.binarypb': 'application/octet-stream',
  '.data': 'application/octet-stream',
};

/** Resolve a URL path under a mount, or undefined if it escapes it or is malformed. */
export function resolveUnder(dir: string, relative: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(relative);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  const root = path.resolve(dir);
  const full = path.resolve(root, '.' + path.posix.normalize('/' + decoded));
  if (full !== root && !full.startsWith(root + path.sep)) return undefined;
  return full;
}

/** Serve a GET/HEAD for a static file; returns false when no mount matched a file. */
export async function serveStatic(req: IncomingMessage, res: ServerResponse, mounts: Mount[]): Promise<boolean> {
  const urlPath = (req.url ?? '/').split('?')[0]!;
  for (const mount of mounts) {
    if (!urlPath.startsWith(mount.prefix)) continue;
    let rel = urlPath.slice(mount.prefix.length);
    if (rel === '' || rel.endsWith('/')) rel += 'index.html';
    const file = resolveUnder(mount.dir, rel);
    if (!file) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad path\n');
      return true;
    }
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) continue;
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': info.size,
      'cache-control': 'no-cache',
    });
    if (req.method === 'HEAD') {
      res.end();
      return true;
    }
    createReadStream(file)
      .on('error', () => res.destroy())
      .pipe(res);
    return true;
  }
  return false;
}
