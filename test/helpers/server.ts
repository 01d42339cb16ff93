import { pino } from 'pino';
import { startServer, type FacecastServer } from '../../src/server/server.js';
import type { ServerConfig } from '../../src/server/config.js';
import { defaultWorkerCount } from '../../src/server/worker-pool.js';

/**
 * Room workers in tests: the CLI's default is one per core; tests run at least 2, so that
 * rooms really are spread over threads even on a 1-core machine.
 */
export const TEST_WORKERS = Math.max(2, defaultWorkerCount());

/**
 * A server on 127.0.0.1 with a random port, gathering ICE on 127.0.0.1 only, started the
 * way `facecast serve` starts it by default: rooms on room worker threads. A test that
 * needs this thread's SFU objects (`server.participants`, `server.rooms`) passes
 * `workers: 0` and says why.
 */
export async function startTestServer(overrides: Partial<ServerConfig> = {}): Promise<FacecastServer> {
  const config: ServerConfig = {
    host: '127.0.0.1',
    port: 0,
    logLevel: 'silent',
    ice: { iceServers: [], interfaceAddress: '127.0.0.1' },
    iceTimeoutS: 30,
    workers: TEST_WORKERS,
    ...overrides,
  };
  return startServer(config, pino({ level: process.env.FACECAST_TEST_LOG ?? 'silent' }));
}

/** Poll until `check` returns a truthy value or the time runs out. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs: number, what: string): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
