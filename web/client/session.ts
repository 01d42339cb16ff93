/**
 * One signaling connection to the SFU and the page's publisher on it: both
 * pages use this. Negotiation messages (offer/answer/ice) that arrive before
 * the publisher exists are held and replayed to it in order; everything else
 * goes to the page (`onMessage`), and `error`s it does not handle go to the
 * status line.
 */
import type { ServerMessage } from '../../src/protocol/messages.js';
import { Publisher, type PublisherOptions } from './publisher.js';
import { Signaling } from './signaling.js';

export type SessionStatusKey = 'signaling' | 'server' | 'connection';

type NegotiationMessage = Extract<ServerMessage, { type: 'offer' | 'answer' | 'ice' }>;

export interface SessionOptions {
  status(key: SessionStatusKey, text: string | null, error?: boolean): void;
  /** The server said welcome: a page that publishes at once calls session.publish() here. */
  onWelcome(session: Session, msg: Extract<ServerMessage, { type: 'welcome' }>): void;
  /** Room notices and errors; return true for an error the page handled itself. */
  onMessage?(session: Session, msg: ServerMessage): boolean | void;
  /** The signaling socket closed (after the status says so). */
  onClose?(code: number, reason: string): void;
}

export class Session {
  readonly signaling: Signaling;
  publisher: Publisher | null = null;
  /** The server's --ice-server list, from welcome. */
  iceServers: RTCIceServer[] = [];
  private welcomed = false;
  private readonly early: NegotiationMessage[] = [];

  constructor(private readonly opts: SessionOptions) {
    opts.status('signaling', 'connecting to server…');
    this.signaling = new Signaling({
      open: () => opts.status('signaling', 'waiting for welcome…'),
      message: (msg) => this.receive(msg),
      invalid: (reason) => opts.status('server', `bad message from server: ${reason}`, true),
      close: (code, reason) => {
        opts.status('signaling', `signaling connection closed (${code}${reason ? ` ${reason}` : ''})`, true);
        opts.onClose?.(code, reason);
      },
    });
  }

  /**
   * Creates the publisher (a page calls this once, after welcome): its
   * negotiationneeded sends the first offer. Held negotiation messages follow.
   */
  publish(options: Omit<PublisherOptions, 'send' | 'iceServers'>): Publisher {
    if (this.publisher) return this.publisher;
    this.opts.status('connection', 'connecting…');
    const p = new Publisher({ ...options, iceServers: this.iceServers, send: (m) => this.signaling.send(m) });
    this.publisher = p;
    for (const m of this.early.splice(0)) void p.handle(m);
    return p;
  }

  close(): void {
    this.signaling.close();
    this.publisher?.close();
  }

  private receive(msg: ServerMessage): void {
    switch (msg.type) {
      case 'welcome':
        if (this.welcomed) return;
        this.welcomed = true;
        this.opts.status('signaling', null);
        // The server's --ice-server list (empty by default: host candidates only).
        this.iceServers = msg.iceServers;
        this.opts.onWelcome(this, msg);
        return;
      case 'offer':
      case 'answer':
      case 'ice':
        if (this.publisher) void this.publisher.handle(msg);
        else this.early.push(msg);
        return;
      case 'error':
        // Our offer crossed the server's: the publisher (polite) rolls back and answers it.
        if (msg.code === 'glare') {
          console.debug("facecast: offer glare, answering the server's offer");
          return;
        }
        if (this.opts.onMessage?.(this, msg) === true) return;
        this.opts.status('server', `server error ${msg.code}: ${msg.message}`, true);
        return;
      default:
        this.opts.onMessage?.(this, msg);
    }
  }
}
