import { pino } from 'pino';
import { startServer, type FacecastServer } from '../../src/server/server.js';
import type { ServerConfig } from '../../src/server/config.js';

/** A server on 127.0.0.1 with a random port, gathering ICE on 127.0.0.1 only. */
export async function startTestServer(overrides: Partial<ServerConfig> = {}): Promise<FacecastServer> {
  const config: ServerConfig = {
    host: '127.0.0.1',
    port: 0,
    logLevel: 'silent',
    ice: { iceServers: [], interfaceAddress: '127.0.0.1' },
    iceTimeoutS: 30,
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
