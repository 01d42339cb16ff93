/**
 * WebSocket signaling client for the SFU's `/ws` (by default on the page's own
 * host; facecast/client passes its own URL). Every server message is validated
 * with the shared zod schema.
 */
import { ServerMessage, type ClientMessage } from '../../src/protocol/messages.js';

export interface SignalingHandlers {
  open?(): void;
  message(msg: ServerMessage): void;
  /** A frame from the server that is not valid JSON or fails the schema. */
  invalid?(reason: string, raw: string): void;
  close?(code: number, reason: string): void;
}

/** `ws(s)://<host>/ws` for the current page (with the page's `?token=`, when auth is on). */
export function signalingUrl(loc: Location = location): string {
  const token = new URLSearchParams(loc.search).get('token');
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ''}`;
}

export class Signaling {
  private readonly ws: WebSocket;
  private closed = false;

  constructor(
    private readonly handlers: SignalingHandlers,
    readonly url: string = signalingUrl(),
  ) {
    this.ws = new WebSocket(url);
    this.ws.onopen = () => handlers.open?.();
    this.ws.onmessage = (ev: MessageEvent) => this.receive(ev.data);
    this.ws.onclose = (ev: CloseEvent) => {
      if (this.closed) return;
      this.closed = true;
      handlers.close?.(ev.code, ev.reason);
    };
    // 'error' is always followed by 'close'; report there.
    this.ws.onerror = () => {};
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(msg: ClientMessage): void {
    if (this.ws.readyState !== WebSocket.OPEN) {
      console.warn('facecast: signaling not open; dropping', msg.type);
      return;
    }
    this.ws.send(JSON.stringify(msg));
  }

  close(): void {
    this.closed = true;
    this.ws.close(1000, 'bye');
  }

  private receive(data: unknown): void {
    if (typeof data !== 'string') {
      this.handlers.invalid?.('binary frame', '');
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      this.handlers.invalid?.('not JSON', data);
      return;
    }
    const parsed = ServerMessage.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length ? ` at ${issue.path.join('.')}` : '';
      this.handlers.invalid?.(`invalid message${where}: ${issue?.message ?? 'unknown'}`, data);
      return;
    }
    this.handlers.message(parsed.data);
  }
}
