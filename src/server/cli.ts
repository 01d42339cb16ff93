#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { mintToken, RoomClaims } from './auth.js';
import { ConfigError, parseServeArgs, SERVE_HELP } from './config.js';
import { Facecast, type ServerState } from './facecast.js';
import { installProcessGuards } from './server.js';
import { renderStateTable } from './state-table.js';

const HELP = `Usage: facecast <command> [options]

Commands:
  serve     serve the app and the SFU (default)
  state     print the server's peers as a table (--url http://127.0.0.1:8080, --json)
  token     mint a room token for a server run with --auth-secret (see "facecast token --help")

Run "facecast serve --help" for the server's options.
`;

/** One line on stderr, exit code 1: no stack traces for the user's mistakes. */
function die(message: string): never {
  process.stderr.write(`facecast: ${message}\n`);
  process.exit(1);
}

async function serve(argv: string[]): Promise<void> {
  const config = parseServeArgs(argv);
  if (config === 'help') {
    process.stdout.write(SERVE_HELP);
    return;
  }
  // The CLI is a shell over the library: the same Facecast an app gets from createFacecast().
  let server: Facecast | undefined;
  try {
    server = new Facecast(config);
    await server.listen();
  } catch (err) {
    await server?.close().catch(() => undefined);
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') die(`port ${config.port} on ${config.host} is already in use (try --port)`);
    if (e.code === 'EADDRNOTAVAIL') die(`cannot listen on ${config.host}: address not available`);
    if (e.code === 'EACCES') die(`no permission to listen on ${config.host}:${config.port}`);
    die(e.message);
  }
  const running = server;
  installProcessGuards(running.log);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    running.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 5000);
    force.unref();
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

async function state(argv: string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { url: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    die((err as Error).message);
  }
  if (values.help) {
    process.stdout.write('Usage: facecast state [--url http://127.0.0.1:8080] [--json]\n');
    return;
  }
  const base = values.url ?? process.env.FACECAST_URL ?? 'http://127.0.0.1:8080';
  let body: ServerState;
  try {
    const res = await fetch(new URL('/api/state', base));
    if (!res.ok) die(`${base} answered ${res.status}`);
    body = (await res.json()) as ServerState;
  } catch (err) {
    die(`cannot reach ${base}: ${(err as Error).message}`);
  }
  process.stdout.write(values.json ? JSON.stringify(body, null, 2) + '\n' : renderStateTable(body) + '\n');
}

const TOKEN_HELP = `Usage: facecast token --room NAME|* --identity NAME [--ttl SECONDS] [--no-publish] [--no-subscribe]

Prints an HS256 room token signed with FACECAST_AUTH_SECRET (or --secret). Pass it as
?token=... on the page URL (the app hands it to /ws), or as "Authorization: Bearer ..." to WHIP/WHEP.
`;

async function token(argv: string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        room: { type: 'string' },
        identity: { type: 'string' },
        ttl: { type: 'string', default: '3600' },
        secret: { type: 'string' },
        'no-publish': { type: 'boolean', default: false },
        'no-subscribe': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    die((err as Error).message);
  }
  if (values.help) return void process.stdout.write(TOKEN_HELP);
  const secret = values.secret ?? process.env.FACECAST_AUTH_SECRET;
  if (!secret || Buffer.byteLength(secret) < 32) die("set FACECAST_AUTH_SECRET (or --secret) to the server's secret, at least 32 bytes");
  const ttl = Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 31_536_000) die('--ttl: whole seconds from 1 to 31536000');
  const claims = RoomClaims.omit({ exp: true }).safeParse({
    room: values.room,
    identity: values.identity,
    canPublish: !values['no-publish'],
    canSubscribe: !values['no-subscribe'],
  });
  if (!claims.success) die('--room (a room name or *) and --identity (1-32 letters, digits, ".", "_" or "-") are required');
  process.stdout.write((await mintToken(secret, claims.data, ttl)) + '\n');
}

async function main(): Promise<void> {
  const [first, ...rest] = process.argv.slice(2);
  if (first === '-h' || first === '--help' || first === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (first === 'state') return state(rest);
  if (first === 'token') return token(rest);
  if (first === 'serve') return serve(rest);
  if (first === undefined || first.startsWith('-')) return serve(process.argv.slice(2));
  die(`unknown command "${first}" (try --help)`);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) die(err.message);
  die((err as Error).message ?? String(err));
});
