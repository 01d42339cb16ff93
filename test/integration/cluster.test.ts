/**
 * A cluster of three facecast nodes (`facecast serve --redis URL`, each its own process with room
 * workers) on one real redis-server: the registry, room placement, signaling relayed to the room's
 * node, WHIP into one node and WHEP out of another (307), the cluster-wide /api/state, a node
 * killed with SIGKILL, a Redis restart, and no key left without an owner and a lifetime.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import WebSocket from 'ws';
import type { ServerState } from '../../src/server/facecast.js';
import type { NodeInfo } from '../../src/server/cluster/cluster.js';
import { ClusterNode } from '../helpers/cluster-node.js';
import { TestRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/server.js';
import { Vp8Source } from '../helpers/vp8-source.js';
import { TestClient } from '../helpers/werift-client.js';
import { WhepViewer, WhipPublisher } from '../helpers/whip-client.js';

/** A werift client in `room` through `node`, publishing a bounded VP8 stream (or only watching). */
class Member {
  readonly client: TestClient;
  private readonly source = new Vp8Source({ keyframeEvery: 30 });
  private timer: NodeJS.Timeout | undefined;
  constructor(node: ClusterNode) {
    this.client = new TestClient(node.url);
  }
  async publish(room: string, name: string): Promise<this> {
    await this.client.join(room, name);
    await this.client.connect();
    this.client.pliListeners.push(() => this.source.requestKeyframe());
    let frames = 0;
    this.timer = setInterval(() => {
      if (frames++ > 1800) return; // bounded: ~60 s
      for (const p of this.source.nextFrame()) this.client.sendRtp(p);
    }, 33);
    return this;
  }
  async watch(room: string, name: string): Promise<this> {
    await this.client.join(room, name);
    await this.client.connect('recvonly');
    return this;
  }
  joinedNames(): string[] {
    return this.client.messages.flatMap((m) => (m.type === 'participant-joined' ? [m.participant.name] : m.type === 'joined' ? m.participants.map((p) => p.name) : []));
  }
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.client.close();
  }
}

describe('cluster: three nodes on one Redis', () => {
  let redis: TestRedis;
  let keys: Redis;
  const nodes: ClusterNode[] = [];
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    redis = await TestRedis.start();
    keys = redis.client();
    nodes.push(...(await Promise.all([0, 1, 2].map(() => ClusterNode.start(redis.url)))));
  });

  // Each case ends its own calls (the next one starts from idle nodes).
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  });

  after(async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
    await Promise.all(nodes.map((n) => n.kill()));
    keys?.disconnect();
    await redis?.stop();
  });

  const n1 = () => nodes[0]!;
  const n2 = () => nodes[1]!;
  const n3 = () => nodes[2]!;
  const nodeList = (n: ClusterNode) => n.json<{ node: string; nodes: NodeInfo[] }>('/api/nodes');
  const holderOf = async (room: string) => {
    const id = await keys.get(`facecast:room:${room}`);
    const n = nodes.find((x) => x.id === id);
    assert.ok(n, `${room} is held by a node (${id})`);
    return n;
  };
  const ttlOfEveryKey = async () => {
    const all = await keys.keys('facecast:*');
    return Promise.all(all.map(async (k) => ({ key: k, ttl: await keys.pttl(k) })));
  };

  it('every node registers with its URL and load, and every key has a lifetime', async () => {
    for (const n of nodes) {
      const list = await nodeList(n);
      assert.equal(list.node, n.id);
      assert.deepEqual(list.nodes.map((x) => x.id).sort(), nodes.map((x) => x.id).sort(), `nodes seen by ${n.id}`);
      const self = list.nodes.find((x) => x.id === n.id)!;
      assert.equal(self.url, n.url);
      assert.equal(typeof self.load.cpu, 'number');
      assert.equal(self.load.participants, 0);
    }
    const ttls = await ttlOfEveryKey();
    assert.ok(ttls.length >= 4, `node keys and the secret: ${JSON.stringify(ttls)}`);
    for (const { key, ttl } of ttls) assert.ok(ttl > 0 && ttl <= 60_000, `${key} expires (pttl ${ttl})`);
  });

  it('a relay token that is not the cluster’s is refused (401)', async () => {
    const ws = new WebSocket(n1().url.replace('http', 'ws') + '/ws', { headers: { 'x-facecast-relay': 'not-a-token' } });
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => resolve(101));
      ws.once('error', () => undefined);
    });
    ws.terminate();
    assert.equal(status, 401);
  });

  it('a room joined through three nodes is one room: everyone sees everyone, media flows, /api/state shows each node', async () => {
    const alice = await new Member(n1()).publish('cross', 'alice');
    closers.push(() => alice.close());
    const bob = await new Member(n2()).watch('cross', 'bob');
    closers.push(() => bob.close());
    const carol = await new Member(n3()).watch('cross', 'carol');
    closers.push(() => carol.close());
    await waitFor(() => bob.client.received.length > 30 && carol.client.received.length > 30, 10_000, "alice's video at bob (via node 2) and carol (via node 3)");
    await waitFor(() => alice.joinedNames().includes('bob') && alice.joinedNames().includes('carol'), 5000, 'alice sees bob and carol join');
    assert.ok(carol.joinedNames().includes('alice') && carol.joinedNames().includes('bob'), `carol sees the others: ${carol.joinedNames()}`);
    // The same welcome id the client got is its participant id on the room's node.
    const state = await n3().json<ServerState>('/api/state');
    const inRoom = state.peers.filter((p) => p.room === 'cross');
    assert.deepEqual(inRoom.map((p) => p.name).sort(), ['alice', 'bob', 'carol']);
    assert.ok(
      inRoom.every((p) => p.node === n1().id),
      `every participant on the room's node ${n1().id}: ${inRoom.map((p) => p.node)}`,
    );
    assert.ok(
      inRoom.some((p) => p.id === carol.client.peerId),
      'carol keeps her welcome id',
    );
    assert.equal(state.cluster?.node, n3().id);
    assert.equal(state.cluster?.nodes.length, 3);
    assert.equal(await keys.get('facecast:room:cross'), n1().id, 'placed on the node it was first joined through (idle nodes: a tie)');
    // `facecast state` on any node: the cluster's table, with a NODE column.
    const table = spawnSync(process.execPath, ['--import', 'tsx', 'src/server/cli.ts', 'state', '--url', n2().url], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /^PEER\s+NAME\s+ROOM\s+NODE\s+CONN/);
    assert.match(table.stdout, /3 node\(s\)/);
    const metrics = await (await fetch(n2().url + '/metrics')).text();
    assert.match(metrics, /^facecast_cluster_relayed_sessions_total [1-9]/m);
    assert.match(metrics, /^facecast_cluster_relays_active 1$/m);
    // A relayed participant leaving: the others are told.
    await carol.close();
    await alice.client.nextMessage((m) => m.type === 'participant-left' && m.participant.name === 'carol', 5000, 0);
    await waitFor(async () => (await n2().json<ServerState>('/api/state')).peers.every((p) => p.name !== 'carol'), 5000, 'carol gone from the directory');
  });

  it('WHIP into any node goes to the room’s node (307); WHEP viewers on other nodes are served there, each publisher pushed once per node', async () => {
    const pub = new WhipPublisher(n2().url);
    closers.push(() => pub.end());
    const created = await pub.publish('/whip/studio');
    pub.start();
    const owner = await holderOf('studio');
    assert.equal(created.origin, owner.url, 'the WHIP session is on the room’s node');
    const other = nodes.find((n) => n !== owner)!;
    const pub2 = new WhipPublisher(other.url);
    closers.push(() => pub2.end());
    const created2 = await pub2.publish('/whip/studio?name=cam2');
    pub2.start();
    assert.equal(created2.origin, owner.url, 'a WHIP POST to another node is redirected (307) to the room’s node');
    const edges = nodes.filter((n) => n !== owner);
    const viewers: WhepViewer[] = [];
    for (const edge of [edges[0]!, edges[0]!, edges[1]!]) {
      const v = new WhepViewer(edge.url);
      closers.push(() => v.end());
      viewers.push(v);
      const watched = await v.watch('/whep/studio');
      assert.equal(watched.origin, edge.url, 'the WHEP viewer is served by the node it came to');
      assert.equal(v.pc.getTransceivers().length, 1);
    }
    await waitFor(() => viewers.every((v) => v.received.length > 30), 10_000, 'every WHEP viewer receives video from its own node');
    // The room's node sends each publisher once to each edge node, not once per viewer.
    const pushes = (await owner.json<ServerState>('/api/state?scope=node')).pushes ?? [];
    assert.deepEqual(
      pushes.map((p) => `${p.publisher}->${p.target}`).sort(),
      edges.flatMap((e) => [`cam2->${e.url}`, `${pushes.find((p) => p.publisher !== 'cam2')?.publisher}->${e.url}`]).sort(),
      'one push per publisher and edge node',
    );
    assert.ok(
      pushes.every((p) => p.packetsOut > 0),
      'every push carries packets',
    );
    const atEdge = (await edges[0]!.json<ServerState>('/api/state?scope=node')).peers.filter((p) => p.room === 'studio');
    assert.equal(atEdge.filter((p) => p.subscriptions.length > 0).length, 2, 'two viewers at the first edge');
    const metrics = await (await fetch(edges[0]!.url + '/metrics')).text();
    assert.match(metrics, /^facecast_cluster_edge_rooms 1$/m);
    // The viewers leave: the pushes stop at both ends within ~5 s.
    for (const v of viewers) await v.end();
    await waitFor(async () => ((await owner.json<ServerState>('/api/state?scope=node')).pushes ?? []).length === 0, 15_000, 'pushes stopped at the room’s node');
    await waitFor(async () => (await edges[0]!.json<ServerState>('/api/state?scope=node')).peers.every((p) => p.room !== 'studio'), 10_000, 'nothing of studio left at the edge');
  });

  it('hostile clients through a relay: errors come back, a flood is closed 1008 by the room’s node, a client vanishing mid-handshake leaks nothing; the echo page stays local', async () => {
    const alice = await new Member(n1()).publish('rough', 'alice');
    closers.push(() => alice.close());
    const bob = await new Member(n2()).watch('rough', 'bob');
    closers.push(() => bob.close());
    await waitFor(() => bob.client.received.length > 30, 10_000, 'the call through the relay');
    const raw = async (node: ClusterNode) => {
      const ws = new WebSocket(node.url.replace('http', 'ws') + '/ws');
      const got: { type: string; code?: string }[] = [];
      ws.on('message', (d) => got.push(JSON.parse(String(d))));
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      await waitFor(() => got.some((m) => m.type === 'welcome'), 3000, 'welcome');
      return { ws, got, closed };
    };
    // Malformed and oversized messages after a relayed join: the owner's errors, the socket stays.
    const rough = await raw(n3());
    rough.ws.send(JSON.stringify({ type: 'join', room: 'rough', name: 'mallory' }));
    await waitFor(() => rough.got.some((m) => m.type === 'joined'), 5000, 'mallory joined through node 3');
    rough.ws.send('{not json');
    rough.ws.send(JSON.stringify({ type: 'ice', candidate: 'x'.repeat(70_000) }));
    await waitFor(() => rough.got.some((m) => m.code === 'bad-json') && rough.got.some((m) => m.code === 'too-large'), 5000, 'bad-json and too-large relayed back');
    assert.equal(rough.ws.readyState, WebSocket.OPEN);
    // A flood: the room's node closes it (1008), and the relay passes the code on.
    for (let i = 0; i < 1500; i++) rough.ws.send(JSON.stringify({ type: 'tile', name: 'alice', width: 1, height: 1 }));
    assert.equal(await rough.closed, 1008);
    // Vanishing right after the join: nothing stays on either node.
    for (let i = 0; i < 5; i++) {
      const ghost = await raw(n2());
      ghost.ws.send(JSON.stringify({ type: 'join', room: 'rough', name: `ghost${i}` }));
      ghost.ws.terminate();
    }
    await waitFor(
      async () => {
        const peers = (await n1().json<ServerState>('/api/state?scope=node')).peers
          .filter((p) => p.room === 'rough')
          .map((p) => p.name)
          .sort();
        const relays = /^facecast_cluster_relays_active (\d+)/m.exec(await (await fetch(n2().url + '/metrics')).text())?.[1];
        return JSON.stringify(peers) === JSON.stringify(['alice', 'bob']) && relays === '1';
      },
      10_000,
      'only alice and bob on the room’s node, only bob relayed by node 2',
    );
    const before = bob.client.received.length;
    await waitFor(() => bob.client.received.length > before + 30, 5000, 'the call went on');
    // The echo page sends no join: served where it connects, in a cluster too.
    const echo = new TestClient(n3().url);
    closers.push(() => echo.close());
    await echo.connect();
    const source = new Vp8Source({ keyframeEvery: 10 });
    // Frames until the echo comes (its m-line is the server's re-offer, after the first exchange).
    let sent = 0;
    const frames = setInterval(() => {
      if (sent++ < 300) for (const p of source.nextFrame()) echo.sendRtp(p);
    }, 33);
    try {
      await waitFor(() => echo.received.length > 10, 8000, 'the echo from node 3');
    } finally {
      clearInterval(frames);
    }
    const here = (await n3().json<ServerState>('/api/state?scope=node')).peers;
    assert.ok(
      here.some((p) => p.id === echo.peerId && p.echo),
      'the echo call is on node 3',
    );
  });

  it('a Redis restart: nodes register again and the calls go on', async () => {
    const alice = await new Member(n2()).publish('steady', 'alice');
    closers.push(() => alice.close());
    const bob = await new Member(n3()).watch('steady', 'bob');
    closers.push(() => bob.close());
    await waitFor(() => bob.client.received.length > 30, 10_000, 'video before the restart');
    const owner = await keys.get('facecast:room:steady');
    await redis.restart();
    assert.equal((await keys.keys('facecast:*')).length, 0, 'Redis came back empty');
    await waitFor(async () => (await keys.keys('facecast:node:*')).length === 3, 8000, 'all three nodes registered again');
    await waitFor(async () => (await keys.get('facecast:room:steady')) === owner, 8000, 'the room claimed again by its node');
    const before = bob.client.received.length;
    await waitFor(() => bob.client.received.length > before + 30, 5000, 'video still flowing after the restart');
    assert.equal((await nodeList(n1())).nodes.length, 3);
  });

  it('SIGKILL of a node: it leaves the registry within ~6 s, its participants disappear, its rooms can be claimed again', async () => {
    const dave = await new Member(n1()).publish('doomed', 'dave');
    closers.push(() => dave.close());
    const doomed = await holderOf('doomed');
    const others = nodes.filter((n) => n !== doomed);
    const erin = await new Member(others[0]!).watch('doomed', 'erin');
    closers.push(() => erin.close());
    await waitFor(() => erin.client.received.length > 10, 10_000, "dave's video at erin");
    const killedAt = Date.now();
    await doomed.kill();
    // erin's socket (relayed by another node) closes as soon as the room's node is gone.
    await waitFor(() => erin.client.ws.readyState === WebSocket.CLOSED, 3000, "erin's relayed socket closed");
    await waitFor(async () => (await nodeList(others[1]!)).nodes.every((n) => n.id !== doomed.id), 8000, 'the killed node leaves the registry');
    const gone = Date.now() - killedAt;
    assert.ok(gone <= 7000, `left the registry after ${gone} ms`);
    console.log(`# SIGKILL: the node left the registry after ${gone} ms`);
    const state = await others[1]!.json<ServerState>('/api/state');
    assert.ok(
      state.peers.every((p) => p.node !== doomed.id),
      'none of its participants listed',
    );
    await waitFor(async () => (await keys.exists(`facecast:node:${doomed.id}`)) === 0, 3000, 'its record expired');
    // Its room can be claimed again: a new join lands on a live node.
    const frank = await new Member(others[1]!).publish('doomed', 'frank');
    closers.push(() => frank.close());
    const holder = await keys.get('facecast:room:doomed');
    assert.ok(holder && others.some((n) => n.id === holder), `doomed is on a live node now (${holder})`);
  });

  it('no stale keys: nodes that stop delete theirs, the killed one’s expired', async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    const left = await ttlOfEveryKey();
    assert.deepEqual(
      left.filter((k) => !k.key.endsWith(':secret')),
      [],
      'no node or room key left',
    );
    for (const k of left) assert.ok(k.ttl > 0, `${k.key} has a lifetime`);
  });
});

describe('cluster: a room spread over two nodes by a small --max-participants', () => {
  let redis: TestRedis;
  const nodes: ClusterNode[] = [];
  const members: Member[] = [];

  before(async () => {
    redis = await TestRedis.start();
    // Two participants per node (one room worker each).
    nodes.push(...(await Promise.all([0, 1].map(() => ClusterNode.start(redis.url, ['--max-participants', '2', '--workers', '1'])))));
    for (const n of nodes) await waitFor(async () => (await n.json<{ nodes: unknown[] }>('/api/nodes')).nodes.length === 2, 5000, 'both nodes registered');
  });

  after(async () => {
    for (const m of members) await m.close().catch(() => undefined);
    await Promise.all(nodes.map((n) => n.kill()));
    await redis?.stop();
  });

  const ssrcsWithVideo = (m: Member) => [...m.client.bySsrc().values()].filter((packets) => packets.length > 20).length;

  it('the third participant goes to the second node; everyone sees and receives everyone; leaving is seen across nodes', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    const alice = new Member(a);
    alice.client.openDataChannel();
    await alice.publish('spread', 'alice');
    const bob = await new Member(a).publish('spread', 'bob');
    members.push(alice, bob);
    // Node a is full: carol, joining through it, is placed on node b.
    const carol = new Member(a);
    carol.client.openDataChannel();
    await carol.publish('spread', 'carol');
    members.push(carol);
    const onB = (await b.json<ServerState>('/api/state?scope=node')).peers.filter((p) => p.room === 'spread' && p.originNode === undefined);
    assert.deepEqual(
      onB.map((p) => p.name),
      ['carol'],
      'carol is served by node b (the room’s node a is full)',
    );
    await waitFor(() => ssrcsWithVideo(carol) >= 2, 15_000, "carol (node b) receives alice's and bob's video (node a)");
    await waitFor(() => ssrcsWithVideo(alice) >= 2, 15_000, "alice (node a) receives bob's and carol's video");
    await waitFor(() => alice.joinedNames().includes('carol') && carol.joinedNames().includes('alice') && carol.joinedNames().includes('bob'), 5000, 'they see each other join');
    const pushesA = (await a.json<ServerState>('/api/state?scope=node')).pushes ?? [];
    const pushesB = (await b.json<ServerState>('/api/state?scope=node')).pushes ?? [];
    assert.deepEqual(pushesA.map((p) => p.publisher).sort(), ['alice', 'bob'], 'node a sends alice and bob to node b once each');
    assert.deepEqual(
      pushesB.map((p) => p.publisher),
      ['carol'],
      'node b sends carol to node a, and nothing back',
    );
    // Face metadata crosses too (the pushes carry a facecast data channel).
    const faces = (frame: number) => JSON.stringify({ type: 'faces', frame, ts: 0, detector: 'test', faces: [{ x: 0.1, y: 0.2, w: 0.3, h: 0.4, score: 0.9 }] });
    await waitFor(
      () => {
        if (alice.client.dataChannel?.readyState === 'open') alice.client.dataChannel.send(faces(1));
        if (carol.client.dataChannel?.readyState === 'open') carol.client.dataChannel.send(faces(2));
        const from = (m: Member, who: string) => m.client.dataMessages.some((d) => (d as { from?: string }).from === who);
        return from(carol, 'alice') && from(alice, 'carol');
      },
      10_000,
      "alice's faces at carol (node b) and carol's at alice (node a)",
    );
    // The cluster-wide directory lists each of them once, on the node that serves them.
    const everyone = (await b.json<ServerState>('/api/state')).peers.filter((p) => p.room === 'spread');
    assert.deepEqual(everyone.map((p) => `${p.name}@${p.node === a.id ? 'a' : p.node === b.id ? 'b' : p.node}`).sort(), ['alice@a', 'bob@a', 'carol@b']);
    // A participant that publishes nothing is one of the room too, on the other node.
    const dave = await new Member(b).watch('spread', 'dave');
    members.push(dave);
    await waitFor(() => alice.joinedNames().includes('dave') && dave.joinedNames().includes('alice'), 5000, 'alice (node a) and dave (node b, subscribing only) see each other');
    await waitFor(() => ssrcsWithVideo(dave) >= 3, 15_000, 'dave receives all three videos');
    const announced = (m: Member, who: string) => m.client.messages.filter((x) => x.type === 'participant-joined' && x.participant.name === who).length;
    assert.equal(announced(alice, 'carol'), 1, 'carol announced once to alice (her presence, not also her pushed copy)');
    assert.equal(announced(carol, 'alice') + (carol.client.messages.some((x) => x.type === 'joined' && x.participants.some((p) => p.name === 'alice')) ? 1 : 0), 1);
    await dave.close();
    await alice.client.nextMessage((m) => m.type === 'participant-left' && m.participant.name === 'dave', 8000, 0);
    await carol.close();
    await alice.client.nextMessage((m) => m.type === 'participant-left' && m.participant.name === 'carol', 8000, 0);
    await waitFor(async () => ((await a.json<ServerState>('/api/state?scope=node')).pushes ?? []).length === 0, 15_000, 'node a stops pushing to node b');
  });
});
