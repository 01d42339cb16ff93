/**
 * One signaling connection to the SFU and the browser's peer connection on it:
 * the client core under both the echo page (web/pages/echo/main.ts) and
 * facecast/client's FacecastRoom (web/client/index.ts, which the room page uses).
 *
 *  - the socket (`Signaling`): every server message is checked against the
 *    schema the server uses (src/protocol/messages.ts);
 *  - `welcome` is taken once: its `iceServers` (the server's --ice-server list)
 *    go to the peer connection; then `onWelcome` (the echo page publishes at
 *    once, a room client sends `join`);
 *  - `publish()` creates the `Publisher` (web/client/publisher.ts): perfect
 *    negotiation with the browser as the polite peer, ICE trickled both ways.
 *    offer/answer/ice that arrive before it exists are held and replayed to it
 *    in order;
 *  - `layers` (dynacast: the simulcast layers anyone receives) goes to the
 *    publisher, which turns the other encodings off;
 *  - an `error` with code `glare` (our offer crossed the server's) is not
 *    passed on: the publisher, being polite, rolls back and answers the
 *    server's offer.
 * Every other message goes to `onMessage`.
 */
import type { ClientMessage, ServerMessage } from '../../src/protocol/messages.js';
import { Publisher, type PublisherOptions } from './publisher.js';
import { Signaling } from './signaling.js';

type NegotiationMessage = Extract<ServerMessage, { type: 'offer' | 'answer' | 'ice' }>;
export type WelcomeMessage = Extract<ServerMessage, { type: 'welcome' }>;

export interface SessionHandlers {
  /** The socket opened; `welcome` comes next. */
  onOpen?(): void;
  /** The server said welcome (called once; `session.iceServers` is set by then). */
  onWelcome?(msg: WelcomeMessage): void;
  /** Any other message: joined, participant-joined/left, errors other than glare. */
  onMessage?(msg: ServerMessage): void;
  /** A frame from the server that is not JSON or fails the schema. */
  onInvalid?(reason: string): void;
  /** The socket closed, other than by close(). */
  onClose?(code: number, reason: string): void;
}

export class Session {
  readonly signaling: Signaling;
  publisher: Publisher | null = null;
  /** The server's --ice-server list, from welcome (empty by default: host candidates only). */
  iceServers: RTCIceServer[] = [];
  private welcomed = false;
  private readonly early: NegotiationMessage[] = [];

  /** `url`: the signaling URL (default: /ws on this page's host, with the page's ?token=). */
  constructor(
    private readonly handlers: SessionHandlers,
    url?: string,
  ) {
    this.signaling = new Signaling(
      {
        open: () => handlers.onOpen?.(),
        message: (msg) => this.receive(msg),
        invalid: (reason) => handlers.onInvalid?.(reason),
        close: (code, reason) => handlers.onClose?.(code, reason),
      },
      url,
    );
  }

  send(msg: ClientMessage): void {
    this.signaling.send(msg);
  }

  /**
   * Creates the publisher (once; later calls return it): its
   * negotiationneeded sends the first offer. Held negotiation messages follow.
   */
  publish(options: Omit<PublisherOptions, 'send' | 'iceServers'>): Publisher {
    if (this.publisher) return this.publisher;
    const p = new Publisher({ ...options, iceServers: this.iceServers, send: (m) => this.send(m) });
    this.publisher = p;
    // handle() queues: these apply after the caller's synchronous setup (e.g. addTrack).
    for (const m of this.early.splice(0)) void p.handle(m);
    return p;
  }

  /** Closes the socket (no onClose then) and the peer connection. */
  close(): void {
    this.signaling.close();
    this.publisher?.close();
  }

  private receive(msg: ServerMessage): void {
    switch (msg.type) {
      case 'welcome':
        if (this.welcomed) return;
        this.welcomed = true;
        this.iceServers = msg.iceServers;
        this.handlers.onWelcome?.(msg);
        return;
      case 'offer':
      case 'answer':
      case 'ice':
        if (this.publisher) void this.publisher.handle(msg);
        else this.early.push(msg);
        return;
      case 'layers':
        // Dynacast: which simulcast layers anyone receives; the publisher turns the others off.
        void this.publisher?.setActiveLayers(msg.mid, msg.active);
        return;
      case 'error':
        if (msg.code === 'glare') {
          console.debug("facecast: offer glare, answering the server's offer");
          return;
        }
        this.handlers.onMessage?.(msg);
        return;
      default:
        this.handlers.onMessage?.(msg);
    }
  }
}
