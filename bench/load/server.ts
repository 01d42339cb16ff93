/**
 * The SFU under load, in its own process so the benchmark reads its CPU time
 * alone (/proc/PID/stat). 127.0.0.1 only. Prints {"url":...} once listening.
 * Usage: node --import tsx bench/load/server.ts naive|fast [WORKERS]
 */
import { pino } from 'pino';
import { startServer } from '../../src/server/facecast.js';

const forwarding = process.argv[2] === 'naive' ? 'naive' : 'fast';
/** Room worker threads (0: rooms in the main thread, as in every scenario but `workers`). */
const workers = Number(process.argv[3] ?? 0);
const server = await startServer(
  {
    host: '127.0.0.1',
    port: 0,
    logLevel: 'silent',
    ice: { iceServers: [], interfaceAddress: '127.0.0.1' },
    iceTimeoutS: 30,
    limits: { maxRoomSize: 64, maxParticipants: 256 },
    forwarding,
    workers,
  },
  pino({ level: 'silent' }),
);
process.stdout.write(JSON.stringify({ url: server.url, forwarding, workers }) + '\n');
const stop = () => void server.close().finally(() => process.exit(0));
process.on('SIGTERM', stop);
// SIGUSR2: a full garbage collection (when started with --expose-gc), so RSS readings compare like with like.
process.on('SIGUSR2', () => (globalThis as { gc?: () => void }).gc?.());
process.on('SIGINT', stop);
