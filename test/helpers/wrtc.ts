/**
 * Test-side handle on a libwebrtc peer (@roamhq/wrtc) that runs in a child process
 * (test/helpers/wrtc-peer.ts says why: wrtc cannot let a Node process end cleanly).
 *
 *   const pub = await startWrtcPeer();
 *   await pub.publish(`${server.url}/whip/ROOM?name=N`, y4mPath);   // or viewer.watch(`${server.url}/whep/ROOM`)
 *   await pub.progress();   // frames fed / decoded so far
 *   await pub.close();      // closes the peer connection (DELETEs the session) and ends the child
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PeerProgress, PeerReply, PeerRequest, WhipWhepSession } from './wrtc-peer.js';

export type { PeerProgress, SinkFrame, WhipWhepSession } from './wrtc-peer.js';
export { drawMark, findMark, MARK_PERIOD, MARK_SIZE, markAt, readFaceI420 } from './wrtc-peer.js';

const PEER_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'wrtc-peer.ts');

type Method = PeerRequest['method'];
type Args<M extends Method> = Omit<Extract<PeerRequest, { method: M }>, 'id' | 'method'>;

export class WrtcPeer {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;
  private closing: Promise<void> | undefined;

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        for (const [, p] of this.pending) {
          clearTimeout(p.timer);
          p.reject(new Error(`the wrtc peer process ended (${this.exitText()}) before answering`));
        }
        this.pending.clear();
        resolve();
      });
    });
    child.on('message', (reply: PeerReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      clearTimeout(p.timer);
      if (reply.ok) p.resolve(reply.value);
      else p.reject(new Error(`wrtc peer: ${reply.error}`));
    });
  }

  /** Start a child process with @roamhq/wrtc loaded; resolves once it is ready. */
  static async start(): Promise<WrtcPeer> {
    const child = fork(PEER_SCRIPT, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const peer = new WrtcPeer(child);
    const ready = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the wrtc peer process did not start in 30 s')), 30_000);
      peer.pending.set(0, { resolve, reject, timer });
    });
    try {
      await ready;
    } catch (err) {
      await peer.close();
      throw err;
    }
    return peer;
  }

  /** How the child ended, once it has. */
  get exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exit;
  }

  private exitText(): string {
    return this.exit ? (this.exit.signal ? `signal ${this.exit.signal}` : `exit code ${this.exit.code}`) : 'running';
  }

  private call<T>(method: Method, args: object = {}, timeoutMs = 30_000): Promise<T> {
    if (this.exit) return Promise.reject(new Error(`the wrtc peer process has ended (${this.exitText()})`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`wrtc peer: no answer to ${method} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.child.send({ id, method, ...args } as PeerRequest);
    });
  }

  /** WHIP: POST a sendonly offer to `url`, apply the answer, feed face frames at ~30 fps for at most `maxMs`. */
  publish(url: string, y4m: string, maxMs = 120_000): Promise<WhipWhepSession> {
    return this.call('publish', { url, y4m, maxMs } satisfies Args<'publish'>);
  }

  /** WHEP: POST a recvonly offer to `url`, apply the answer; decoded frames show in progress(). */
  watch(url: string): Promise<WhipWhepSession> {
    return this.call('watch', { url } satisfies Args<'watch'>);
  }

  progress(): Promise<PeerProgress> {
    return this.call('progress');
  }

  /** The nominated ICE candidate pair, from wrtc's getStats. */
  selectedPair(): Promise<{ local: string; remote: string; protocol: string } | null> {
    return this.call('selectedPair');
  }

  /** DELETE the session; the HTTP status (null when there was none). */
  delete(): Promise<number | null> {
    return this.call('delete');
  }

  /** Close the peer (and its session) and end the child: politely, else SIGKILL after 10 s. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.exit) await this.call('close', {}, 10_000).catch(() => undefined);
      const killed = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(killed);
    })();
    return this.closing;
  }
}

export const startWrtcPeer = (): Promise<WrtcPeer> => WrtcPeer.start();
