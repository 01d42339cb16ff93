/**
 * Every setting of a facecast server, defined once (OPTIONS): each one is a key of
 * `createFacecast(options)` and of the `--config` JSON file, a `--flag` of `facecast serve`,
 * a `FACECAST_*` environment variable and a line of `--help`. `resolveSettings` checks the
 * values (whichever layer they came from) and turns them into the ServerConfig the server runs on.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { ForwardingMode } from '../sfu/subscriptions/naive-forwarder.js';
import type { RoomLimits } from '../sfu/room.js';
import type { IceSettings } from '../sfu/werift/config.js';
import { DEFAULT_MAX_MESSAGE_RATE } from './rate-limit.js';

/** Default room worker count: one per core. */
export const defaultWorkerCount = (): number => Math.max(1, cpus().length);

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** The settings, as `createFacecast()` and the --config file take them. */
export interface FacecastSettings {
  host: string;
  port: number;
  logLevel: LogLevel;
  iceServers: string[];
  iceUsername: string;
  iceCredential: string;
  iceInterface: string;
  publicIp: string;
  rtcPorts: string;
  iceTimeout: number;
  webRoot: string;
  maxRoomSize: number;
  maxParticipants: number;
  maxTracks: number;
  maxMessageRate: number;
  reconnectGrace: number;
  workers: number;
  allowOrigins: string[];
  authSecret: string;
  tlsCert: string;
  tlsKey: string;
  tlsSelfSigned: boolean;
  record: string;
  noDynacast: boolean;
  redis: string;
  nodeUrl: string;
}

type Key = keyof FacecastSettings;
type Kind = 'string' | 'int' | 'number' | 'boolean' | 'list';

interface OptionSpec {
  key: Key;
  kind: Kind;
  /** The value's name in --help. */
  arg?: string;
  /** --help text; "\n" starts a continuation line. */
  help: string;
  /** Default: the key in kebab-case. */
  flag?: string;
  /** Default: the key in UPPER_SNAKE_CASE (after FACECAST_). */
  env?: string;
}

export const OPTIONS: readonly OptionSpec[] = [
  { key: 'host', kind: 'string', arg: 'ADDR', help: 'listen address (default 127.0.0.1)' },
  { key: 'port', kind: 'int', arg: 'N', help: 'listen port (default 8080)' },
  { key: 'logLevel', kind: 'string', arg: 'LEVEL', help: 'fatal|error|warn|info|debug|trace|silent (default info)' },
  {
    key: 'iceServers',
    kind: 'list',
    flag: 'ice-server',
    arg: 'URL',
    help: 'STUN/TURN server used by the SFU and handed to browsers; repeatable.\nTURN credentials: turn:USER:PASS@host:port or --ice-username/--ice-credential',
  },
  { key: 'iceUsername', kind: 'string', arg: 'NAME', help: 'username for TURN servers given without one' },
  { key: 'iceCredential', kind: 'string', arg: 'PASS', help: 'credential for TURN servers given without one' },
  {
    key: 'iceInterface',
    kind: 'string',
    arg: 'ADDR',
    help: 'gather ICE candidates only on this IPv4 address\n(default: 127.0.0.1 when --host is a loopback address, else all interfaces)',
  },
  { key: 'publicIp', kind: 'string', arg: 'ADDR', help: 'announce this address in ICE candidates (server behind NAT)' },
  { key: 'rtcPorts', kind: 'string', arg: 'MIN-MAX', help: 'UDP port range for media (default: any)' },
  { key: 'iceTimeout', kind: 'number', arg: 'SECONDS', help: 'drop peers whose ICE is silent this long (default 30)' },
  { key: 'webRoot', kind: 'string', arg: 'DIR', help: 'serve the browser app from DIR (default: the built app in dist/web)' },
  { key: 'maxRoomSize', kind: 'int', arg: 'N', help: 'most participants in one room (default 16)' },
  { key: 'maxParticipants', kind: 'int', arg: 'N', help: 'most participants on the server (default 200)' },
  { key: 'maxTracks', kind: 'int', arg: 'N', help: 'most tracks one participant may publish (default 8; simulcast layers count once)' },
  {
    key: 'maxMessageRate',
    kind: 'int',
    arg: 'N',
    help: 'signaling messages per second per WebSocket (default 50, bursts of 2 s worth);\nextra messages are dropped with a rate-limited error, a flood of 10 s worth\ncloses the socket (1008)',
  },
  {
    key: 'reconnectGrace',
    kind: 'int',
    arg: 'MS',
    help: "how long a departed participant's tracks stay on the others' screens waiting\nfor the same name to reconnect (default 1000, at most 10000)",
  },
  {
    key: 'workers',
    kind: 'int',
    arg: 'N',
    help: `room worker threads (default: one per core, here ${defaultWorkerCount()}); 0 keeps\nrooms in the main thread. HTTP and signaling sockets stay in the main thread`,
  },
  {
    key: 'allowOrigins',
    kind: 'list',
    flag: 'allow-origin',
    env: 'ALLOW_ORIGIN',
    arg: 'ORIGIN',
    help: "let pages from ORIGIN (e.g. https://app.example) open the signaling\nWebSocket; repeatable. Default: the server's own origin only\n(clients that send no Origin, i.e. not browsers, are always allowed)",
  },
  {
    key: 'authSecret',
    kind: 'string',
    arg: 'SECRET',
    help: 'require room tokens (HS256 JWT signed with SECRET; mint them with\n`facecast token`) on /ws (?token=) and WHIP/WHEP (Authorization: Bearer);\nprefer FACECAST_AUTH_SECRET in the environment (flags show in ps)',
  },
  { key: 'tlsCert', kind: 'string', arg: 'FILE', help: 'serve https/wss with this PEM certificate (and --tls-key FILE)' },
  { key: 'tlsKey', kind: 'string', arg: 'FILE', help: 'its PEM private key' },
  {
    key: 'tlsSelfSigned',
    kind: 'boolean',
    help: 'serve https/wss with a certificate made at start (LAN testing: browsers\nallow the camera only on https or localhost; they will warn once)',
  },
  {
    key: 'record',
    kind: 'string',
    arg: 'DIR',
    help: 'record every published camera track (and its microphone) to\nDIR/<room>-<participant>-<ISO time>.webm (VP8/Opus), finalized when the\nparticipant leaves or the server stops; DIR is created if missing.\nPOST/DELETE /api/rooms/ROOM/participants/NAME/recording restart/stop one',
  },
  {
    key: 'noDynacast',
    kind: 'boolean',
    help: 'publishers keep every simulcast layer on, watched or not (by default the\nSFU tells each one which layers anyone receives: dynacast)',
  },
  {
    key: 'redis',
    kind: 'string',
    env: 'REDIS_URL',
    arg: 'URL',
    help: "join a cluster of nodes coordinated through Redis (redis://[:PASS@]HOST:PORT[/DB]):\nnode registry, room placement, signaling relayed to the room's node (docs/SCALING.md)",
  },
  {
    key: 'nodeUrl',
    kind: 'string',
    arg: 'URL',
    help: 'with --redis: how other nodes and redirected clients reach this node\n(default: the URL it listens on, e.g. http://127.0.0.1:8080)',
  },
];

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const flagOf = (o: OptionSpec): string => o.flag ?? kebab(o.key);
const flagFor = (key: Key): string => flagOf(OPTIONS.find((o) => o.key === key)!);
export const envOf = (o: OptionSpec): string => `FACECAST_${o.env ?? kebab(o.key).replace(/-/g, '_').toUpperCase()}`;

export interface ServerConfig {
  host: string;
  port: number;
  logLevel: LogLevel;
  ice: IceSettings;
  /** Address announced in candidates instead of the gathered one (behind NAT). */
  publicIp?: string;
  /** Seconds of ICE silence before a peer is dropped. */
  iceTimeoutS: number;
  /** Where the built browser app lives. */
  webRoot?: string;
  limits?: Partial<RoomLimits>;
  /** Origins (scheme://host[:port]) whose pages may open the signaling WebSocket, besides the server's own. */
  allowedOrigins?: string[];
  /** HTTPS: a PEM certificate and key, or a self-signed one made at start (LAN testing). */
  tls?: { cert: string; key: string } | { selfSigned: true };
  /** HS256 secret for room tokens; when set, every WebSocket and WHIP/WHEP request needs a token. */
  authSecret?: string;
  /** Most tracks one participant may publish (simulcast layers count once). */
  maxTracks?: number;
  /** Signaling messages per second one WebSocket may send (default 50); 0: no limit. */
  maxMessageRate?: number;
  /** Room worker threads (0: rooms in the main thread). */
  workers?: number;
  /** Forwarding path (`naive` only as a benchmark baseline; not a setting). */
  forwarding?: ForwardingMode;
  /** Record every published camera track to WebM files in this directory (absolute). */
  record?: string;
  /** Dynacast: publishers are told which simulcast layers anyone receives (default true). */
  dynacast?: boolean;
  /** A cluster node (--redis): Redis's URL and how other nodes reach this one (default: the listen URL). */
  cluster?: { redisUrl: string; nodeUrl?: string };
}

/** A configuration error: printed as one line, exit code 1. */
export class ConfigError extends Error {}

function helpLines(): string {
  const rows = OPTIONS.map((o) => ({ left: `  --${flagOf(o)}${o.arg ? ` ${o.arg}` : ''}`, help: o.help.split('\n') }));
  rows.push({
    left: '  --config FILE',
    help: [
      'read settings from a JSON file (keys: the flags in camelCase, e.g.',
      '{"port": 9000, "iceServers": ["stun:stun.example:3478"]});',
      'flags and FACECAST_* env override it',
    ],
  });
  rows.push({ left: '  -h, --help', help: ['show this help'] });
  const width = 26;
  return rows.map((r) => r.help.map((line, i) => (i === 0 ? r.left.padEnd(width - 1) + ' ' : ' '.repeat(width)) + line).join('\n')).join('\n');
}

export const SERVE_HELP = `Usage: facecast serve [options]

Serves the facecast app and SFU.

Options (each also read from FACECAST_<NAME> in the environment, e.g. FACECAST_PORT;
ICE servers from FACECAST_ICE_SERVERS, comma-separated):
${helpLines()}
`;

/** Raw values from one layer: strings from flags and env, typed values from the file or the library. */
export type RawSettings = { [K in Key]?: FacecastSettings[K] | string };

/** The --config file's schema, derived from OPTIONS: strict keys, typed values. */
const ConfigFile = z
  .object(
    Object.fromEntries(
      OPTIONS.map((o) => {
        const t =
          o.kind === 'list' ? z.array(z.string()) : o.kind === 'boolean' ? z.boolean() : o.kind === 'int' ? z.number().int() : o.kind === 'number' ? z.number() : z.string();
        return [o.key, t];
      }),
    ),
  )
  .partial()
  .strict();

function loadConfigFile(file: string | undefined): RawSettings {
  if (file === undefined) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(`--config ${file}: ${e.code === 'ENOENT' ? 'no such file' : e instanceof SyntaxError ? `not JSON (${e.message})` : e.message}`);
  }
  const parsed = ConfigFile.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') throw new ConfigError(`--config ${file}: unknown key "${issue.keys[0]}"`);
    throw new ConfigError(`--config ${file}: key "${issue.path.join('.') || '(top level)'}": ${issue.message}`);
  }
  return parsed.data as RawSettings;
}

/** Parse `serve` flags, over FACECAST_* env, over the --config file. Throws ConfigError. */
export function parseServeArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ServerConfig | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(OPTIONS.map((o) => [flagOf(o), { type: o.kind === 'boolean' ? ('boolean' as const) : ('string' as const), multiple: o.kind === 'list' }])),
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const flags = parsed.values as Record<string, string | string[] | boolean | undefined>;
  if (flags.help) return 'help';
  const file = loadConfigFile((flags.config as string | undefined) ?? env.FACECAST_CONFIG);
  const merged: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    const fromEnv = env[envOf(o)];
    const envValue = fromEnv === undefined ? undefined : o.kind === 'list' ? fromEnv.split(',').filter(Boolean) : fromEnv;
    merged[o.key] = flags[flagOf(o)] ?? envValue ?? file[o.key];
  }
  return resolveSettings(merged as RawSettings);
}

const LogLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const ipv4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const isLoopback = (host: string) => host === 'localhost' || host.startsWith('127.') || host === '::1';

function parseIceServer(url: string, username?: string, credential?: string): IceSettings['iceServers'][number] {
  const m = /^(stuns?|turns?):(?:([^:@]+):([^@]+)@)?([^?]+)(\?.*)?$/.exec(url);
  if (!m) throw new ConfigError(`--ice-server: "${url}" is not a stun:, stuns:, turn: or turns: URL`);
  const [, scheme, user, pass, hostPort, query] = m;
  const clean = `${scheme}:${hostPort}${query ?? ''}`;
  if (scheme!.startsWith('turn')) {
    const u = user ?? username;
    const c = pass ?? credential;
    if (!u || !c) throw new ConfigError(`--ice-server: TURN server "${clean}" needs a username and credential`);
    return { urls: clean, username: u, credential: c };
  }
  return { urls: clean };
}

function parsePortRange(value: string): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(value);
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  if (!m || min < 1024 || max > 65535 || min >= max) throw new ConfigError(`--rtc-ports: "${value}" must be MIN-MAX with 1024 <= MIN < MAX <= 65535`);
  return [min, max];
}

/** A PEM given inline (the library), or the file holding it (flags, env, the config file). */
function readPem(flag: string, value: string): string {
  if (value.includes('-----BEGIN')) return value;
  try {
    return readFileSync(value, 'utf8');
  } catch (err) {
    throw new ConfigError(`--${flag} ${value}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

function tlsOptions(cert: string | undefined, key: string | undefined, selfSigned: boolean): ServerConfig['tls'] {
  if (selfSigned) {
    if (cert || key) throw new ConfigError('--tls-self-signed: not together with --tls-cert/--tls-key');
    return { selfSigned: true };
  }
  if (!cert && !key) return undefined;
  if (!cert || !key) throw new ConfigError('--tls-cert and --tls-key go together');
  const certPem = readPem('tls-cert', cert);
  const keyPem = readPem('tls-key', key);
  if (!/-----BEGIN CERTIFICATE-----/.test(certPem)) throw new ConfigError(`--tls-cert ${cert.includes('-----') ? '(inline)' : cert}: not a PEM certificate`);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyPem)) throw new ConfigError(`--tls-key ${key.includes('-----') ? '(inline)' : key}: not a PEM private key`);
  return { cert: certPem, key: keyPem };
}

/** `--allow-origin` values, normalized to scheme://host[:port]. */
function parseOrigins(values: string[]): string[] {
  return values.map((value) => {
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search || url.hash) {
      throw new ConfigError(`--allow-origin: "${value}" is not an origin like https://app.example`);
    }
    return url.origin;
  });
}

/** Check every value and build the server's configuration. Throws ConfigError naming the setting's flag. */
export function resolveSettings(raw: RawSettings): ServerConfig {
  for (const key of Object.keys(raw)) {
    if (!OPTIONS.some((o) => o.key === key)) throw new ConfigError(`unknown setting "${key}"`);
  }
  const text = (key: Key): string | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (Array.isArray(v)) throw new ConfigError(`--${flagFor(key)}: expected one value, not a list`);
    return String(v);
  };
  const list = (key: Key): string[] => {
    const v = raw[key];
    if (v === undefined) return [];
    return Array.isArray(v) ? v.map(String) : [String(v)];
  };
  const whole = (key: Key, fallback: number, min: number, max: number): number => {
    const flag = flagFor(key);
    const t = text(key) ?? String(fallback);
    const n = Number(t);
    if (!/^\d+$/.test(t) || n < min || n > max) throw new ConfigError(`--${flag}: "${t}" must be a whole number from ${min} to ${max}`);
    return n;
  };

  const host = text('host') ?? '127.0.0.1';
  const portText = text('port') ?? '8080';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new ConfigError(`--port: "${portText}" is not a port number (0-65535)`);
  const level = text('logLevel') ?? 'info';
  if (!(LogLevels as readonly string[]).includes(level)) throw new ConfigError(`--log-level: must be one of ${LogLevels.join(', ')}`);

  const username = text('iceUsername');
  const credential = text('iceCredential');
  const iceServers = list('iceServers').map((url) => parseIceServer(url, username, credential));
  const iface = text('iceInterface') ?? (isLoopback(host) ? '127.0.0.1' : undefined);
  if (iface !== undefined && !ipv4.test(iface)) throw new ConfigError(`--ice-interface: "${iface}" is not an IPv4 address`);
  const publicIp = text('publicIp');
  if (publicIp !== undefined && !ipv4.test(publicIp)) throw new ConfigError(`--public-ip: "${publicIp}" is not an IPv4 address`);
  const ports = text('rtcPorts');
  const timeoutText = text('iceTimeout') ?? '30';
  const iceTimeoutS = Number(timeoutText);
  if (!Number.isFinite(iceTimeoutS) || iceTimeoutS <= 0 || iceTimeoutS > 3600) throw new ConfigError(`--ice-timeout: "${timeoutText}" must be seconds between 0 and 3600`);

  const record = text('record');
  if (record !== undefined && record.trim() === '') throw new ConfigError('--record: needs a directory');
  const secret = text('authSecret');
  if (secret !== undefined && Buffer.byteLength(secret) < 32) throw new ConfigError('--auth-secret: use at least 32 bytes (e.g. `openssl rand -hex 32`)');
  const flag = (v: unknown) => v === true || v === 'true' || v === '1';
  const redisUrl = text('redis');
  if (redisUrl !== undefined && !/^rediss?:\/\/[^\s]+$/.test(redisUrl)) throw new ConfigError(`--redis: "${redisUrl}" is not a redis:// or rediss:// URL`);
  const nodeUrl = text('nodeUrl')?.replace(/\/+$/, '');
  if (nodeUrl !== undefined) {
    if (redisUrl === undefined) throw new ConfigError('--node-url: only with --redis');
    if (!/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(nodeUrl)) throw new ConfigError(`--node-url: "${nodeUrl}" is not an http:// or https:// URL`);
  }
  const selfSigned = flag(raw.tlsSelfSigned);

  return {
    host,
    port,
    limits: {
      maxRoomSize: whole('maxRoomSize', 16, 1, 100_000),
      maxParticipants: whole('maxParticipants', 200, 1, 100_000),
      reconnectGraceMs: whole('reconnectGrace', 1000, 0, 10_000),
    },
    maxTracks: whole('maxTracks', 8, 1, 100_000),
    maxMessageRate: whole('maxMessageRate', DEFAULT_MAX_MESSAGE_RATE, 1, 100_000),
    workers: whole('workers', defaultWorkerCount(), 0, 64),
    logLevel: level as LogLevel,
    ice: { iceServers, interfaceAddress: iface, portRange: ports ? parsePortRange(ports) : undefined },
    publicIp,
    iceTimeoutS,
    webRoot: text('webRoot'),
    authSecret: secret,
    allowedOrigins: parseOrigins(list('allowOrigins')),
    record: record === undefined ? undefined : path.resolve(record),
    tls: tlsOptions(text('tlsCert'), text('tlsKey'), selfSigned),
    dynacast: !flag(raw.noDynacast),
    cluster: redisUrl === undefined ? undefined : { redisUrl, nodeUrl },
  };
}
