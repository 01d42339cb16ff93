/**
 * A participant closed while it is making an offer (the client left, ICE timed out):
 * the pending call fails with `wrong-state`, an error the client is told, not an
 * internal failure (the signaling fuzz found werift's InvalidStateError here).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SfuError } from '../../src/sfu/errors.js';
import { Participant } from '../../src/sfu/participant.js';

const options = { ice: { iceServers: [], interfaceAddress: '127.0.0.1' }, iceTimeoutMs: 30_000 };
const wrongState = (err: unknown) => err instanceof SfuError && err.code === 'wrong-state';

describe('a participant closed in the middle of a negotiation', () => {
  it('createOffer() racing close(): rejects with wrong-state', async () => {
    const p = new Participant('race-offer', options);
    const offer = p.createOffer();
    const closing = p.close('left');
    await assert.rejects(offer, wrongState);
    await closing;
  });
});
