/**
 * The room page, served at /room/NAME: everyone publishes their face-detected
 * canvas (simulcast, plus the microphone when allowed) and sees everyone
 * else's in a grid with their names.
 *
 * URL parameters:
 *   ?name=<participant>   shown on your tile for the others (default guest-XXXX)
 *   ?echo=1               also show your own video as it comes back from the SFU
 *   ?audio=0              do not ask for the microphone
 *   ?simulcast=0          publish one encoding instead of three layers
 *   plus the detector parameters of the echo page (?detector=, ?threshold=, ...)
 */
import { PARTICIPANT_NAME, ROOM_NAME, type ServerMessage } from '../../src/protocol/messages.js';
import { describeMediaError, Pipeline } from '../pipeline.js';
import type { Publisher } from '../publish.js';
import { Session } from '../session.js';
import { initialStats, StatsSampler, renderStats, type Counters, type FacecastStats } from '../stats.js';
import { StatusLine } from '../status.js';
import { RoomGrid, type TileInfo } from './grid.js';

type StatusKey = 'camera' | 'microphone' | 'detector' | 'signaling' | 'server' | 'connection' | 'room';

export interface RoomDebug {
  room: string;
  name: string;
  /** Joined the room (the server said `joined`). */
  joined: boolean;
  /** performance.now() when the server said `joined`, or null. */
  joinedAt: number | null;
  /** The others in the room, by name (from joined / participant-joined / participant-left). */
  participants: string[];
  tiles(): TileInfo[];
  stats: FacecastStats;
  pc: RTCPeerConnection | null;
  status: string;
  errors: string[];
  /** Every error the server sent (code and text). */
  serverErrors: { code: string; message: string }[];
  setEcho(enabled: boolean): void;
}

declare global {
  interface Window {
    facecastRoom: RoomDebug;
  }
}

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
}

const params = new URLSearchParams(location.search);
const room = decodeURIComponent(/^\/room\/([^/]+)/.exec(location.pathname)?.[1] ?? '');
const requestedName = params.get('name') ?? '';
const name = PARTICIPANT_NAME.test(requestedName) ? requestedName : `guest-${Math.random().toString(36).slice(2, 6)}`;

const stats: FacecastStats = initialStats('', 'burned-in');
const counters: Counters = {
  cameraFrames: 0,
  outputFrames: 0,
  detections: 0,
  detectMsTotal: 0,
  echoFrames: 0,
  latencyMsTotal: 0,
  boxAgeMsTotal: 0,
  boxAgeFrames: 0,
  echoCodes: 0,
};

const others = new Map<string, string>(); // participant id -> name
const debug: RoomDebug = {
  room,
  name,
  joined: false,
  joinedAt: null,
  get participants() {
    return [...others.values()];
  },
  tiles: () => grid.list(),
  stats,
  pc: null,
  status: '',
  errors: [],
  serverErrors: [],
  setEcho: (enabled) => setEcho(enabled),
};
window.facecastRoom = debug;

const statusLine = new StatusLine<StatusKey>(
  $('status'),
  ['room', 'server', 'camera', 'microphone', 'detector', 'signaling', 'connection'],
  debug,
);
const setStatus = (key: StatusKey, text: string | null, error = false) => statusLine.set(key, text, error);

const grid = new RoomGrid($('grid'), {
  changed: () => renderRoom(),
  resized: (tileName, _w, h) => reportTile(tileName, h),
});
grid.selfName = name;

const pipeline = new Pipeline({
  source: $<HTMLVideoElement>('source'),
  canvas: $<HTMLCanvasElement>('composite'),
  params,
  stats,
  counters,
  status: setStatus,
  render: () => renderStats(stats),
});

let session: Session | null = null;
let publisher: Publisher | null = null;

function renderRoom(): void {
  $('roster').textContent = others.size ? `with ${[...others.values()].join(', ')}` : 'nobody else here yet';
  $('stat-tiles').textContent = String(grid.size);
  $('enable-sound').hidden = grid.blockedAudio().length === 0;
}

// ---- tile sizes -> simulcast layer choice ----------------------------------

const tileHeights = new Map<string, number>();
let tileTimer: ReturnType<typeof setTimeout> | undefined;

/** Tells the SFU how tall each tile is (debounced), so it sends a layer that fits. */
function reportTile(tileName: string, height: number): void {
  tileHeights.set(tileName, height);
  clearTimeout(tileTimer);
  tileTimer = setTimeout(() => {
    if (!session?.signaling.isOpen) return;
    for (const [n, h] of tileHeights) {
      if (!grid.info(n)) continue;
      session.signaling.send({ type: 'tile', name: n, width: Math.round((h * 4) / 3), height: h });
    }
    tileHeights.clear();
  }, 250);
}

// ---- echo toggle -------------------------------------------------------------

const echoBox = $<HTMLInputElement>('show-echo');
echoBox.checked = params.get('echo') === '1';
echoBox.addEventListener('change', () => setEcho(echoBox.checked));

function setEcho(enabled: boolean): void {
  echoBox.checked = enabled;
  const url = new URL(location.href);
  if (enabled) url.searchParams.set('echo', '1');
  else url.searchParams.delete('echo');
  history.replaceState(null, '', url);
  if (!enabled) grid.remove(name);
  if (debug.joined) session?.signaling.send({ type: 'echo', enabled });
}

// ---- signaling ---------------------------------------------------------------

function onMessage(msg: ServerMessage): boolean | void {
  switch (msg.type) {
    case 'joined':
      debug.joined = true;
      debug.joinedAt = performance.now();
      for (const p of msg.participants) others.set(p.id, p.name);
      setStatus('room', null);
      startPublishing();
      renderRoom();
      return;
    case 'participant-joined':
      others.set(msg.participant.id, msg.participant.name);
      renderRoom();
      return;
    case 'participant-left':
      others.delete(msg.participant.id);
      // Its m-lines go inactive in the server's next offer; drop the tile now.
      if (![...others.values()].includes(msg.participant.name)) grid.remove(msg.participant.name);
      renderRoom();
      return;
    case 'error':
      debug.serverErrors.push({ code: msg.code, message: msg.message });
      if (msg.code === 'room-full' || msg.code === 'server-full') {
        setStatus('room', `cannot join room ${room}: ${msg.message}`, true);
        session?.close();
        return true;
      }
      return false;
    default:
      return;
  }
}

function startPublishing(): void {
  if (!session || publisher) return;
  const p = session.publish({
    track: pipeline.track,
    stream: pipeline.stream,
    direction: 'sendonly',
    simulcast: params.get('simulcast') !== '0',
    onTrack(stream, track, transceiver) {
      grid.addTrack(stream, track, transceiver.receiver);
    },
    onConnectionState(state) {
      stats.connection = state;
      if (state === 'failed') setStatus('connection', 'WebRTC connection failed', true);
      else if (state === 'disconnected') setStatus('connection', 'WebRTC connection interrupted…', true);
      else if (state === 'connected') setStatus('connection', null);
      renderStats(stats);
    },
    onError(context, err) {
      setStatus('connection', `WebRTC ${context} failed: ${err instanceof Error ? err.message : String(err)}`, true);
    },
  });
  publisher = p;
  debug.pc = p.pc;
  if (params.get('audio') !== '0') void addMicrophone(p);
}

async function addMicrophone(p: Publisher): Promise<void> {
  if (!navigator.mediaDevices?.getUserMedia) return;
  try {
    const mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
    const [track] = mic.getAudioTracks();
    if (track && p.pc.signalingState !== 'closed') p.addTrack(track);
  } catch (err) {
    // Video-only is fine: say so once, not as an error.
    setStatus('microphone', `${describeMediaError(err, 'microphone')} — video only`);
  }
}

// ---- boot --------------------------------------------------------------------

function main(): void {
  $('room-name').textContent = room;
  $('me').textContent = `you are ${name}`;
  $('self-name').textContent = `${name} (you)`;
  document.title = `facecast · ${room}`;
  $('enable-sound').addEventListener('click', () => {
    for (const a of grid.blockedAudio()) a.play().catch(() => {});
    renderRoom();
  });
  renderRoom();
  if (!ROOM_NAME.test(room)) {
    setStatus('room', `"${room}" is not a room name: use 1-64 letters, digits, "_" or "-"`, true);
    return;
  }
  pipeline.start();
  session = new Session({
    status: setStatus,
    onWelcome(s) {
      setStatus('room', `joining ${room}…`);
      s.signaling.send({ type: 'join', room, name, echo: echoBox.checked });
    },
    onMessage: (_s, msg) => onMessage(msg),
  });

  const sampler = new StatsSampler(stats);
  setInterval(() => {
    pipeline.syncCounters();
    sampler.sampleCounters(counters);
    void grid.sampleFps().then(() => {
      const fps = grid.list().reduce((sum, t) => sum + (t.tile ? (t.decodedFps ?? 0) : 0), 0);
      $('stat-decoded-fps').textContent = String(Math.round(fps * 10) / 10);
    });
    sampler
      .sampleRtc(publisher?.pc ?? null)
      .catch(() => {})
      .finally(() => {
        renderStats(stats);
        renderRoom();
      });
  }, 1000);
}

try {
  main();
} catch (err) {
  setStatus('server', `facecast failed to start: ${err instanceof Error ? err.message : String(err)}`, true);
  throw err;
}
