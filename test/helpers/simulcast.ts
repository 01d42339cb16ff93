/**
 * A werift publisher that sends three simulcast layers (rid q/h/f, mid and rid header
 * extensions, VP8 from Vp8Source) in a room, like a browser with simulcast on.
 */
import assert from 'node:assert/strict';
import { RTP_EXTENSION_URI, RtpHeader, serializeSdesMid, serializeSdesRTPStreamID } from 'werift';
import { Vp8Source } from './vp8-source.js';
import { TestClient } from './werift-client.js';

export const LAYERS = [
  { rid: 'q', ssrc: 0x1111, width: 160, height: 120, bitrate: 300_000 },
  { rid: 'h', ssrc: 0x2222, width: 320, height: 240, bitrate: 600_000 },
  { rid: 'f', ssrc: 0x3333, width: 640, height: 480, bitrate: 1_200_000 },
] as const;

export interface SimulcastPublisher {
  client: TestClient;
  sources: Vp8Source[];
  /** Stop sending (also stops by itself after `maxFrames`). */
  stop(): void;
}

/** Join `room` as `name` and send the three layers at 30 fps, for at most `maxFrames` frames (bounded). */
export async function publishSimulcast(url: string, room: string, name: string, maxFrames = 750): Promise<SimulcastPublisher> {
  const client = new TestClient(url);
  await client.join(room, name);
  await client.opened;
  const sources = LAYERS.map((l) => new Vp8Source({ ssrc: l.ssrc, width: l.width, height: l.height, bitrate: l.bitrate, keyframeEvery: 45 }));
  const t = client.pc.addTransceiver('video', {
    direction: 'sendonly',
    simulcast: LAYERS.map((l) => ({ rid: l.rid, direction: 'send' as const })),
  });
  client.transceiver = t;
  await client.offerAndConnect();
  const dtls = client.pc.dtlsTransports[0]!;
  const extId = (uri: string) => Number(new RegExp(`a=extmap:(\\d+) ${uri}`).exec(client.pc.remoteDescription!.sdp)?.[1]);
  const ridId = extId(RTP_EXTENSION_URI.sdesRTPStreamID);
  const midId = extId(RTP_EXTENSION_URI.sdesMid);
  assert.ok(ridId > 0 && midId > 0, 'the SFU accepted the mid and rid header extensions');
  // Any PLI asks every layer for a keyframe (what a browser does per requested SSRC).
  client.pliListeners.push(() => {
    for (const s of sources) s.requestKeyframe();
  });
  let frames = 0;
  const timer = setInterval(() => {
    if (frames++ > maxFrames) return clearInterval(timer);
    LAYERS.forEach((l, i) => {
      for (const p of sources[i]!.nextFrame()) {
        const header = new RtpHeader({
          ...p.header,
          payloadType: 96,
          extensions: [
            { id: midId, payload: serializeSdesMid(t.mid!) },
            { id: ridId, payload: serializeSdesRTPStreamID(l.rid) },
          ],
        });
        header.extension = true;
        void dtls.sendRtp(p.payload, header);
      }
    });
  }, 33);
  return { client, sources, stop: () => clearInterval(timer) };
}
