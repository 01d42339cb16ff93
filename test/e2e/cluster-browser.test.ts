/**
 * The room page in Chromium on a cluster of three nodes (`facecast serve --redis`, each its own
 * process) and one redis-server: pages joined through different nodes are one room (they decode
 * each other, see joins and leaves); when the room's node is killed with SIGKILL, the client
 * module reconnects by itself to a live node and the call comes back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import type { Page } from 'playwright-core';
import type { ServerState } from '../../src/server/facecast.js';
import { launchBrowser, type LaunchedBrowser } from '../helpers/browser.js';
import { ClusterNode } from '../helpers/cluster-node.js';
import { ensureFaceY4m } from '../helpers/face-fixture.js';
import { TestRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/server.js';

interface View {
  joined: boolean;
  participants: string[];
  tiles: { name: string; tile: boolean; framesDecoded: number }[];
  status: string;
  reconnects: number;
  reconnectedTo: string | null;
}

// A string, not a function: tsx would wrap a named arrow in __name, which the page lacks.
const VIEW = `(() => { const r = window.facecastRoom; return r ? { joined: r.joined, participants: r.participants, tiles: r.tiles(), status: r.status, reconnects: r.reconnects, reconnectedTo: r.reconnectedTo } : null; })()`;
const view = (page: Page) => page.evaluate(VIEW) as Promise<View | null>;
const frames = async (page: Page, name: string) => ((await view(page))?.tiles ?? []).find((t) => t.name === name && t.tile)?.framesDecoded ?? 0;

describe('the room page on a cluster of three nodes', () => {
  const ROOM = 'cluster-room';
  let redis: TestRedis;
  let keys: Redis;
  let browser: LaunchedBrowser;
  const nodes: ClusterNode[] = [];
  const pages = new Map<string, Page>();

  const open = async (name: string, node: ClusterNode): Promise<Page> => {
    const page = await browser.context.newPage();
    page.on('pageerror', (err) => console.error(`page ${name} error:`, err.message));
    // No detector (its CPU is the encoders'), one encoding: three nodes and two browsers share 2 cores.
    await page.goto(`${node.url}/room/${ROOM}?name=${name}&detector=none&simulcast=0&audio=0`);
    pages.set(name, page);
    return page;
  };

  /** `page` decodes `other`: 10 frames, then 15 more. */
  const decodes = async (page: Page, other: string, what: string) => {
    const first = await waitFor(
      async () => {
        const n = await frames(page, other);
        return n >= 10 ? n : undefined;
      },
      25_000,
      `${what}: first frames`,
    );
    await waitFor(async () => (await frames(page, other)) >= first + 15, 10_000, `${what}: keeps decoding`);
  };

  const diagnose = async () => {
    const lines: string[] = [];
    for (const [name, page] of pages) lines.push(`${name}: ${JSON.stringify(await view(page).catch((e: Error) => e.message))}`);
    for (const n of nodes.filter((x) => x.alive)) {
      const s = await n.json<ServerState>('/api/state?scope=node').catch((e: Error) => e.message);
      lines.push(`node ${n.id} ${n.url}: ${typeof s === 'string' ? s : s.peers.map((p) => `${p.name}:${p.connectionState}`).join(' ')}`);
    }
    return lines.join('\n');
  };
  const explained = <T>(p: Promise<T>) =>
    p.catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await diagnose()}`);
    });

  before(async () => {
    const fixture = await ensureFaceY4m();
    redis = await TestRedis.start();
    keys = redis.client();
    nodes.push(...(await Promise.all([0, 1, 2].map(() => ClusterNode.start(redis.url)))));
    // Every node knows the others (their welcome lists them: where a client reconnects).
    for (const n of nodes) await waitFor(async () => (await n.json<{ nodes: unknown[] }>('/api/nodes')).nodes.length === 3, 5000, `node ${n.id} sees three nodes`);
    browser = await launchBrowser({ y4m: fixture.path });
  });

  after(async () => {
    await browser?.close(); // throws if a page broke the CSP (a reconnect to another node must be allowed)
    await Promise.all(nodes.map((n) => n.kill()));
    keys?.disconnect();
    await redis?.stop();
  });

  it('pages joined through different nodes decode each other and see joins and leaves', async () => {
    const alice = await open('alice', nodes[0]!);
    await waitFor(async () => (await view(alice))?.joined, 15_000, 'alice joined');
    const bob = await open('bob', nodes[1]!);
    await explained(decodes(alice, 'bob', 'alice (node 1) decodes bob (node 2)'));
    await explained(decodes(bob, 'alice', 'bob (node 2) decodes alice (node 1)'));
    assert.equal(await keys.get(`facecast:room:${ROOM}`), nodes[0]!.id, 'the room is on the node it was first joined through');
    const carol = await open('carol', nodes[2]!);
    await waitFor(
      async () => (await view(alice))?.participants.includes('carol') && (await view(bob))?.participants.includes('carol'),
      15_000,
      'alice and bob see carol (node 3) join',
    );
    await carol.close();
    pages.delete('carol');
    await explained(
      waitFor(async () => !(await view(alice))?.participants.includes('carol') && !(await view(bob))?.participants.includes('carol'), 15_000, 'alice and bob see carol leave'),
    );
  });

  it("the room's node killed: both pages reconnect by themselves to live nodes and decode each other again", async () => {
    const alice = pages.get('alice')!;
    const bob = pages.get('bob')!;
    const killedAt = Date.now();
    await nodes[0]!.kill();
    await explained(waitFor(async () => (await view(alice))?.reconnectedTo && (await view(bob))?.reconnectedTo, 20_000, 'both pages reconnected'));
    console.log(`# both pages joined again ${Date.now() - killedAt} ms after the SIGKILL`);
    const live = new Set([nodes[1]!.url, nodes[2]!.url]);
    for (const [name, page] of [
      ['alice', alice],
      ['bob', bob],
    ] as const) {
      const v = (await view(page))!;
      assert.ok(live.has(v.reconnectedTo!), `${name} reconnected to a live node (${v.reconnectedTo})`);
    }
    await explained(decodes(alice, 'bob', 'alice decodes bob after the reconnect'));
    await explained(decodes(bob, 'alice', 'bob decodes alice after the reconnect'));
    console.log(`# and decode each other again ${Date.now() - killedAt} ms after it`);
    const holder = await keys.get(`facecast:room:${ROOM}`);
    assert.ok(holder === nodes[1]!.id || holder === nodes[2]!.id, `the room is on a live node now (${holder})`);
    const state = await nodes[2]!.json<ServerState>('/api/state');
    assert.deepEqual(
      state.peers
        .filter((p) => p.room === ROOM)
        .map((p) => p.name)
        .sort(),
      ['alice', 'bob'],
    );
  });
});
