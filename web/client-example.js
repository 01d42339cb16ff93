// /client-example.html's script: README's facecast/client example.
import { connect } from '/facecast-client.js';

const q = new URLSearchParams(location.search);
const room = await connect({ room: q.get('room') ?? 'demo', name: q.get('name') ?? undefined, token: q.get('token') ?? undefined });
room.on('track', ({ participant, stream, track }) => {
  if (track.kind !== 'video') return;
  const video = Object.assign(document.createElement('video'), { srcObject: stream, autoplay: true, muted: true, playsInline: true });
  video.dataset.participant = participant;
  document.getElementById('videos').append(video);
});
room.on('participant-left', ({ name }) => document.querySelector(`video[data-participant="${name}"]`)?.remove());
room.on('error', ({ code, message }) => console.warn(`facecast: ${code}: ${message}`));
const camera = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
room.publish(camera, { simulcast: true });
window.room = room; // for tests and the console
