/**
 * The Content-Security-Policy and friends, in headless Chromium: the app's pages
 * load under them (every browser test closes its browser with a CSP check), and
 * the policy really refuses what it should (an injected inline script).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FacecastServer } from '../../src/server/facecast.js';
import { launchBrowser, type LaunchedBrowser } from '../helpers/browser.js';
import { startTestServer } from '../helpers/server.js';

describe('security headers in headless Chromium', () => {
  let server: FacecastServer;
  let browser: LaunchedBrowser;
  before(async () => {
    server = await startTestServer();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('pages carry CSP, nosniff, no-referrer, COOP/COEP; an injected inline script is refused and reported', async () => {
    const page = await browser.context.newPage();
    const response = await page.goto(`${server.url}/watch/sec`);
    const h = response!.headers();
    assert.match(h['content-security-policy'] ?? '', /default-src 'self'.*script-src 'self' blob: 'wasm-unsafe-eval'.*frame-ancestors 'none'/);
    assert.equal(h['x-content-type-options'], 'nosniff');
    assert.equal(h['referrer-policy'], 'no-referrer');
    assert.equal(h['cross-origin-opener-policy'], 'same-origin');
    assert.equal(h['cross-origin-embedder-policy'], 'require-corp');
    assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'cross-origin isolated (threaded wasm)');
    const before = browser.cspViolations.length;
    const ran = await page.evaluate(async () => {
      const s = document.createElement('script');
      s.textContent = 'window.injected = true';
      document.body.append(s);
      await new Promise((r) => setTimeout(r, 100));
      return (window as unknown as { injected?: boolean }).injected === true;
    });
    assert.equal(ran, false, 'the inline script did not run');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(browser.cspViolations.length, before + 1, `one violation reported: ${browser.cspViolations.join(' | ')}`);
    assert.match(browser.cspViolations.at(-1)!, /inline script/i);
    browser.cspViolations.length = before; // expected: not a failure of the browser's close()
    await page.close();
  });
});
