import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, parseServeArgs, type ServerConfig } from '../../src/server/config.js';
import { announceAddress } from '../../src/server/signaling.js';
import { resolveUnder } from '../../src/server/static.js';

describe('serve flags', () => {
  it('defaults: 127.0.0.1:8080, no ICE servers, loopback-only gathering', () => {
    const c = parseServeArgs([], {});
    assert.ok(c !== 'help');
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.port, 8080);
    assert.deepEqual(c.ice.iceServers, []);
    assert.equal(c.ice.interfaceAddress, '127.0.0.1');
    assert.equal(c.iceTimeoutS, 30);
  });

  it('reads flags, with env as fallback', () => {
    const c = parseServeArgs(
      [
        '--port',
        '9000',
        '--ice-server',
        'stun:stun.example.org:3478',
        '--ice-server',
        'turn:u:p@turn.example.org:3478?transport=udp',
        '--rtc-ports',
        '40000-40100',
        '--public-ip',
        '203.0.113.5',
      ],
      { FACECAST_HOST: '0.0.0.0', FACECAST_LOG_LEVEL: 'warn' },
    );
    assert.ok(c !== 'help');
    assert.equal(c.port, 9000);
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.ice.interfaceAddress, undefined, 'all interfaces when not on loopback');
    assert.deepEqual(c.ice.iceServers, [{ urls: 'stun:stun.example.org:3478' }, { urls: 'turn:turn.example.org:3478?transport=udp', username: 'u', credential: 'p' }]);
    assert.deepEqual(c.ice.portRange, [40000, 40100]);
    assert.equal(c.publicIp, '203.0.113.5');
  });

  it('TURN without credentials, bad ports, bad flags: one clear ConfigError', () => {
    const bad: string[][] = [
      ['--ice-server', 'turn:turn.example.org'],
      ['--ice-server', 'http://x'],
      ['--rtc-ports', '5000'],
      ['--rtc-ports', '6000-5000'],
      ['--port', 'abc'],
      ['--log-level', 'loud'],
      ['--public-ip', 'example.org'],
      ['--nope'],
    ];
    for (const args of bad) {
      assert.throws(
        () => parseServeArgs(args, {}),
        (e: unknown) => e instanceof ConfigError && !e.message.includes('\n'),
        args.join(' '),
      );
    }
  });

  it('--help', () => assert.equal(parseServeArgs(['--help'], {}), 'help'));
});

describe('public IP announcement', () => {
  it('rewrites host candidates only', () => {
    const line = 'candidate:abc 1 udp 2130706431 10.0.0.5 40000 typ host generation 0';
    assert.equal(announceAddress(line, '203.0.113.5'), 'candidate:abc 1 udp 2130706431 203.0.113.5 40000 typ host generation 0');
    const relay = 'candidate:x 1 udp 5 198.51.100.1 3478 typ relay raddr 0.0.0.0 rport 0';
    assert.equal(announceAddress(relay, '203.0.113.5'), relay);
    assert.equal(announceAddress(line, undefined), line);
  });
});

describe('static file paths', () => {
  it('stay inside their mount', () => {
    assert.equal(resolveUnder('/srv/web', 'app.js'), '/srv/web/app.js');
    assert.equal(resolveUnder('/srv/web', '../../etc/passwd'), '/srv/web/etc/passwd');
    assert.equal(resolveUnder('/srv/web', '%2e%2e/%2e%2e/etc/passwd'), '/srv/web/etc/passwd');
    assert.equal(resolveUnder('/srv/web', 'a%00b'), undefined);
    assert.equal(resolveUnder('/srv/web', '%E0%A4%A'), undefined);
  });
});

describe('--config FILE (JSON)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'facecast-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, body: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, body);
    return p;
  };
  const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseServeArgs(argv, env) as ServerConfig;

  it('reads every setting, and flags and env override it', () => {
    const f = file(
      'ok.json',
      JSON.stringify({
        port: 9000,
        host: '127.0.0.2',
        iceServers: ['stun:stun.example:3478'],
        maxRoomSize: 4,
        allowOrigins: ['https://app.example'],
        iceTimeout: 12,
        logLevel: 'warn',
      }),
    );
    const c = parse(['--config', f]);
    assert.equal(c.port, 9000);
    assert.equal(c.host, '127.0.0.2');
    assert.deepEqual(c.ice.iceServers, [{ urls: 'stun:stun.example:3478' }]);
    assert.equal(c.limits?.maxRoomSize, 4);
    assert.deepEqual(c.allowedOrigins, ['https://app.example']);
    assert.equal(c.iceTimeoutS, 12);
    assert.equal(c.logLevel, 'warn');
    assert.equal(parse(['--config', f, '--port', '9100']).port, 9100, 'a flag wins');
    assert.equal(parse(['--config', f], { FACECAST_PORT: '9200' }).port, 9200, 'env wins over the file');
    assert.equal(parse([], { FACECAST_CONFIG: f }).port, 9000, 'FACECAST_CONFIG names the file');
  });

  it('an unknown key, a wrong type, bad JSON or a missing file: one line naming it', () => {
    assert.throws(() => parse(['--config', file('unknown.json', '{"port": 1, "prot": 2}')]), /--config .*unknown\.json: unknown key "prot"/);
    assert.throws(() => parse(['--config', file('type.json', '{"port": "80"}')]), /key "port": expected number/i);
    assert.throws(() => parse(['--config', file('bad.json', '{port: 1}')]), /not JSON/);
    assert.throws(() => parse(['--config', path.join(dir, 'nope.json')]), /no such file/);
    // values still go through the same checks as flags
    assert.throws(() => parse(['--config', file('range.json', '{"port": 70000}')]), /--port: "70000"/);
  });
});

describe('TLS flags', () => {
  it('--tls-cert and --tls-key go together and must be PEM; --tls-self-signed alone', () => {
    assert.throws(() => parseServeArgs(['--tls-cert', '/etc/hostname']), /go together/);
    assert.throws(() => parseServeArgs(['--tls-cert', '/etc/hostname', '--tls-key', '/etc/hostname']), /not a PEM certificate/);
    assert.throws(() => parseServeArgs(['--tls-self-signed', '--tls-cert', 'a', '--tls-key', 'b']), /not together/);
    assert.deepEqual((parseServeArgs(['--tls-self-signed']) as ServerConfig).tls, { selfSigned: true });
  });
});

describe('cluster flags', () => {
  it('--redis URL (or FACECAST_REDIS_URL) and --node-url; without --redis no cluster', () => {
    assert.equal((parseServeArgs([], {}) as ServerConfig).cluster, undefined);
    assert.deepEqual((parseServeArgs(['--redis', 'redis://127.0.0.1:6379/2', '--node-url', 'http://10.0.0.2:8080/'], {}) as ServerConfig).cluster, {
      redisUrl: 'redis://127.0.0.1:6379/2',
      nodeUrl: 'http://10.0.0.2:8080',
    });
    assert.deepEqual((parseServeArgs([], { FACECAST_REDIS_URL: 'rediss://:pw@r.example:6380', FACECAST_NODE_URL: 'https://n1.example/sfu' }) as ServerConfig).cluster, {
      redisUrl: 'rediss://:pw@r.example:6380',
      nodeUrl: 'https://n1.example/sfu',
    });
    assert.throws(() => parseServeArgs(['--redis', 'localhost:6379'], {}), /--redis: "localhost:6379" is not a redis:\/\/ or rediss:\/\/ URL/);
    assert.throws(() => parseServeArgs(['--node-url', 'http://a:1'], {}), /--node-url: only with --redis/);
    assert.throws(() => parseServeArgs(['--redis', 'redis://r', '--node-url', 'ftp://a'], {}), /--node-url: "ftp:\/\/a" is not an http/);
  });
});
