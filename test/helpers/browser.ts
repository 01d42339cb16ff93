/**
 * Headless Chromium launcher for facecast tests.
 *
 * Uses the system Chromium (never a Playwright-downloaded browser): `CHROMIUM_PATH`
 * if set, else `/usr/bin/chromium`. Run `node scripts/ensure-chromium.mjs` to
 * check for / install it.
 *
 * Every launch gets a fresh, throw-away profile directory and a fake camera
 * (Chromium's built-in test pattern, or a Y4M file when `y4m` is given) that is
 * granted without a prompt. Nothing the browser does should leave 127.0.0.1:
 * background networking, component updates, sync and QUIC are disabled.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const DEFAULT_CHROMIUM_PATH = '/usr/bin/chromium';

/** Flags passed to every launch (before the optional Y4M flag and `extraArgs`). */
export const BASE_CHROMIUM_ARGS: readonly string[] = Object.freeze([
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
]);

export interface LaunchBrowserOptions {
  /** Absolute or cwd-relative path of a Y4M file to use as the fake camera. */
  y4m?: string;
  /** Extra Chromium command-line flags, appended last. */
  extraArgs?: string[];
  /**
   * 'deny': the camera permission prompt is refused (no `--use-fake-ui-for-media-stream`,
   * plus `--deny-permission-prompts`), so getUserMedia fails with NotAllowedError.
   * Without a media grant Chromium hides host ICE candidates behind mDNS names, which
   * cannot resolve in the tests' loopback-only namespace, so that is turned off too
   * (`--disable-features=WebRtcHideLocalIpsWithMdns`). Default 'grant'.
   */
  camera?: 'grant' | 'deny';
}

export interface LaunchedBrowser {
  context: BrowserContext;
  /** Console messages of the server's Content-Security-Policy refusing something, so far. */
  cspViolations: string[];
  /**
   * Closes the browser and deletes its temporary profile. Safe to call twice.
   * Then throws if any page broke the server's Content-Security-Policy: every
   * browser test thereby checks that the policy and the app agree.
   */
  close(): Promise<void>;
}

/** Path of the Chromium executable tests use: `$CHROMIUM_PATH` or `/usr/bin/chromium`. */
export function chromiumPath(): string {
  const fromEnv = process.env.CHROMIUM_PATH?.trim();
  return fromEnv ? fromEnv : DEFAULT_CHROMIUM_PATH;
}

function assertExecutable(file: string): void {
  try {
    accessSync(file, constants.X_OK);
  } catch {
    throw new Error(
      `Chromium not found or not executable at ${file}` +
        (process.env.CHROMIUM_PATH ? ' (from CHROMIUM_PATH)' : '') +
        '. Run `node scripts/ensure-chromium.mjs` to install it, or set CHROMIUM_PATH.',
    );
  }
}

/** The Chromium args launchBrowser() would use for these options (exported for debugging). */
export function chromiumArgs(opts: LaunchBrowserOptions = {}): string[] {
  const args =
    opts.camera === 'deny'
      ? [...BASE_CHROMIUM_ARGS.filter((a) => a !== '--use-fake-ui-for-media-stream'), '--deny-permission-prompts', '--disable-features=WebRtcHideLocalIpsWithMdns']
      : [...BASE_CHROMIUM_ARGS];
  if (opts.y4m !== undefined) args.push(`--use-file-for-fake-video-capture=${path.resolve(opts.y4m)}`);
  if (opts.extraArgs) args.push(...opts.extraArgs);
  return args;
}

export async function launchBrowser(opts: LaunchBrowserOptions = {}): Promise<LaunchedBrowser> {
  const executablePath = chromiumPath();
  assertExecutable(executablePath);

  if (opts.y4m !== undefined) {
    const y4m = path.resolve(opts.y4m);
    let ok = false;
    try {
      ok = statSync(y4m).isFile();
    } catch {
      ok = false;
    }
    // Chromium silently falls back to a black/absent camera when the file is
    // missing, which makes for confusing test failures: fail loudly instead.
    if (!ok) throw new Error(`Fake camera file does not exist: ${y4m} (build it with ensureFaceY4m())`);
  }

  const args = chromiumArgs(opts);
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'facecast-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args,
      timeout: 60_000,
    });
  } catch (err) {
    await rm(userDataDir, { recursive: true, force: true, maxRetries: 3 }).catch(() => {});
    const detail = err instanceof Error ? err.message : String(err);
    throw new Error(
      `Failed to launch Chromium (${executablePath}) with args:\n  ${args.join('\n  ')}\n` +
        `Check it runs with: ${executablePath} --headless --no-sandbox --dump-dom about:blank\n` +
        `Underlying error: ${detail}`,
      { cause: err },
    );
  }

  const cspViolations: string[] = [];
  context.on('console', (msg) => {
    const text = msg.text();
    if (/Content Security Policy/i.test(text)) cspViolations.push(`${msg.location().url}: ${text}`);
  });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      try {
        // Never let a Chromium that does not answer the close hold the test file: 20 s at most.
        await Promise.race([context.close(), new Promise((r) => setTimeout(r, 20_000).unref())]);
      } finally {
        await rm(userDataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
      }
      if (cspViolations.length)
        throw new Error(`the pages broke the Content-Security-Policy ${cspViolations.length} times:\n  ${[...new Set(cspViolations)].slice(0, 10).join('\n  ')}`);
    })();
    return closing;
  };
  return { context, cspViolations, close };
}
