/**
 * Dynacast: the publisher is told which of its simulcast layers anyone receives (`layers`),
 * so that it can stop encoding the others: none while nobody watches, the layer a viewer's
 * tile needs, nothing for a hidden (0 x 0) tile. (The werift publisher here keeps sending
 * every layer; the browser's reaction is tested in test/e2e/dynacast-browser.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ServerMessage } from '../../src/protocol/messages.js';
import type { FacecastServer } from '../../src/server/facecast.js';
import { startTestServer, waitFor } from '../helpers/server.js';
import { publishSimulcast, type SimulcastPublisher } from '../helpers/simulcast.js';
import { TestClient } from '../helpers/werift-client.js';

type LayersMessage = Extract<ServerMessage, { type: 'layers' }>;

describe('dynacast: layers nobody receives are turned off at the publisher (room workers)', () => {
  let server: FacecastServer;
  let publisher: SimulcastPublisher;
  let viewer: TestClient | undefined;

  /** The latest `layers` message alice got for her video. */
  const latest = () => publisher.client.messages.filter((m): m is LayersMessage => m.type === 'layers').at(-1);
  const waitLayers = (active: string[], what: string) =>
    waitFor(() => JSON.stringify(latest()?.active) === JSON.stringify(active), 6000, what).catch((e: Error) => {
      throw new Error(`${e.message}; layers messages: ${JSON.stringify(publisher.client.messages.filter((m) => m.type === 'layers'))}`);
    });
  const forwarded = async () => (await server.state()).peers.find((p) => p.name === 'bob')?.subscriptions.find((s) => s.kind === 'video')?.packetsOut ?? 0;

  before(async () => {
    server = await startTestServer();
    publisher = await publishSimulcast(server.url, 'dyn', 'alice');
  });

  after(async () => {
    publisher?.stop();
    await publisher?.client.close();
    await viewer?.close();
    await server?.close();
  });

  it('nobody watches: no layer; on the m-line alice publishes on', async () => {
    await waitLayers([], 'layers [] while alone');
    assert.equal(latest()!.mid, publisher.client.transceiver!.mid);
  });

  it("a viewer's small tile: only q", async () => {
    viewer = new TestClient(server.url);
    await viewer.join('dyn', 'bob');
    await viewer.connect('recvonly');
    viewer.send({ type: 'tile', name: 'alice', width: 160, height: 120 });
    await waitLayers(['q'], 'layers [q] for a 120 px tile');
  });

  it('a big tile: f (q kept only until the switch is done)', async () => {
    viewer!.send({ type: 'tile', name: 'alice', width: 640, height: 480 });
    await waitLayers(['f'], 'layers [f] for a 480 px tile');
    const seen = publisher.client.messages.filter((m): m is LayersMessage => m.type === 'layers').map((m) => m.active.join(','));
    const sinceQ = seen.slice(seen.lastIndexOf('q') + 1);
    assert.ok(sinceQ.length > 0 && sinceQ.every((a) => a !== ''), `from q to f some layer is on all along: ${seen.join(' | ')}`);
  });

  it('a hidden tile (0 x 0): nothing forwarded, no layer; shown again: f, forwarded again', async () => {
    viewer!.send({ type: 'tile', name: 'alice', width: 0, height: 0 });
    await waitLayers([], 'layers [] for a hidden tile');
    const before = await forwarded();
    await new Promise((r) => setTimeout(r, 800));
    assert.ok((await forwarded()) - before < 5, 'nothing forwarded to a hidden tile');
    viewer!.send({ type: 'tile', name: 'alice', width: 640, height: 480 });
    await waitLayers(['f'], 'layers [f] when shown again');
    await waitFor(async () => (await forwarded()) > before + 30, 4000, 'forwarded again');
  });

  it('the viewer leaves: no layer again', async () => {
    await viewer!.close();
    viewer = undefined;
    await waitLayers([], 'layers [] after the viewer left');
  });
});

describe('dynacast off (noDynacast, --no-dynacast)', () => {
  let server: FacecastServer;
  let publisher: SimulcastPublisher;

  before(async () => {
    server = await startTestServer({ noDynacast: true });
    publisher = await publishSimulcast(server.url, 'dyn-off', 'alice');
  });

  after(async () => {
    publisher?.stop();
    await publisher?.client.close();
    await server?.close();
  });

  it('the publisher is never told to turn layers off', async () => {
    await waitFor(async () => (await server.state()).peers.find((p) => p.name === 'alice')?.tracks.length === 3, 5000, 'three layers');
    await new Promise((r) => setTimeout(r, 1500)); // a dynacast round would have run by now
    assert.deepEqual(
      publisher.client.messages.filter((m) => m.type === 'layers'),
      [],
    );
  });
});

describe('dynacast for a video without simulcast (an echo call)', () => {
  let server: FacecastServer;
  let client: TestClient;

  before(async () => {
    server = await startTestServer();
    client = new TestClient(server.url);
    await client.connect();
  });

  after(async () => {
    await client?.close();
    await server?.close();
  });

  it("its own echo watches it: the last word is [''] (send it), even after a [] before the echo subscription existed", async () => {
    const layers = () => client.messages.filter((m): m is LayersMessage => m.type === 'layers');
    await waitFor(() => layers().length > 0, 5000, 'a layers message');
    await new Promise((r) => setTimeout(r, 1200)); // a dynacast round later
    assert.deepEqual(layers().at(-1)!.active, [''], JSON.stringify(layers()));
  });
});
