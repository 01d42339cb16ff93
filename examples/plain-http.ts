// facecast on a plain Node http server: your routes stay yours; signaling, WHIP/WHEP and
// the API live under /facecast. Run: npm run build && npx tsx examples/plain-http.ts
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createFacecast } from 'facecast';

const facecast = createFacecast({ logLevel: 'warn' });
facecast.on('participant-joined', ({ room, participant }) => console.log(`joined: ${participant.name} in ${room}`));
facecast.on('participant-left', ({ room, participant }) => console.log(`left: ${participant.name} from ${room}`));
facecast.on('track-published', ({ room, track }) => console.log(`published: ${track.key} in ${room}`));

const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' }).end(`your app answered ${req.url}\n`);
});
facecast.attach(server, { path: '/facecast' }); // ws://HOST/facecast/ws, /facecast/whip/ROOM, /facecast/api/state

await facecast.ready();
server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

process.on('SIGTERM', async () => {
  await facecast.close();
  server.close(() => process.exit(0));
});
