import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseServeArgs } from '../../src/server/config.js';
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
      ['--port', '9000', '--ice-server', 'stun:stun.example.org:3478', '--ice-server', 'turn:u:p@turn.example.org:3478?transport=udp', '--rtc-ports', '40000-40100', '--public-ip', '203.0.113.5'],
      { FACECAST_HOST: '0.0.0.0', FACECAST_LOG_LEVEL: 'warn' },
    );
    assert.ok(c !== 'help');
    assert.equal(c.port, 9000);
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.ice.interfaceAddress, undefined, 'all interfaces when not on loopback');
    assert.deepEqual(c.ice.iceServers, [
      { urls: 'stun:stun.example.org:3478' },
      { urls: 'turn:turn.example.org:3478?transport=udp', username: 'u', credential: 'p' },
    ]);
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
      assert.throws(() => parseServeArgs(args, {}), (e: unknown) => e instanceof ConfigError && !e.message.includes('\n'), args.join(' '));
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
