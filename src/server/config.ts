import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { RoomLimits } from '../sfu/room.js';
import { DEFAULT_MAX_MESSAGE_RATE } from './rate-limit.js';
import { defaultWorkerCount } from './worker-pool.js';
import type { ForwardingMode } from '../sfu/forwarder.js';
import type { IceSettings } from '../sfu/werift.js';

export interface ServerConfig {
  host: string;
  port: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  ice: IceSettings;
  /** Address announced in candidates instead of the gathered one (behind NAT). */
  publicIp?: string;
  /** Seconds of ICE silence before a peer is dropped. */
  iceTimeoutS: number;
  /** Where the built browser app lives. */
  webRoot?: string;
  limits?: Partial<RoomLimits>;
  /**
   * Origins (scheme://host[:port]) whose pages may open the signaling WebSocket, besides
   * the server's own. A request without an Origin header (not a browser) is allowed.
   */
  allowedOrigins?: string[];
  /** HTTPS: a PEM certificate and key, or a self-signed one made at start (LAN testing). */
  tls?: { cert: string; key: string } | { selfSigned: true };
  /** HS256 secret for room tokens; when set, every WebSocket and WHIP/WHEP request needs a token. */
  authSecret?: string;
  /** Most tracks one participant may publish (simulcast layers count once). */
  maxTracks?: number;
  /** Signaling messages per second one WebSocket may send (bursts of twice that; default 50); 0: no limit. */
  maxMessageRate?: number;
  /** Room worker threads (0: rooms in the main thread). The CLI defaults to one per core. */
  workers?: number;
  /** Forwarding path (`naive` only as a benchmark baseline). */
  forwarding?: ForwardingMode;
  /** Recording: record every published camera track to WebM files in this directory (absolute). */
  record?: string;
}

/** A configuration error: printed as one line, exit code 1. */
export class ConfigError extends Error {}

export const SERVE_HELP = `Usage: facecast serve [options]

Serves the facecast app and SFU.

Options (each also read from FACECAST_<NAME> in the environment, e.g. FACECAST_PORT;
ICE servers from FACECAST_ICE_SERVERS, comma-separated):
  --host ADDR             listen address (default 127.0.0.1)
  --port N                listen port (default 8080)
  --log-level LEVEL       fatal|error|warn|info|debug|trace|silent (default info)
  --ice-server URL        STUN/TURN server used by the SFU and handed to browsers; repeatable.
                          TURN credentials: turn:USER:PASS@host:port or --ice-username/--ice-credential
  --ice-username NAME     username for TURN servers given without one
  --ice-credential PASS   credential for TURN servers given without one
  --ice-interface ADDR    gather ICE candidates only on this IPv4 address
                          (default: 127.0.0.1 when --host is a loopback address, else all interfaces)
  --public-ip ADDR        announce this address in ICE candidates (server behind NAT)
  --rtc-ports MIN-MAX     UDP port range for media (default: any)
  --ice-timeout SECONDS   drop peers whose ICE is silent this long (default 30)
  --max-room-size N       most participants in one room (default 16)
  --max-participants N    most participants on the server (default 200)
  --max-tracks N          most tracks one participant may publish (default 8; simulcast layers count once)
  --workers N             room worker threads (default: one per core, here ${defaultWorkerCount()}); 0 keeps
                          rooms in the main thread. HTTP and signaling sockets stay in the main thread
  --max-message-rate N    signaling messages per second per WebSocket (default 50, bursts of 2 s worth);
                          extra messages are dropped with a rate-limited error, a flood of 10 s worth
                          closes the socket (1008)
  --auth-secret SECRET    require room tokens (HS256 JWT signed with SECRET; mint them with
                          \`facecast token\`) on /ws (?token=) and WHIP/WHEP (Authorization: Bearer);
                          prefer FACECAST_AUTH_SECRET in the environment (flags show in ps)
  --tls-cert FILE         serve https/wss with this PEM certificate (and --tls-key FILE)
  --tls-key FILE          its PEM private key
  --tls-self-signed       serve https/wss with a certificate made at start (LAN testing: browsers
                          allow the camera only on https or localhost; they will warn once)
  --config FILE           read settings from a JSON file (keys: the flags in camelCase, e.g.
                          {"port": 9000, "iceServers": ["stun:stun.example:3478"]});
                          flags and FACECAST_* env override it
  --allow-origin ORIGIN   let pages from ORIGIN (e.g. https://app.example) open the signaling
                          WebSocket; repeatable. Default: the server's own origin only
                          (clients that send no Origin, i.e. not browsers, are always allowed)
  --record DIR            record every published camera track (and its microphone) to
                          DIR/<room>-<participant>-<ISO time>.webm (VP8/Opus), finalized when the
                          participant leaves or the server stops; DIR is created if missing.
                          POST/DELETE /api/rooms/ROOM/participants/NAME/recording restart/stop one
  -h, --help              show this help
`;

const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

const ipv4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

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
  if (!m || min < 1024 || max > 65535 || min >= max) {
    throw new ConfigError(`--rtc-ports: "${value}" must be MIN-MAX with 1024 <= MIN < MAX <= 65535`);
  }
  return [min, max];
}

/**
 * The JSON config file (`--config FILE`): the flags' names in camelCase, checked
 * strictly (an unknown key or a wrong type is one clear line naming the key).
 */
export const ConfigFile = z
  .object({
    host: z.string(),
    port: z.number().int(),
    logLevel: z.string(),
    iceServers: z.array(z.string()),
    iceUsername: z.string(),
    iceCredential: z.string(),
    iceInterface: z.string(),
    publicIp: z.string(),
    rtcPorts: z.string(),
    iceTimeout: z.number(),
    webRoot: z.string(),
    maxRoomSize: z.number().int(),
    maxParticipants: z.number().int(),
    maxTracks: z.number().int(),
    maxMessageRate: z.number().int(),
    workers: z.number().int(),
    allowOrigins: z.array(z.string()),
    authSecret: z.string(),
    tlsCert: z.string(),
    tlsKey: z.string(),
    tlsSelfSigned: z.boolean(),
    record: z.string(),
  })
  .partial()
  .strict();

/** The file's values as the env layer would give them (strings), plus its lists. */
interface FileLayer {
  values: Record<string, string | undefined>;
  lists: Record<string, string[]>;
}

function loadConfigFile(file: string | undefined): FileLayer {
  if (file === undefined) return { values: {}, lists: {} };
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
  const c = parsed.data;
  const str = (x: string | number | boolean | undefined) => (x === undefined ? undefined : String(x));
  const values: Record<string, string | undefined> = {
    HOST: c.host,
    PORT: str(c.port),
    LOG_LEVEL: c.logLevel,
    ICE_USERNAME: c.iceUsername,
    ICE_CREDENTIAL: c.iceCredential,
    ICE_INTERFACE: c.iceInterface,
    PUBLIC_IP: c.publicIp,
    RTC_PORTS: c.rtcPorts,
    ICE_TIMEOUT: str(c.iceTimeout),
    WEB_ROOT: c.webRoot,
    MAX_ROOM_SIZE: str(c.maxRoomSize),
    MAX_PARTICIPANTS: str(c.maxParticipants),
    MAX_TRACKS: str(c.maxTracks),
    MAX_MESSAGE_RATE: str(c.maxMessageRate),
    WORKERS: str(c.workers),
    AUTH_SECRET: c.authSecret,
    TLS_CERT: c.tlsCert,
    TLS_KEY: c.tlsKey,
    TLS_SELF_SIGNED: str(c.tlsSelfSigned),
    RECORD: c.record,
  };
  return { values, lists: { ICE_SERVERS: c.iceServers ?? [], ALLOW_ORIGIN: c.allowOrigins ?? [] } };
}

function tlsOptions(cert: string | undefined, key: string | undefined, selfSigned: boolean): ServerConfig['tls'] {
  if (selfSigned) {
    if (cert || key) throw new ConfigError('--tls-self-signed: not together with --tls-cert/--tls-key');
    return { selfSigned: true };
  }
  if (!cert && !key) return undefined;
  if (!cert || !key) throw new ConfigError('--tls-cert and --tls-key go together');
  const read = (flag: string, p: string) => {
    try {
      return readFileSync(p, 'utf8');
    } catch (err) {
      throw new ConfigError(`--${flag} ${p}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
  };
  const certPem = read('tls-cert', cert);
  const keyPem = read('tls-key', key);
  if (!/-----BEGIN CERTIFICATE-----/.test(certPem)) throw new ConfigError(`--tls-cert ${cert}: not a PEM certificate`);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyPem)) throw new ConfigError(`--tls-key ${key}: not a PEM private key`);
  return { cert: certPem, key: keyPem };
}

/** An HS256 secret must be long enough to resist guessing (RFC 7518 §3.2: at least 256 bits). */
function checkSecret(secret: string | undefined): string | undefined {
  if (secret === undefined) return undefined;
  if (Buffer.byteLength(secret) < 32) throw new ConfigError('--auth-secret: use at least 32 bytes (e.g. `openssl rand -hex 32`)');
  return secret;
}

/** `--allow-origin` values, normalized to scheme://host[:port]. */
function parseOrigins(values: string[]): string[] {
  return values.map((value) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new ConfigError(`--allow-origin: "${value}" is not an origin like https://app.example`);
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search || url.hash) {
      throw new ConfigError(`--allow-origin: "${value}" is not an origin like https://app.example`);
    }
    return url.origin;
  });
}

const isLoopback = (host: string) => host === 'localhost' || host.startsWith('127.') || host === '::1';

/** Parse `serve` flags (with FACECAST_* env fallbacks). Throws ConfigError. */
export function parseServeArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ServerConfig | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        'log-level': { type: 'string' },
        'ice-server': { type: 'string', multiple: true },
        'ice-username': { type: 'string' },
        'ice-credential': { type: 'string' },
        'ice-interface': { type: 'string' },
        'public-ip': { type: 'string' },
        'rtc-ports': { type: 'string' },
        'ice-timeout': { type: 'string' },
        'web-root': { type: 'string' },
        'max-room-size': { type: 'string' },
        'max-participants': { type: 'string' },
        'max-tracks': { type: 'string' },
        'max-message-rate': { type: 'string' },
        workers: { type: 'string' },
        'allow-origin': { type: 'string', multiple: true },
        'auth-secret': { type: 'string' },
        config: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'tls-self-signed': { type: 'boolean' },
        record: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  // Flags win over FACECAST_* env, which wins over the --config file, which wins over defaults.
  const file = loadConfigFile(v.config ?? env.FACECAST_CONFIG);
  const pick = (name: string, flag: string | undefined) => flag ?? env[`FACECAST_${name}`] ?? file.values[name];
  const list = (name: string, flag: string[] | undefined) =>
    flag ?? (env[`FACECAST_${name}`] !== undefined ? env[`FACECAST_${name}`]!.split(',').filter(Boolean) : (fileLists[name] ?? []));
  const fileLists = file.lists;

  const host = pick('HOST', v.host) ?? '127.0.0.1';
  const portText = pick('PORT', v.port) ?? '8080';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new ConfigError(`--port: "${portText}" is not a port number (0-65535)`);

  const level = LogLevel.safeParse(pick('LOG_LEVEL', v['log-level']) ?? 'info');
  if (!level.success) throw new ConfigError(`--log-level: must be one of ${LogLevel.options.join(', ')}`);

  const username = pick('ICE_USERNAME', v['ice-username']);
  const credential = pick('ICE_CREDENTIAL', v['ice-credential']);
  const serverUrls = list('ICE_SERVERS', v['ice-server']);
  const iceServers = serverUrls.map((url) => parseIceServer(url, username, credential));

  const iface = pick('ICE_INTERFACE', v['ice-interface']) ?? (isLoopback(host) ? '127.0.0.1' : undefined);
  if (iface !== undefined && !ipv4.test(iface)) throw new ConfigError(`--ice-interface: "${iface}" is not an IPv4 address`);
  const publicIp = pick('PUBLIC_IP', v['public-ip']);
  if (publicIp !== undefined && !ipv4.test(publicIp)) throw new ConfigError(`--public-ip: "${publicIp}" is not an IPv4 address`);
  const ports = pick('RTC_PORTS', v['rtc-ports']);
  const timeoutText = pick('ICE_TIMEOUT', v['ice-timeout']) ?? '30';
  const iceTimeoutS = Number(timeoutText);
  if (!Number.isFinite(iceTimeoutS) || iceTimeoutS <= 0 || iceTimeoutS > 3600) {
    throw new ConfigError(`--ice-timeout: "${timeoutText}" must be seconds between 0 and 3600`);
  }

  const count = (flag: string, env: string, fallback: number) => {
    const text = pick(env, v[flag as 'max-room-size']) ?? String(fallback);
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < 1 || n > 100_000) throw new ConfigError(`--${flag}: "${text}" must be a whole number from 1 to 100000`);
    return n;
  };
  const limits = {
    maxRoomSize: count('max-room-size', 'MAX_ROOM_SIZE', 16),
    maxParticipants: count('max-participants', 'MAX_PARTICIPANTS', 200),
  };
  const maxTracks = count('max-tracks', 'MAX_TRACKS', 8);
  const record = pick('RECORD', v.record);
  if (record !== undefined && record.trim() === '') throw new ConfigError('--record: needs a directory');
  const maxMessageRate = count('max-message-rate', 'MAX_MESSAGE_RATE', DEFAULT_MAX_MESSAGE_RATE);
  const workersText = pick('WORKERS', v.workers) ?? String(defaultWorkerCount());
  const workers = Number(workersText);
  if (!/^\d+$/.test(workersText) || workers > 64) throw new ConfigError(`--workers: "${workersText}" must be a whole number from 0 to 64`);

  return {
    host,
    port,
    limits,
    maxTracks,
    maxMessageRate,
    workers,
    logLevel: level.data,
    ice: { iceServers, interfaceAddress: iface, portRange: ports ? parsePortRange(ports) : undefined },
    publicIp,
    iceTimeoutS,
    webRoot: pick('WEB_ROOT', v['web-root']),
    authSecret: checkSecret(pick('AUTH_SECRET', v['auth-secret'])),
    allowedOrigins: parseOrigins(list('ALLOW_ORIGIN', v['allow-origin'])),
    record: record === undefined ? undefined : path.resolve(record),
    tls: tlsOptions(pick('TLS_CERT', v['tls-cert']), pick('TLS_KEY', v['tls-key']), v['tls-self-signed'] ?? (pick('TLS_SELF_SIGNED', undefined) === 'true' || pick('TLS_SELF_SIGNED', undefined) === '1')),
  };
}
