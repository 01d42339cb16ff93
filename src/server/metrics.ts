/**
 * GET /metrics: Prometheus text format (prom-client), one Registry per server so
 * several servers in one process keep separate numbers.
 *
 * Everything is computed at scrape time from the participants' own counters
 * (InboundTrack and Forwarder stats). The *_total counters stay monotonic when
 * tracks and subscriptions go away: the objects seen at one scrape are kept, and
 * once gone their final counts are folded into a running sum.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { ForwarderStats } from '../sfu/subscriptions/forwarder.js';
import type { InboundTrack, InboundTrackStats } from '../sfu/publications/inbound-track.js';
import type { Participant } from '../sfu/participant.js';
import type { Rooms } from '../sfu/room.js';

export interface Metrics {
  readonly registry: Registry;
  readonly contentType: string;
  /** Count this participant (call once, when it is created). */
  track(p: Participant): void;
  /** The exposition text, freshly computed. */
  render(): Promise<string>;
  /** The same, as prom-client JSON (a room worker's part of /metrics). */
  json(): Promise<MetricObjectWithValues<MetricValue<string>>[]>;
  close(): void;
}

type Forwarder = NonNullable<ReturnType<Participant['subscription']>>;

const IN_KEYS = ['packetsIn', 'bytesIn', 'keyframesIn', 'keyframeRequestsSent', 'gapsIn'] as const;
const OUT_KEYS = [
  'packetsOut',
  'bytesOut',
  'keyframeRequestsIn',
  'nacksIn',
  'nacksAnswered',
  'retransmissions',
  'nackMisses',
  'keyframesForLoss',
  'rtxCongestion',
  'rtxRefusedTooOld',
  'rtxRefusedTooMany',
  'rtxRefusedTooSoon',
  'rtxRefusedOverBudget',
] as const;
/** The refusal counters are one metric with a `reason` label. */
const REFUSED_REASON: Partial<Record<(typeof OUT_KEYS)[number], string>> = {
  rtxRefusedTooOld: 'too-old',
  rtxRefusedTooMany: 'too-many',
  rtxRefusedTooSoon: 'too-soon',
  rtxRefusedOverBudget: 'over-budget',
};
type InKey = (typeof IN_KEYS)[number];
type OutKey = (typeof OUT_KEYS)[number];

export function createMetrics(rooms: Rooms, opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  const participants = new Set<Participant>();
  const knownTracks = new Set<InboundTrack>();
  const knownForwarders = new Set<Forwarder>();
  const departedIn = Object.fromEntries(IN_KEYS.map((k) => [k, 0])) as Record<InKey, number>;
  const departedOut = Object.fromEntries(OUT_KEYS.map((k) => [k, 0])) as Record<OutKey, number>;

  // `aggregator`: how worker threads' values combine at /metrics (worker-pool.ts): sums by default.
  const gauge = (name: string, help: string, labelNames: string[] = [], aggregator: 'sum' | 'max' | 'average' = 'sum') =>
    new Gauge({ name, help, labelNames, registers: [registry], aggregator });
  const counter = (name: string, help: string, labelNames: string[] = []) => new Counter({ name, help, labelNames, registers: [registry] });

  const g = {
    rooms: gauge('facecast_rooms', 'Rooms with at least one participant (echo pages included).'),
    participants: gauge('facecast_participants', 'Participants (peer connections) on the server.'),
    connected: gauge('facecast_participants_connected', 'Participants whose peer connection is connected.'),
    roomMembers: gauge('facecast_room_members', 'Participants that are members of a room.'),
    tracks: gauge('facecast_published_tracks', 'Tracks (simulcast layers count one each) published to the SFU.', ['kind']),
    subscriptions: gauge('facecast_subscriptions', 'Tracks the SFU forwards to subscribers (one per subscriber and track).', ['kind']),
    rttAvg: gauge('facecast_subscriber_rtt_seconds_avg', 'Mean round-trip time to subscribers, from their RTCP receiver reports.', [], 'average'),
    rttMax: gauge('facecast_subscriber_rtt_seconds_max', 'Largest round-trip time to a subscriber, from RTCP receiver reports.', [], 'max'),
    lossAvg: gauge('facecast_subscriber_fraction_lost_avg', 'Mean fraction of packets lost toward subscribers (latest receiver reports).', [], 'average'),
    lossMax: gauge('facecast_subscriber_fraction_lost_max', 'Largest fraction of packets lost toward one subscriber (latest receiver report).', [], 'max'),
  };
  const inCounters: Record<InKey, Counter> = {
    packetsIn: counter('facecast_rtp_packets_received_total', 'RTP packets received from publishers.'),
    bytesIn: counter('facecast_rtp_payload_bytes_received_total', 'RTP payload bytes received from publishers.'),
    keyframesIn: counter('facecast_keyframes_received_total', 'Keyframes received from publishers.'),
    keyframeRequestsSent: counter('facecast_keyframe_requests_forwarded_total', 'Keyframe requests (PLI) sent to publishers, after coalescing.'),
    gapsIn: counter('facecast_publisher_gaps_total', 'Losses from publishers too big for NACKs (outages, long sequence jumps); each asked for a keyframe.'),
  };
  const refused = counter(
    'facecast_retransmissions_refused_total',
    "NACKed packets not resent, by reason: too-old (sent over 1 s ago), too-many (resent 3 times), too-soon (within an RTT of its last resend), over-budget (the subscriber's retransmissions would pass 10% of what it is forwarded).",
    ['reason'],
  );
  const outCounters: Record<Exclude<OutKey, keyof typeof REFUSED_REASON>, Counter> = {
    packetsOut: counter('facecast_rtp_packets_sent_total', 'RTP packets forwarded to subscribers (retransmissions included).'),
    bytesOut: counter('facecast_rtp_payload_bytes_sent_total', 'RTP payload bytes forwarded to subscribers.'),
    keyframeRequestsIn: counter('facecast_keyframe_requests_received_total', 'PLI/FIR received from subscribers.'),
    nacksIn: counter('facecast_nacks_received_total', 'NACK messages received from subscribers.'),
    nacksAnswered: counter('facecast_nacks_answered_total', 'NACK messages answered with at least one retransmission from the cache.'),
    retransmissions: counter('facecast_retransmissions_total', 'Packets retransmitted to subscribers.'),
    nackMisses: counter('facecast_nack_misses_total', 'NACKed packets not in the cache (too old, or never received from the publisher).'),
    keyframesForLoss: counter('facecast_keyframe_requests_for_loss_total', 'Keyframes asked of publishers because a subscriber kept NACKing a packet the SFU never received.'),
    rtxCongestion: counter(
      'facecast_retransmission_congestion_total',
      'Times a subscriber stayed over its retransmission budget for 2 s (each took it one simulcast layer down for 5 s).',
    ),
  };

  const update = () => {
    const liveTracks = new Set<InboundTrack>();
    const liveForwarders = new Set<Forwarder>();
    const tracksByKind = { audio: 0, video: 0 };
    const subsByKind = { audio: 0, video: 0 };
    const rtts: number[] = [];
    const losses: number[] = [];
    let connected = 0;
    for (const p of participants) {
      if (p.isClosed) {
        participants.delete(p);
        continue;
      }
      if (p.pc.connectionState === 'connected') connected++;
      for (const t of p.published.values()) {
        liveTracks.add(t);
        tracksByKind[t.kind]++;
      }
      for (const key of p.subscriptionKeys) {
        const f = p.subscription(key);
        if (!f) continue;
        liveForwarders.add(f);
        subsByKind[f.currentSource.kind]++;
        const { rttS, fractionLost } = f.receiverReport;
        if (rttS !== undefined) rtts.push(rttS);
        if (fractionLost !== undefined) losses.push(fractionLost);
      }
    }
    // Gone since the last scrape: their counters are final now; fold them in.
    for (const t of knownTracks) {
      if (liveTracks.has(t)) continue;
      for (const k of IN_KEYS) departedIn[k] += t.stats[k];
      knownTracks.delete(t);
    }
    for (const f of knownForwarders) {
      if (liveForwarders.has(f)) continue;
      for (const k of OUT_KEYS) departedOut[k] += f.stats[k];
      knownForwarders.delete(f);
    }
    for (const t of liveTracks) knownTracks.add(t);
    for (const f of liveForwarders) knownForwarders.add(f);

    const setCounter = (c: Counter, value: number) => {
      c.reset();
      c.inc(value);
    };
    for (const k of IN_KEYS) {
      let n = departedIn[k];
      for (const t of knownTracks) n += (t.stats as InboundTrackStats)[k];
      setCounter(inCounters[k], n);
    }
    refused.reset();
    for (const k of OUT_KEYS) {
      let n = departedOut[k];
      for (const f of knownForwarders) n += (f.stats as ForwarderStats)[k];
      const reason = REFUSED_REASON[k];
      if (reason) refused.inc({ reason }, n);
      else setCounter(outCounters[k as keyof typeof outCounters], n);
    }

    g.rooms.set(rooms.list.length);
    g.participants.set(participants.size);
    g.connected.set(connected);
    g.roomMembers.set(rooms.participantCount);
    for (const kind of ['audio', 'video'] as const) {
      g.tracks.set({ kind }, tracksByKind[kind]);
      g.subscriptions.set({ kind }, subsByKind[kind]);
    }
    const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
    g.rttAvg.set(avg(rtts));
    g.rttMax.set(rtts.length ? Math.max(...rtts) : 0);
    g.lossAvg.set(avg(losses));
    g.lossMax.set(losses.length ? Math.max(...losses) : 0);
  };

  return {
    registry,
    contentType: registry.contentType,
    track(p) {
      participants.add(p);
      // Fold a departed participant's final counts in at once and drop every reference to
      // it (not only at the next scrape: without scrapes the sets would keep every peer ever).
      p.once('closed', () => {
        participants.delete(p);
        update();
      });
    },
    async render() {
      update();
      return registry.metrics();
    },
    async json() {
      update();
      return registry.getMetricsAsJSON();
    },
    close() {
      registry.clear();
      participants.clear();
    },
  };
}
