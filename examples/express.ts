// facecast inside an Express app, with your own admission check (no JWTs needed): a client
// must bring ?key=demo-key, and gets the name its key maps to.
// Run: npm run build && npx tsx examples/express.ts
import express from 'express';
import type { AddressInfo } from 'node:net';
import { createFacecast } from 'facecast';

const users = new Map([['demo-key', 'alice']]);
const facecast = createFacecast({
  logLevel: 'warn',
  authorize: ({ req }) => {
    const key = new URL(req.url ?? '/', 'http://x').searchParams.get('key') ?? '';
    const identity = users.get(key);
    return identity ? { allow: true, identity, room: 'lobby' } : { allow: false, reason: 'unknown key', status: 401 };
  },
});
facecast.on('participant-joined', ({ room, participant }) => console.log(`joined: ${participant.name} in ${room}`));

const app = express();
app.get('/', (_req, res) => void res.type('text').send('an Express app with an SFU inside\n'));
app.get('/rooms', async (_req, res) => void res.json(await facecast.rooms()));

await facecast.ready();
const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
facecast.attach(server, { path: '/facecast' });
process.on('SIGTERM', () => void facecast.close().then(() => server.close(() => process.exit(0))));
