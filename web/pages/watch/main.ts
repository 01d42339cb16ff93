/**
 * /watch/ROOM: a WHEP player (RFC 9725 egress) for a room, receive-only, no
 * camera and no signaling socket: one recvonly offer (video and audio m-lines
 * for up to MAX_TRACKS publishers) POSTed to /whep/ROOM, the answer applied, one
 * tile per remote stream. Nothing published yet (404): it says so and retries.
 * `?token=JWT` goes along as a bearer token when the server requires one.
 * Closing the page DELETEs the session.
 *
 * WHEP has no renegotiation: publishers who start after the page connected are
 * picked up by reloading (the page offers to).
 */
const MAX_TRACKS = 4;
const RETRY_MS = 2000;

interface WatchDebug {
  status: string;
  tiles: { stream: string; framesDecoded: number }[];
  pc: RTCPeerConnection | null;
}
declare global {
  interface Window {
    facecastWatch: WatchDebug;
  }
}

const room = decodeURIComponent(/^\/watch\/([^/]+)/.exec(location.pathname)?.[1] ?? '');
const token = new URLSearchParams(location.search).get('token');
const statusEl = document.getElementById('status')!;
const grid = document.getElementById('grid')!;
const debug: WatchDebug = { status: '', tiles: [], pc: null };
window.facecastWatch = debug;
document.getElementById('room-name')!.textContent = room;

function setStatus(text: string): void {
  debug.status = text;
  statusEl.textContent = text;
}

const authHeaders = (): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});

/** Offer after ICE gathering: the WHEP POST carries every candidate (no trickle needed). */
async function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === 'complete') return;
  await new Promise<void>((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === 'complete') resolve();
    };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, 2000); // enough candidates by then on any sane network
  });
}

function tileFor(stream: MediaStream): HTMLVideoElement {
  const existing = grid.querySelector<HTMLVideoElement>(`video[data-stream="${CSS.escape(stream.id)}"]`);
  if (existing) return existing;
  const figure = document.createElement('figure');
  figure.className = 'tile';
  const video = document.createElement('video');
  video.autoplay = true;
  video.muted = true; // autoplay policy; the page's first click unmutes
  video.playsInline = true;
  video.dataset.stream = stream.id;
  const caption = document.createElement('figcaption');
  caption.innerHTML = '<span class="tile-name"></span>';
  caption.querySelector('.tile-name')!.textContent = stream.id;
  figure.append(video, caption);
  grid.append(figure);
  video.srcObject = stream;
  void video.play().catch(() => undefined);
  return video;
}

async function watch(): Promise<void> {
  const pc = new RTCPeerConnection({ iceServers: [] });
  debug.pc = pc;
  for (let i = 0; i < MAX_TRACKS; i++) {
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
  }
  pc.ontrack = (e) => {
    const stream = e.streams[0] ?? new MediaStream([e.track]);
    if (e.track.kind === 'video') tileFor(stream);
    else tileFor(stream).srcObject = stream;
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === 'connected') setStatus(`watching room "${room}"`);
    if (pc.connectionState === 'failed') setStatus('the connection failed; reload to try again');
  };
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const res = await fetch(`/whep/${encodeURIComponent(room)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp', ...authHeaders() },
    body: pc.localDescription!.sdp,
  });
  const text = await res.text();
  if (res.status === 404) {
    pc.close();
    setStatus(`nothing is published in room "${room}" yet; retrying…`);
    setTimeout(() => void watch().catch(fail), RETRY_MS);
    return;
  }
  if (res.status !== 201) {
    pc.close();
    setStatus(`the server refused to play room "${room}": ${res.status} ${text.trim()}`);
    return;
  }
  await pc.setRemoteDescription({ type: 'answer', sdp: text });
  const location = res.headers.get('location');
  if (location) {
    addEventListener('pagehide', () => {
      void fetch(location, { method: 'DELETE', headers: authHeaders(), keepalive: true });
    });
  }
  setStatus(`connecting to room "${room}"…`);
}

function fail(err: unknown): void {
  setStatus(`watching failed: ${err instanceof Error ? err.message : String(err)}`);
}

document.addEventListener(
  'click',
  () => {
    for (const v of grid.querySelectorAll('video')) v.muted = false;
  },
  { once: true },
);

setInterval(() => {
  debug.tiles = [...grid.querySelectorAll<HTMLVideoElement>('video')].map((v) => ({
    stream: v.dataset.stream ?? '',
    framesDecoded: v.getVideoPlaybackQuality?.().totalVideoFrames ?? 0,
  }));
}, 500);

if (!/^[A-Za-z0-9_-]{1,64}$/.test(room)) setStatus('room names are 1-64 letters, digits, "_" or "-"');
else watch().catch(fail);

export {};
