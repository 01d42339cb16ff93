import type { ServerState } from './facecast.js';

const human = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(1)}G` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(1)}k` : String(n));

/** Render /api/state as a fixed-width table for the terminal. */
export function renderStateTable(state: ServerState): string {
  // A cluster node (--redis) lists every node's peers: which node holds each is a column.
  const clustered = state.cluster !== undefined;
  const header = [
    'PEER',
    'NAME',
    'ROOM',
    ...(clustered ? ['NODE'] : []),
    'CONN',
    'ICE',
    'DTLS',
    'CODEC',
    'PKT IN',
    'PKT OUT',
    'BYTES IN',
    'BYTES OUT',
    'KF FWD',
    'NACK ANS',
    'RTX',
    'AGE',
  ];
  const rows = state.peers.map((p) => [
    p.id,
    p.name,
    p.room ?? '-',
    ...(clustered ? [p.node ?? '-'] : []),
    p.connectionState,
    p.iceConnectionState,
    p.dtlsState,
    p.codec?.replace(/^video\//, '') ?? '-',
    human(p.packetsIn),
    human(p.packetsOut),
    human(p.bytesIn),
    human(p.bytesOut),
    String(p.keyframeRequestsForwarded),
    String(p.nacksAnswered),
    String(p.retransmissions),
    `${Math.round(p.ageMs / 1000)}s`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const out = [line(header), ...rows.map(line)];
  for (const p of state.peers) {
    for (const s of p.subscriptions) {
      const layer = s.layer ? ` layer ${s.layer} (${s.layerSwitches} switches)` : '';
      const estimate = s.estimateBps !== null ? `, estimate ${Math.round(s.estimateBps / 1000)} kbps` : '';
      out.push(`  ${p.id} <- ${s.publisherId} ${s.kind}${layer} ssrc ${s.ssrc}: ${human(s.packetsOut)} pkts, ${s.retransmissions} rtx${estimate}`);
    }
  }
  const nodes = state.cluster ? `, ${state.cluster.nodes.length} node(s) (this one: ${state.cluster.node})` : '';
  out.push(`${state.rooms.length} room(s), ${state.peers.length} peer(s)${nodes}, up ${Math.round(state.uptimeMs / 1000)}s`);
  return out.join('\n');
}
