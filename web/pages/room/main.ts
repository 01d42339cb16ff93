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
 *   ?relay=1              media only through the server's TURN servers (--ice-server)
 *   plus the detector parameters of the echo page (?detector=, ?threshold=, ...)
 */
import { PARTICIPANT_NAME, ROOM_NAME } from '../../../src/protocol/messages.js';
import { connect, FacecastError, type FacecastRoom } from '../../client/index.js';
import { describeMediaError, Pipeline } from '../../capture/pipeline.js';
import { initialCounters, initialStats, StatsSampler, renderStats, type Counters, type FacecastStats } from '../../stats/stats.js';
import { StatusLine } from '../status-line.js';
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
  /** Reconnect attempts so far (the client module's 'reconnecting'), and where it joined again. */
  reconnects: number;
  reconnectedTo: string | null;
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
const counters: Counters = initialCounters();

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
  reconnects: 0,
  reconnectedTo: null,
};
window.facecastRoom = debug;

const statusLine = new StatusLine<StatusKey>($('status'), ['room', 'server', 'camera', 'microphone', 'detector', 'signaling', 'connection'], debug);
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

/** The room, through the facecast/client module (web/client/index.ts): this page is built on it. */
let client: FacecastRoom | null = null;

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
    if (!client) return;
    for (const [n, h] of tileHeights) {
      if (!grid.info(n)) continue;
      client.setTileSize(n, (h * 4) / 3, h); // 0 x 0: hidden
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
  if (debug.joined) client?.setEcho(enabled);
}

// ---- the room ----------------------------------------------------------------

/** Join through the client module; publish the composited canvas once in. */
async function joinRoom(): Promise<void> {
  setStatus('signaling', 'connecting to server…');
  let r: FacecastRoom;
  try {
    r = await connect({ room, name, echo: echoBox.checked, token: params.get('token') ?? undefined });
  } catch (err) {
    const code = err instanceof FacecastError ? err.code : 'internal';
    const message = err instanceof Error ? err.message : String(err);
    debug.serverErrors.push({ code, message });
    setStatus('signaling', null);
    setStatus('room', `cannot join room ${room}: ${message}`, true);
    return;
  }
  client = r;
  setStatus('signaling', null);
  debug.joined = true;
  debug.joinedAt = performance.now();
  for (const p of r.participants.values()) others.set(p.id, p.name);
  setStatus('room', null);
  r.on('participant-joined', (p) => {
    others.set(p.id, p.name);
    renderRoom();
  });
  r.on('participant-left', (p) => {
    others.delete(p.id);
    // Its m-lines go inactive in the server's next offer; drop the tile now.
    if (![...others.values()].includes(p.name)) grid.remove(p.name);
    renderRoom();
  });
  r.on('track', ({ stream, track, receiver }) => grid.addTrack(stream, track, receiver));
  r.on('track-paused', ({ participant }) => grid.setPaused(participant, true));
  r.on('track-resumed', ({ participant }) => grid.setPaused(participant, false));
  r.on('connection-state', (state) => {
    stats.connection = state;
    if (state === 'failed') setStatus('connection', 'WebRTC connection failed', true);
    else if (state === 'disconnected') setStatus('connection', 'WebRTC connection interrupted…', true);
    else if (state === 'connected') setStatus('connection', null);
    renderStats(stats);
  });
  r.on('error', ({ code, message }) => {
    if (code === 'webrtc') {
      setStatus('connection', `WebRTC ${message}`, true);
      return;
    }
    debug.serverErrors.push({ code, message });
    setStatus('server', `server error ${code}: ${message}`, true);
  });
  r.on('close', ({ code, reason }) => setStatus('signaling', `signaling connection closed (${code}${reason ? ` ${reason}` : ''})`, true));
  // The client module joins again by itself (the server restarted or, on a cluster, a node died).
  r.on('reconnecting', ({ attempt, url }) => {
    debug.reconnects = attempt;
    setStatus('signaling', `connection to the server lost: reconnecting to ${url} (attempt ${attempt})…`, true);
  });
  r.on('reconnected', ({ url }) => {
    debug.pc = r.pc;
    debug.reconnectedTo = url;
    setStatus('signaling', null);
    renderRoom();
  });
  setStatus('connection', 'connecting…');
  debug.pc = r.publish(pipeline.stream, {
    simulcast: params.get('simulcast') !== '0',
    iceTransportPolicy: params.get('relay') === '1' ? 'relay' : 'all',
  });
  if (params.get('audio') !== '0') void addMicrophone(r);
  renderRoom();
}

async function addMicrophone(r: FacecastRoom): Promise<void> {
  if (!navigator.mediaDevices?.getUserMedia) return;
  try {
    const mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
    const [track] = mic.getAudioTracks();
    if (track && r.pc?.signalingState !== 'closed') r.addTrack(track);
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
  setStatus('room', `joining ${room}…`);
  void joinRoom();

  const sampler = new StatsSampler(stats);
  setInterval(() => {
    pipeline.syncCounters();
    sampler.sampleCounters(counters);
    void grid.sampleFps().then(() => {
      const fps = grid.list().reduce((sum, t) => sum + (t.tile ? (t.decodedFps ?? 0) : 0), 0);
      $('stat-decoded-fps').textContent = String(Math.round(fps * 10) / 10);
    });
    sampler
      .sampleRtc(client?.pc ?? null)
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
