/**
 * facecast/client: join a facecast room from any web app.
 *
 *   import { connect } from 'facecast/client';       // or from '<server>/facecast-client.js'
 *   const room = await connect({ room: 'demo', name: 'alice', token });
 *   room.on('track', ({ participant, stream }) => show(participant, stream));
 *   room.publish(await navigator.mediaDevices.getUserMedia({ video: true }), { simulcast: true });
 *   room.sendFaces([{ x: 0.4, y: 0.3, w: 0.2, h: 0.3, score: 0.9 }]);  // others get a 'faces' event
 *
 * One WebSocket (signaling, validated with the same schema as the server) and one
 * RTCPeerConnection per room, through the client core in session.ts (the echo
 * page uses it too); the SFU adds an m-line for every track of the others.
 * Events are typed (`FacecastEvents`); `close()` ends both.
 */
import { FacesDown, type FaceBox, type FacesUp } from '../../src/protocol/detections.js';
import type { ServerMessage } from '../../src/protocol/messages.js';
import { Session } from './session.js';

export type { FaceBox, FacesDown } from '../../src/protocol/detections.js';

export interface ConnectOptions {
  /** Room name (1-64 letters, digits, "_" or "-"). */
  room: string;
  /** Your name in the room (the others' stream ids); the server picks one if absent. */
  name?: string;
  /** Room token (when the server runs with --auth-secret; see `facecast token`). */
  token?: string;
  /** The SFU's base URL, e.g. "https://sfu.example:8080"; default: this page's origin. */
  url?: string;
  /** Also receive your own published video back from the SFU. */
  echo?: boolean;
  /** Give up joining after this long (default 10 s). */
  timeoutMs?: number;
  /**
   * When the signaling connection drops (the server restarts or dies, the network fails), join
   * again by yourself, publishing the same tracks: to the same URL or, on a cluster, to any node
   * the server listed (default true). Not after close(), nor when the server ended your call.
   */
  reconnect?: boolean;
}

export interface PublishOptions {
  /** Three layers (1/4, 1/2 and full size): the SFU sends each viewer the one that fits. Default true. */
  simulcast?: boolean;
  /** Preferred video codec (default 'video/VP8'). */
  codec?: string;
  /** 'relay': media only through the server's TURN servers (its --ice-server list). Default 'all'. */
  iceTransportPolicy?: RTCIceTransportPolicy;
}

export interface RemoteTrack {
  /** The publisher's name. */
  participant: string;
  stream: MediaStream;
  track: MediaStreamTrack;
  receiver: RTCRtpReceiver;
}

export interface Participant {
  id: string;
  name: string;
}

export interface FacecastEvents {
  'participant-joined': Participant;
  'participant-left': Participant;
  /** A remote track arrived; it ends (track.onended / 'participant-left') when its publisher leaves. */
  track: RemoteTrack;
  /** Face boxes another participant shared with sendFaces() (relayed by the SFU, checked against the schema). */
  faces: FacesDown;
  /** Any other message on the `facecast` data channel. */
  data: unknown;
  /**
   * `participant`'s video is paused for you: your connection's bandwidth estimate has no room
   * for it even at its lowest layer (the SFU shares one estimate across what you receive,
   * the largest tile first). Its track stays; frames stop until 'track-resumed'.
   */
  'track-paused': { participant: string; kind: 'video'; reason: 'bandwidth' };
  /** `participant`'s video comes again. */
  'track-resumed': { participant: string; kind: 'video' };
  'connection-state': RTCPeerConnectionState;
  /** An error the server reported ({code, message}; codes are listed in README). */
  error: { code: string; message: string };
  /** The signaling connection dropped; trying again (`attempt` from 1) at `url` after `delayMs`. */
  reconnecting: { attempt: number; code: number; reason: string; url: string; delayMs: number };
  /** Joined again after a drop (your participant id may be new; the others' tracks come again as 'track'). */
  reconnected: { url: string; attempts: number };
  /** The signaling connection closed for good (by close(), the server, or the network after the reconnect attempts). */
  close: { code: number; reason: string };
}

/** Close codes after which the client joins again: going away, abnormal, internal error, service restart, try again later. */
const RECONNECT_CODES = new Set([1001, 1006, 1011, 1012, 1013]);
const RECONNECT_ATTEMPTS = 10;

type Listener<T> = (value: T) => void;

export class FacecastError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'FacecastError';
  }
}

/** `ws(s)://host/ws[?token=]` for an http(s) base URL. */
export function signalingUrlFor(base: string, token?: string): string {
  const u = new URL('/ws', base);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  if (token) u.searchParams.set('token', token);
  return u.toString();
}

/** Connect to the SFU and join `opts.room`; resolves once joined. */
export function connect(opts: ConnectOptions): Promise<FacecastRoom> {
  return FacecastRoom.join(opts);
}

export class FacecastRoom {
  /** Your participant id and name (as the server confirmed them). */
  participantId = '';
  name = '';
  readonly room: string;
  /** The others in the room, by id. */
  readonly participants = new Map<string, Participant>();
  private readonly listeners = new Map<keyof FacecastEvents, Set<Listener<never>>>();
  /** The signaling socket and the peer connection (session.publisher, once publish() was called); a new one after a reconnect. */
  private session: Session;
  private closed = false;
  /** What publish() and addTrack() were given: published again after a reconnect. */
  private published: { stream: MediaStream; options: PublishOptions; extra: MediaStreamTrack[] } | undefined;
  /** Where to reconnect: the URL in use first, then the cluster's other nodes (from welcome). */
  private urls: string[];
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    private readonly opts: ConnectOptions,
    onJoined: () => void,
    onFailed: (err: FacecastError) => void,
  ) {
    this.room = opts.room;
    this.urls = [new URL(opts.url ?? location.origin).origin];
    this.session = this.dial(this.urls[0]!, 0, onJoined, onFailed);
  }

  /** One signaling connection: welcome -> join -> joined (then `onJoined`); a drop after joining reconnects. */
  private dial(url: string, attempt: number, onJoined: () => void, onFailed: (err: FacecastError) => void): Session {
    let joined = false;
    const session: Session = new Session(
      {
        onWelcome: (welcome) => {
          if (welcome.nodes) this.urls = [...new Set([url, ...welcome.nodes.map((u) => new URL(u).origin)])];
          session.send({ type: 'join', room: this.opts.room, name: this.opts.name ?? (this.name || undefined), echo: this.opts.echo });
        },
        onMessage: (msg) => {
          if (msg.type === 'joined') {
            joined = true;
            this.participantId = msg.participantId;
            this.name = msg.name;
            const now = new Map(msg.participants.map((p) => [p.id, p]));
            // After a reconnect: who left and who came meanwhile.
            for (const [id, p] of this.participants) {
              if (now.has(id)) continue;
              this.participants.delete(id);
              this.emit('participant-left', p);
            }
            for (const [id, p] of now) {
              if (this.participants.has(id)) continue;
              this.participants.set(id, p);
              if (attempt > 0) this.emit('participant-joined', p);
            }
            onJoined();
            return;
          }
          if (msg.type === 'error' && !joined) {
            if (attempt > 0) return void this.emit('error', { code: msg.code, message: msg.message });
            onFailed(new FacecastError(msg.code, msg.message));
            this.close();
            return;
          }
          this.receive(msg);
        },
        onInvalid: (reason) => this.emit('error', { code: 'bad-server-message', message: reason }),
        onClose: (code, reason) => {
          session.publisher?.close();
          if (this.closed || session !== this.session) return;
          const everJoined = joined || attempt > 0;
          if (everJoined && this.opts.reconnect !== false && (RECONNECT_CODES.has(code) || !joined) && attempt < RECONNECT_ATTEMPTS) {
            return this.scheduleReconnect(attempt + 1, code, reason);
          }
          if (!everJoined) onFailed(new FacecastError('closed', `signaling closed before joining (${code}${reason ? ` ${reason}` : ''})`));
          this.closed = true;
          this.emit('close', { code, reason });
        },
      },
      signalingUrlFor(url, this.opts.token),
    );
    return session;
  }

  /** Join again after `delay` (250 ms doubling to 4 s), trying each known node in turn. */
  private scheduleReconnect(attempt: number, code: number, reason: string): void {
    const url = this.urls[attempt % this.urls.length]!;
    const delayMs = Math.min(4000, 250 * 2 ** (attempt - 1));
    this.emit('reconnecting', { attempt, code, reason, url, delayMs });
    this.reconnectTimer = setTimeout(() => {
      if (this.closed) return;
      this.session = this.dial(
        url,
        attempt,
        () => {
          this.republish();
          this.emit('reconnected', { url, attempts: attempt });
        },
        () => undefined,
      );
    }, delayMs);
  }

  /** After a reconnect: the same stream, options and added tracks on the new peer connection. */
  private republish(): void {
    const p = this.published;
    if (!p) return;
    this.published = undefined;
    this.publish(p.stream, p.options);
    for (const t of p.extra) if (t.readyState === 'live') this.addTrack(t);
  }

  static join(opts: ConnectOptions): Promise<FacecastRoom> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new FacecastError('timeout', `no answer from the SFU within ${opts.timeoutMs ?? 10_000} ms`));
        room.close();
      }, opts.timeoutMs ?? 10_000);
      const room: FacecastRoom = new FacecastRoom(
        opts,
        () => {
          clearTimeout(timer);
          resolve(room);
        },
        (err) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  /** Listen to an event; returns the function that stops listening. */
  on<K extends keyof FacecastEvents>(event: K, listener: Listener<FacecastEvents[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  /**
   * Publish the stream's video track (and its audio track, if any). The peer
   * connection starts here; tracks of the others arrive as 'track' events.
   * Call once per room.
   */
  publish(stream: MediaStream, options: PublishOptions = {}): RTCPeerConnection {
    if (this.closed) throw new FacecastError('closed', 'this room connection is closed');
    if (this.session.publisher) throw new FacecastError('wrong-state', 'already publishing: publish once per room');
    const video = stream.getVideoTracks()[0];
    if (!video) throw new FacecastError('no-video', 'the stream has no video track');
    const p = this.session.publish({
      track: video,
      stream,
      direction: 'sendonly',
      simulcast: options.simulcast ?? true,
      preferredCodec: options.codec,
      iceTransportPolicy: options.iceTransportPolicy,
      onTrack: (remote, track, transceiver) => this.emit('track', { participant: remote.id, stream: remote, track, receiver: transceiver.receiver }),
      onConnectionState: (state) => this.emit('connection-state', state),
      onError: (context, err) => this.emit('error', { code: 'webrtc', message: `${context}: ${err instanceof Error ? err.message : String(err)}` }),
      onData: (data) => this.onData(data),
    });
    for (const track of stream.getAudioTracks()) p.addTrack(track);
    this.published = { stream, options, extra: [] };
    return p.pc;
  }

  /** Add a track (e.g. the microphone, later) to what you publish. */
  addTrack(track: MediaStreamTrack): void {
    const p = this.session.publisher;
    if (!p) throw new FacecastError('wrong-state', 'publish() first');
    p.addTrack(track);
    this.published?.extra.push(track);
  }

  /** The peer connection, once publish() was called. */
  get pc(): RTCPeerConnection | null {
    return this.session.publisher?.pc ?? null;
  }

  /**
   * Tell the SFU how big `participant`'s video is shown: it sends the simulcast layer that fits
   * (0 x 0: not shown; it sends nothing, and its publisher may stop encoding what nobody shows).
   */
  setTileSize(participant: string, width: number, height: number): void {
    this.session.send({ type: 'tile', name: participant, width: Math.round(width), height: Math.round(height) });
  }

  /** Receive your own video back from the SFU (or stop). */
  setEcho(enabled: boolean): void {
    this.session.send({ type: 'echo', enabled });
  }

  /**
   * Share face boxes (0..1 of the frame) found in your video's frame `frame`: the SFU
   * relays them to everyone else in the room as a 'faces' event (at most 60 a second).
   * False when the data channel is not open yet.
   */
  sendFaces(faces: FaceBox[], options: { frame?: number; detector?: string } = {}): boolean {
    const ch = this.session.publisher?.channel;
    if (!ch || ch.readyState !== 'open') return false;
    const message: FacesUp = { type: 'faces', frame: (options.frame ?? 0) & 0xffffff, ts: performance.now(), detector: options.detector ?? 'app', faces };
    ch.send(JSON.stringify(message));
    return true;
  }

  /** Leave the room: closes the peer connection and the signaling socket. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.session.close();
    this.emit('close', { code: 1000, reason: 'closed by the client' });
  }

  /** Room notices once joined (negotiation, welcome and glare stay in the session). */
  private receive(msg: ServerMessage): void {
    switch (msg.type) {
      case 'participant-joined':
        this.participants.set(msg.participant.id, msg.participant);
        this.emit('participant-joined', msg.participant);
        return;
      case 'participant-left':
        this.participants.delete(msg.participant.id);
        this.emit('participant-left', msg.participant);
        return;
      case 'error':
        this.emit('error', { code: msg.code, message: msg.message });
        return;
      case 'track-paused':
        this.emit('track-paused', { participant: msg.name, kind: msg.kind, reason: msg.reason });
        return;
      case 'track-resumed':
        this.emit('track-resumed', { participant: msg.name, kind: msg.kind });
        return;
      default:
        return;
    }
  }

  private onData(data: unknown): void {
    if (typeof data === 'string') {
      try {
        const faces = FacesDown.safeParse(JSON.parse(data));
        if (faces.success) {
          this.emit('faces', faces.data);
          return;
        }
      } catch {
        // not JSON: hand it on as it is
      }
    }
    this.emit('data', data);
  }

  private emit<K extends keyof FacecastEvents>(event: K, value: FacecastEvents[K]): void {
    for (const listener of this.listeners.get(event) ?? []) {
      try {
        (listener as Listener<FacecastEvents[K]>)(value);
      } catch (err) {
        console.error(`facecast: a '${event}' listener threw`, err);
      }
    }
  }
}
