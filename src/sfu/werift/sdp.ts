/**
 * werift writes port 0 on every inactive m-line, which in SDP means rejected
 * (stopped for good): the browser would stop the transceiver, and the SFU could
 * never reuse that m-line. An inactive m-line that is not rejected has a real
 * port; 9 (discard) as on the others.
 */
export function unrejectInactive(sdp: string): string {
  const sections = sdp.split(/(?=^m=)/m);
  return sections.map((section) => (section.startsWith('m=') && /^a=inactive\r?$/m.test(section) ? section.replace(/^(m=\w+) 0 /, '$1 9 ') : section)).join('');
}

/** The slice of werift's RTCRtpTransceiver this file touches. */
interface SimulcastTransceiver {
  mid?: string | null;
  options: { simulcast?: { rid: string; direction: 'send' | 'recv' }[] };
}

/**
 * werift answers an m-line the browser offered with simulcast with the mirrored a=rid /
 * a=simulcast lines, but its own later offers (the server renegotiates whenever subscriptions
 * change) write them only for transceivers it created with `simulcast` options, so a re-offer
 * drops them. The browser, as answerer of an offer without simulcast, then keeps only the
 * first encoding in getParameters() (JSEP) while still encoding the others: the client can no
 * longer switch those layers (dynacast). After each remote offer, give every transceiver whose
 * m-line the browser offered with send rids those rids as receive simulcast options, so
 * werift's offers repeat them.
 */
export function keepOfferedSimulcast(remoteSdp: string, transceivers: readonly SimulcastTransceiver[]): void {
  for (const section of remoteSdp.split(/(?=^m=)/m)) {
    if (!section.startsWith('m=video')) continue;
    const mid = /^a=mid:(\S+)/m.exec(section)?.[1];
    const rids = [...section.matchAll(/^a=rid:(\S+) send/gm)].map((m) => m[1]!);
    if (!mid || rids.length === 0) continue;
    const t = transceivers.find((x) => x.mid === mid);
    if (t && !t.options.simulcast?.length) t.options.simulcast = rids.map((rid) => ({ rid, direction: 'recv' }));
  }
}
