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
