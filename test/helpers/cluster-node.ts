/**
 * A facecast cluster node as users start one: `facecast serve --redis URL` in its own process
 * (room workers, the CLI's defaults), on 127.0.0.1 and a free port.
 */
import { type ChildProcess, spawn } from 'node:child_process';

export class ClusterNode {
  url = '';
  id = '';
  log = '';
  private constructor(readonly child: ChildProcess) {}

  static async start(redisUrl: string, args: string[] = []): Promise<ClusterNode> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/cli.ts', 'serve', '--port', '0', '--log-level', 'info', '--redis', redisUrl, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const node = new ClusterNode(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node did not register in 30 s: ${node.log}`)), 30_000);
      const onData = (d: Buffer) => {
        node.log += String(d);
        const listening = /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*"msg":"facecast listening"/.exec(node.log);
        if (listening) node.url = listening[1]!;
        const registered = /"node":"([0-9a-f]{8})"[^\n]*"msg":"cluster node registered"/.exec(node.log);
        if (registered && node.url) {
          node.id = registered[1]!;
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (d) => (node.log += String(d)));
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`node exited (${code ?? signal}): ${node.log}`));
      });
    });
    return node;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL: no goodbye, its keys stay in Redis until they expire. */
  kill(): Promise<void> {
    return this.signal('SIGKILL');
  }

  /** SIGTERM: the graceful shutdown (its keys are deleted). */
  stop(): Promise<void> {
    return this.signal('SIGTERM');
  }

  private signal(sig: NodeJS.Signals): Promise<void> {
    if (!this.alive) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill(sig);
    });
  }

  async json<T>(path: string): Promise<T> {
    const res = await fetch(this.url + path);
    if (!res.ok) throw new Error(`${path} on ${this.url}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }
}
