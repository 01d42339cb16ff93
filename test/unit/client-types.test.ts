/**
 * facecast/client's types as an app sees them: `import … from 'facecast/client'`
 * resolves through package.json "exports" to dist/client (tsconfig.client.json,
 * built by `npm run build`), and a wrong event name is a type error.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('facecast/client types', () => {
  it('an app importing facecast/client type-checks (strict, NodeNext) and a wrong event name does not', () => {
    assert.ok(existsSync(path.join(root, 'dist/client/web/client/index.d.ts')), 'dist/client built (npm run build)');
    const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
    const args = [
      '--ignoreConfig',
      '--noEmit',
      '--strict',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--lib',
      'es2022,dom',
      '--skipLibCheck',
      '--types',
      'node',
    ];
    const ok = spawnSync(process.execPath, [tsc, ...args, 'test/fixtures/client-consumer.ts'], { cwd: root, encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    // Without the @ts-expect-error line, the wrong event name must fail to compile.
    const broken = path.join(root, 'test/fixtures/.client-consumer-broken.ts');
    writeFileSync(broken, readFileSync(path.join(root, 'test/fixtures/client-consumer.ts'), 'utf8').replace(/^\/\/ @ts-expect-error.*$/m, ''));
    try {
      const bad = spawnSync(process.execPath, [tsc, ...args, broken], { cwd: root, encoding: 'utf8' });
      assert.notEqual(bad.status, 0);
      assert.match(bad.stdout, /"nope"/);
    } finally {
      rmSync(broken, { force: true });
    }
  });
});
