// Starts the room worker from TypeScript sources (tests and dev run under tsx; a worker
// thread does not inherit the parent's loader). The built server starts dist/server/sfu-worker.js.
import { register } from 'tsx/esm/api';

register();
await import(new URL('./sfu-worker.ts', import.meta.url).href);
