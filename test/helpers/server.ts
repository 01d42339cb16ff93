import { pino } from 'pino';
import { createFacecast, type Facecast, type FacecastOptions } from '../../src/index.js';
import { defaultWorkerCount } from '../../src/server/config.js';

/**
 * Room workers in tests: the CLI's default is one per core; tests run at least 2, so that
 * rooms really are spread over threads even on a 1-core machine.
 */
export const TEST_WORKERS = Math.max(2, defaultWorkerCount());

/**
 * A server on 127.0.0.1 with a random port, through the public API (createFacecast, then
 * listen()) the way `facecast serve` starts it by default: rooms on room worker threads,
 * ICE gathered on 127.0.0.1 only. A test that needs this thread's SFU objects
 * (`server.participants`) passes `workers: 0` and says why.
 */
export async function startTestServer(overrides: FacecastOptions = {}): Promise<Facecast> {
  const facecast = createFacecast({
    host: '127.0.0.1',
    port: 0,
    logLevel: 'silent',
    iceInterface: '127.0.0.1',
    workers: TEST_WORKERS,
    logger: pino({ level: process.env.FACECAST_TEST_LOG ?? 'silent' }),
    ...overrides,
  });
  try {
    await facecast.listen();
  } catch (err) {
    await facecast.close();
    throw err;
  }
  return facecast;
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
