/**
 * A minimal TURN relay (RFC 8656, UDP only, long-term credentials) that impairs
 * what it relays: random loss, delay with jitter (packets may overtake each
 * other), reordering (a share of packets held back so later ones pass them),
 * and outages (everything dropped for a while). It stands in for `tc netem`,
 * which this machine's kernel does not have: browsers given this server with
 * `iceTransportPolicy: 'relay'` send every packet (ICE checks, DTLS, RTP, RTCP)
 * through it, in both directions, and all of it stays on 127.0.0.1.
 *
 * Only relayed data (Send/Data indications, ChannelData) is impaired; TURN's
 * own requests (Allocate, Refresh, CreatePermission, ChannelBind) are answered
 * at once. STUN encoding/decoding and MESSAGE-INTEGRITY are werift's.
 *
 * Supported: Allocate (401 challenge, then XOR-RELAYED-ADDRESS), Refresh,
 * CreatePermission, ChannelBind, Send indication, Data indication, ChannelData,
 * Binding. Not supported (not needed for the benchmark): TCP, IPv6, EVEN-PORT,
 * reservations, nonce expiry.
 */
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { classes, Message, methods, parseMessage } from 'werift';

export interface Impairment {
  /** Share of relayed packets dropped at random, 0-100 (each direction separately). */
  lossPct: number;
  /** Fixed one-way delay added to every relayed packet, ms. */
  delayMs: number;
  /** Each packet's delay is delayMs ± a uniform random amount up to this, ms (never below 0). Independent per packet, so packets reorder. */
  jitterMs: number;
  /** Share of packets (0-100) held back by reorderDelayMs so that the ones after them overtake them. */
  reorderPct: number;
  /** How long a reordered packet is held back, ms (default 20). */
  reorderDelayMs?: number;
}

export const NO_IMPAIRMENT: Impairment = { lossPct: 0, delayMs: 0, jitterMs: 0, reorderPct: 0 };

export interface DirectionStats {
  /** Relayed packets offered to the impairment. */
  packets: number;
  /** Sent on (possibly delayed). */
  forwarded: number;
  droppedLoss: number;
  droppedOutage: number;
  /** Held back for reordering. */
  reordered: number;
}

export interface RelayStats {
  /** Browser -> peer (client to the SFU). */
  up: DirectionStats;
  /** Peer -> browser. */
  down: DirectionStats;
  allocations: number;
  refusedAllocations: number;
  /** Datagrams that threw while being handled (see lastError). */
  errors: number;
}

export interface RelayOptions {
  username: string;
  password: string;
  /** Listening port (default: any free one). */
  port?: number;
  impairment?: Impairment;
  /**
   * Allocate requests from a client whose source port this returns true for are
   * refused (403). The benchmark refuses the SFU's own ICE agent (its port range),
   * which would otherwise also allocate here, since the SFU hands its ICE servers
   * to the browsers and uses them itself.
   */
  refuseClient?: (address: string, port: number) => boolean;
  /** Random source for the impairment (default Math.random); for reproducible runs. */
  random?: () => number;
}

const HOST = '127.0.0.1';
const REALM = 'facecast-bench';
const LIFETIME_S = 600;
const PERMISSION_MS = 300_000;

interface Allocation {
  key: string;
  client: [string, number];
  socket: dgram.Socket;
  relayPort: number;
  expires: number;
  /** Peer IP -> permission expiry. */
  permissions: Map<string, number>;
  channelByPeer: Map<string, number>;
  peerByChannel: Map<number, [string, number]>;
  /** The Allocate transaction that created it (a retransmitted request gets the same answer). */
  transactionId: string;
}

const emptyDirection = (): DirectionStats => ({ packets: 0, forwarded: 0, droppedLoss: 0, droppedOutage: 0, reordered: 0 });

export class TurnRelay {
  readonly username: string;
  private readonly password: string;
  private readonly key: Buffer;
  private readonly nonce = Buffer.from(randomBytes(8).toString('hex'));
  private socket!: dgram.Socket;
  private readonly allocations = new Map<string, Allocation>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private sweeper: NodeJS.Timeout | undefined;
  private impairment: Impairment;
  private outageUntil = 0;
  private readonly random: () => number;
  private closed = false;
  port = 0;
  lastError: string | null = null;
  readonly stats: RelayStats = { up: emptyDirection(), down: emptyDirection(), allocations: 0, refusedAllocations: 0, errors: 0 };

  constructor(private readonly opts: RelayOptions) {
    this.username = opts.username;
    this.password = opts.password;
    this.key = createHash('md5').update(`${opts.username}:${REALM}:${opts.password}`).digest();
    this.impairment = { ...(opts.impairment ?? NO_IMPAIRMENT) };
    this.random = opts.random ?? Math.random;
  }

  /** `turn:USER:PASS@127.0.0.1:PORT`, the form facecast's `--ice-server` takes. */
  get url(): string {
    return `turn:${this.username}:${this.password}@${HOST}:${this.port}`;
  }

  async start(): Promise<this> {
    this.socket = dgram.createSocket('udp4');
    this.socket.on('message', (data, rinfo) => {
      try {
        this.onClientDatagram(data, [rinfo.address, rinfo.port]);
      } catch (err) {
        this.stats.errors++;
        this.lastError = err instanceof Error ? err.message : String(err);
      }
    });
    this.socket.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(this.opts.port ?? 0, HOST, () => resolve());
    });
    this.port = this.socket.address().port;
    this.sweeper = setInterval(() => this.sweep(), 5_000);
    this.sweeper.unref();
    return this;
  }

  setImpairment(impairment: Impairment): void {
    this.impairment = { ...impairment };
  }

  /** Drop every relayed packet, both ways, for `ms` from now. Returns the time (Date.now()) it ends. */
  startOutage(ms: number): number {
    this.outageUntil = Date.now() + ms;
    return this.outageUntil;
  }

  get allocationCount(): number {
    return this.allocations.size;
  }

  resetStats(): void {
    Object.assign(this.stats.up, emptyDirection());
    Object.assign(this.stats.down, emptyDirection());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const a of this.allocations.values()) a.socket.close();
    this.allocations.clear();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  // ---- the impairment -------------------------------------------------------

  private impaired(direction: 'up' | 'down', send: () => void): void {
    const s = this.stats[direction];
    s.packets++;
    if (Date.now() < this.outageUntil) {
      s.droppedOutage++;
      return;
    }
    const imp = this.impairment;
    if (imp.lossPct > 0 && this.random() * 100 < imp.lossPct) {
      s.droppedLoss++;
      return;
    }
    let delay = imp.delayMs;
    if (imp.jitterMs > 0) delay += (this.random() * 2 - 1) * imp.jitterMs;
    if (imp.reorderPct > 0 && this.random() * 100 < imp.reorderPct) {
      delay += imp.reorderDelayMs ?? 20;
      s.reordered++;
    }
    s.forwarded++;
    if (delay < 0.5) {
      send();
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) send();
    }, delay);
    this.timers.add(t);
  }

  // ---- TURN -----------------------------------------------------------------

  private onClientDatagram(data: Buffer, from: [string, number]): void {
    const alloc = this.allocations.get(`${from[0]}:${from[1]}`);
    const first = data[0] ?? 0;
    if (first >= 0x40 && first <= 0x7f) {
      // ChannelData: channel number, length, application data.
      if (!alloc || data.length < 4) return;
      const peer = alloc.peerByChannel.get(data.readUInt16BE(0));
      const length = data.readUInt16BE(2);
      if (!peer || data.length < 4 + length) return;
      const payload = data.subarray(4, 4 + length);
      this.impaired('up', () => this.sendFrom(alloc, payload, peer));
      return;
    }
    const msg = parseMessage(data);
    if (!msg) return;
    if (msg.messageClass === classes.INDICATION) {
      if (msg.messageMethod !== methods.SEND || !alloc) return;
      const peer = msg.getAttributeValue('XOR-PEER-ADDRESS') as [string, number] | undefined;
      const payload = msg.getAttributeValue('DATA') as Buffer | undefined;
      if (!peer || !payload || !this.permitted(alloc, peer[0])) return;
      this.impaired('up', () => this.sendFrom(alloc, payload, peer));
      return;
    }
    if (msg.messageClass !== classes.REQUEST) return;
    if (msg.messageMethod === methods.BINDING) {
      this.reply(msg, from, [['XOR-MAPPED-ADDRESS', from]], false);
      return;
    }
    if (!this.authenticated(msg, data, from)) return;
    switch (msg.messageMethod) {
      case methods.ALLOCATE:
        void this.allocate(msg, from, alloc);
        return;
      case methods.REFRESH: {
        if (!alloc) return this.error(msg, from, 437, 'Allocation Mismatch');
        const wanted = (msg.getAttributeValue('LIFETIME') as number | undefined) ?? LIFETIME_S;
        if (wanted === 0) {
          this.drop(alloc);
          return this.reply(msg, from, [['LIFETIME', 0]]);
        }
        alloc.expires = Date.now() + LIFETIME_S * 1000;
        return this.reply(msg, from, [['LIFETIME', LIFETIME_S]]);
      }
      case methods.CREATE_PERMISSION: {
        if (!alloc) return this.error(msg, from, 437, 'Allocation Mismatch');
        const peer = msg.getAttributeValue('XOR-PEER-ADDRESS') as [string, number] | undefined;
        if (!peer) return this.error(msg, from, 400, 'Bad Request');
        alloc.permissions.set(peer[0], Date.now() + PERMISSION_MS);
        return this.reply(msg, from, []);
      }
      case methods.CHANNEL_BIND: {
        if (!alloc) return this.error(msg, from, 437, 'Allocation Mismatch');
        const channel = msg.getAttributeValue('CHANNEL-NUMBER') as number | undefined;
        const peer = msg.getAttributeValue('XOR-PEER-ADDRESS') as [string, number] | undefined;
        if (channel === undefined || !peer || channel < 0x4000 || channel > 0x7fff) return this.error(msg, from, 400, 'Bad Request');
        const peerKey = `${peer[0]}:${peer[1]}`;
        const bound = alloc.peerByChannel.get(channel);
        const boundChannel = alloc.channelByPeer.get(peerKey);
        if ((bound && `${bound[0]}:${bound[1]}` !== peerKey) || (boundChannel !== undefined && boundChannel !== channel)) {
          return this.error(msg, from, 400, 'Bad Request');
        }
        alloc.peerByChannel.set(channel, peer);
        alloc.channelByPeer.set(peerKey, channel);
        alloc.permissions.set(peer[0], Date.now() + PERMISSION_MS);
        return this.reply(msg, from, []);
      }
      default:
        return this.error(msg, from, 400, 'Bad Request');
    }
  }

  /** Long-term credentials: a request without (valid) MESSAGE-INTEGRITY gets 401 with realm and nonce. */
  private authenticated(msg: Message, data: Buffer, from: [string, number]): boolean {
    const user = msg.getAttributeValue('USERNAME') as string | undefined;
    if (!msg.getAttributeValue('MESSAGE-INTEGRITY') || !user) {
      this.error(msg, from, 401, 'Unauthorized', false);
      return false;
    }
    const nonce = msg.getAttributeValue('NONCE') as Buffer | undefined;
    if (!nonce || !this.nonce.equals(nonce)) {
      this.error(msg, from, 438, 'Stale Nonce', false);
      return false;
    }
    if (user !== this.username || !parseMessage(data, this.key)) {
      this.error(msg, from, 401, 'Unauthorized', false);
      return false;
    }
    return true;
  }

  private async allocate(msg: Message, from: [string, number], existing: Allocation | undefined): Promise<void> {
    if (existing) {
      // A retransmission of the request that made it gets the same success; anything else is a mismatch.
      if (existing.transactionId === msg.transactionIdHex) this.allocated(msg, existing);
      else this.error(msg, from, 437, 'Allocation Mismatch');
      return;
    }
    if (this.opts.refuseClient?.(from[0], from[1])) {
      this.stats.refusedAllocations++;
      this.error(msg, from, 403, 'Forbidden');
      return;
    }
    const socket = dgram.createSocket('udp4');
    socket.on('error', () => {});
    const ok = await new Promise<boolean>((resolve) => {
      socket.once('error', () => resolve(false));
      socket.bind(0, HOST, () => resolve(true));
    });
    if (!ok || this.closed) {
      socket.close();
      if (!this.closed) this.error(msg, from, 508, 'Insufficient Capacity');
      return;
    }
    const key = `${from[0]}:${from[1]}`;
    const alloc: Allocation = {
      key,
      client: from,
      socket,
      relayPort: socket.address().port,
      expires: Date.now() + LIFETIME_S * 1000,
      permissions: new Map(),
      channelByPeer: new Map(),
      peerByChannel: new Map(),
      transactionId: msg.transactionIdHex,
    };
    socket.on('message', (data, rinfo) => this.onPeerDatagram(alloc, data, [rinfo.address, rinfo.port]));
    this.allocations.set(key, alloc);
    this.stats.allocations++;
    this.allocated(msg, alloc);
  }

  private allocated(msg: Message, alloc: Allocation): void {
    this.reply(msg, alloc.client, [
      ['XOR-RELAYED-ADDRESS', [HOST, alloc.relayPort]],
      ['XOR-MAPPED-ADDRESS', alloc.client],
      ['LIFETIME', Math.max(0, Math.round((alloc.expires - Date.now()) / 1000))],
    ]);
  }

  private onPeerDatagram(alloc: Allocation, data: Buffer, from: [string, number]): void {
    if (!this.permitted(alloc, from[0])) return;
    const channel = alloc.channelByPeer.get(`${from[0]}:${from[1]}`);
    let out: Buffer;
    if (channel !== undefined) {
      // ChannelData over UDP needs no padding.
      out = Buffer.alloc(4 + data.length);
      out.writeUInt16BE(channel, 0);
      out.writeUInt16BE(data.length, 2);
      data.copy(out, 4);
    } else {
      out = new Message(methods.DATA, classes.INDICATION).setAttribute('XOR-PEER-ADDRESS', from).setAttribute('DATA', data).bytes;
    }
    this.impaired('down', () => {
      if (this.allocations.get(alloc.key) === alloc) this.socket.send(out, alloc.client[1], alloc.client[0]);
    });
  }

  private permitted(alloc: Allocation, ip: string): boolean {
    return (alloc.permissions.get(ip) ?? 0) > Date.now();
  }

  private sendFrom(alloc: Allocation, payload: Buffer, peer: [string, number]): void {
    if (this.allocations.get(alloc.key) === alloc) alloc.socket.send(payload, peer[1], peer[0]);
  }

  private reply(req: Message, to: [string, number], attributes: [string, unknown][], sign = true): void {
    const res = new Message(req.messageMethod, classes.RESPONSE, req.transactionId);
    for (const [k, v] of attributes) res.setAttribute(k as Parameters<Message['setAttribute']>[0], v);
    this.sendMessage(res, to, sign);
  }

  private error(req: Message, to: [string, number], code: number, reason: string, sign = true): void {
    const res = new Message(req.messageMethod, classes.ERROR, req.transactionId).setAttribute('ERROR-CODE', [code, reason]);
    if (code === 401 || code === 438) res.setAttribute('REALM', REALM).setAttribute('NONCE', this.nonce);
    this.sendMessage(res, to, sign);
  }

  private sendMessage(msg: Message, to: [string, number], sign: boolean): void {
    if (this.closed) return;
    if (sign) msg.addMessageIntegrity(this.key);
    msg.addFingerprint();
    this.socket.send(msg.bytes, to[1], to[0]);
  }

  private drop(alloc: Allocation): void {
    this.allocations.delete(alloc.key);
    alloc.socket.close();
  }

  private sweep(): void {
    const now = Date.now();
    for (const a of this.allocations.values()) if (a.expires < now) this.drop(a);
  }
}
