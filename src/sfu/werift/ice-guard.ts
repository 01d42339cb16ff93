/**
 * Drops unauthenticated UDP before werift sees it.
 *
 * werift 0.24 acts on STUN binding requests without checking MESSAGE-INTEGRITY
 * (a forged ICE-CONTROLLED/ICE-CONTROLLING flips the agent's role, a forged
 * USE-CANDIDATE learns and nominates a new pair), and hands every non-STUN
 * datagram, from any address, to DTLS/SRTP (a forged DTLS record from anywhere
 * tears down the call). Anyone who can send a datagram to the media port could
 * end a call that way.
 *
 * The guard, per ICE agent and UDP socket:
 *  - a STUN request must carry MESSAGE-INTEGRITY valid for our ICE password
 *    (short-term credentials, RFC 8445 §7.3), else it is dropped;
 *  - a non-STUN datagram (DTLS, SRTP, SRTCP) is accepted only from an address
 *    that has passed such a check (or answered ours with a valid integrity):
 *    media only flows on validated pairs.
 * STUN responses go through untouched (werift checks their integrity itself).
 */
import { classes, isStunMessage, parseMessage, RTCIceGatherer, StunProtocol } from 'werift';

type Address = [string, number];

/** The parts of werift's ICE `Connection` the guard reads (not in werift's public types). */
interface IceAgent {
  localUsername: string;
  localPassword: string;
  remotePassword: string;
  userHistory?: Record<string, string>;
  ensureProtocol(protocol: unknown): void;
}

interface GuardedProtocol {
  datagramReceived(data: Buffer, addr: Address): void;
}

/** Datagrams the guard dropped, process-wide (for tests and diagnostics). */
export const iceGuardStats = { droppedStun: 0, droppedData: 0 };

let installed = false;

/** Install the guard on werift's ICE agent (once per process; later calls do nothing). */
export function installIceGuard(): void {
  if (installed) return;
  installed = true;
  // werift does not export its ICE Connection class; a gatherer that never gathers holds one.
  const proto = Object.getPrototypeOf((new RTCIceGatherer() as unknown as { connection: IceAgent }).connection) as IceAgent;
  const ensureProtocol = proto.ensureProtocol;
  proto.ensureProtocol = function (this: IceAgent, protocol: unknown) {
    if (protocol instanceof StunProtocol) guard(this, protocol as unknown as GuardedProtocol);
    ensureProtocol.call(this, protocol);
  };
}

function guard(agent: IceAgent, protocol: GuardedProtocol): void {
  const deliver = protocol.datagramReceived.bind(protocol);
  const validated = new Set<string>();
  protocol.datagramReceived = (data: Buffer, addr: Address) => {
    const key = `${addr[0]}:${addr[1]}`;
    if (!isStunMessage(data)) {
      if (!validated.has(key)) {
        iceGuardStats.droppedData++;
        return;
      }
      deliver(data, addr);
      return;
    }
    const message = parseMessage(data);
    if (!message) return; // werift drops it too
    if (message.messageClass === classes.REQUEST) {
      const username = message.getAttributeValue('USERNAME') as unknown;
      const localUfrag = typeof username === 'string' ? username.split(':')[0]! : '';
      const password = agent.userHistory?.[localUfrag] ?? (localUfrag === agent.localUsername ? agent.localPassword : undefined);
      if (!password || !parseMessage(data, Buffer.from(password, 'utf8'))) {
        iceGuardStats.droppedStun++;
        return;
      }
      validated.add(key);
    } else if (message.messageClass === classes.RESPONSE && agent.remotePassword) {
      if (parseMessage(data, Buffer.from(agent.remotePassword, 'utf8'))) validated.add(key);
    }
    deliver(data, addr);
  };
}
