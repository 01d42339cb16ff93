/**
 * The room page's grid of remote videos: one tile per publisher, keyed by the
 * remote track's stream id (the SFU makes that the publisher's name; your own
 * echo comes back under your own name).
 *
 * A tile goes away when its participant leaves, or when its track ends, leaves
 * its stream (the SFU made the m-line inactive) or mutes after having played.
 * A track that unmutes again brings its tile back. A video the SFU paused for
 * bandwidth (`track-paused`) keeps its tile, marked paused, until it resumes.
 */
import { watchFrames } from '../../stats/frames.js';

export interface TileInfo {
  name: string;
  /** The tile is on screen. */
  tile: boolean;
  /** Frames the tile's <video> presented (requestVideoFrameCallback). */
  framesDecoded: number;
  /** When the tile showed its first frame (performance.now() ms), or null. */
  firstFrameAt: number | null;
  /** When the tile's track arrived (performance.now() ms). */
  trackAt: number;
  /** Decoded frames per second of the tile's track (getStats inbound-rtp), or null before two samples. */
  decodedFps: number | null;
  /** The remote video track's id. */
  trackId: string;
  /** The SFU paused this video for bandwidth (track-paused), not resumed yet. */
  paused: boolean;
  /** The user hid this video ("Hide video"): the SFU is asked for nothing. */
  hidden: boolean;
}

export interface GridEvents {
  /** Tiles appeared or went away. */
  changed?(): void;
  /** A tile's video element was resized (device pixels). */
  resized?(name: string, width: number, height: number): void;
}

class Tile {
  readonly el: HTMLElement;
  readonly video: HTMLVideoElement;
  readonly label: HTMLElement;
  readonly fpsEl: HTMLElement;
  readonly pausedEl: HTMLElement;
  /** "Hide video" / "Show video": a hidden tile asks the SFU for nothing (its publisher may stop encoding it). */
  readonly hideButton: HTMLButtonElement;
  /** The user hid this video (the tile and its caption stay). */
  hiddenByUser = false;
  private lastSize: { w: number; h: number } | null = null;
  track: MediaStreamTrack | null = null;
  /** Paused by the SFU for bandwidth: shown (last frame, marked) even while its track is muted. */
  paused = false;
  receiver: RTCRtpReceiver | null = null;
  audio: HTMLAudioElement | null = null;
  frames = 0;
  firstFrameAt: number | null = null;
  trackAt = 0;
  decodedFps: number | null = null;
  lastDecoded: { at: number; frames: number } | null = null;
  /** The track has played at least once (tracks start muted until their first packet). */
  everUnmuted = false;
  shown = false;
  /** Removes the listeners of the current track. */
  private listeners: AbortController | null = null;
  private stopFrames: (() => void) | null = null;
  private resizeObserver: ResizeObserver | null = null;

  constructor(
    readonly name: string,
    caption: string,
    resized: (w: number, h: number) => void,
  ) {
    this.el = document.createElement('figure');
    this.el.className = 'tile';
    this.el.dataset.name = name;
    this.video = document.createElement('video');
    this.video.autoplay = true;
    this.video.muted = true;
    this.video.playsInline = true;
    const cap = document.createElement('figcaption');
    this.label = document.createElement('span');
    this.label.className = 'tile-name';
    this.label.textContent = caption;
    this.fpsEl = document.createElement('span');
    this.fpsEl.className = 'tile-fps';
    this.fpsEl.textContent = '–';
    this.pausedEl = document.createElement('span');
    this.pausedEl.className = 'tile-paused';
    this.pausedEl.hidden = true;
    this.pausedEl.textContent = 'paused: not enough bandwidth';
    this.hideButton = document.createElement('button');
    this.hideButton.type = 'button';
    this.hideButton.className = 'tile-hide';
    this.hideButton.textContent = 'Hide video';
    this.hideButton.setAttribute('aria-pressed', 'false');
    this.hideButton.addEventListener('click', () => {
      this.hiddenByUser = !this.hiddenByUser;
      this.el.classList.toggle('hidden-by-user', this.hiddenByUser);
      this.hideButton.textContent = this.hiddenByUser ? 'Show video' : 'Hide video';
      this.hideButton.setAttribute('aria-pressed', String(this.hiddenByUser));
      // 0 x 0: not shown, the SFU forwards nothing; showing it again reports its size.
      if (this.hiddenByUser) resized(0, 0);
      else if (this.lastSize) resized(this.lastSize.w, this.lastSize.h);
    });
    cap.append(this.label, this.fpsEl, this.pausedEl, this.hideButton);
    this.el.append(this.video, cap);
    if (typeof ResizeObserver === 'function') {
      this.resizeObserver = new ResizeObserver((entries) => {
        const e = entries[entries.length - 1];
        const box = e?.devicePixelContentBoxSize?.[0];
        const w = box ? box.inlineSize : Math.round((e?.contentRect.width ?? 0) * devicePixelRatio);
        const h = box ? box.blockSize : Math.round((e?.contentRect.height ?? 0) * devicePixelRatio);
        if (w > 0 && h > 0) {
          this.lastSize = { w, h };
          if (!this.hiddenByUser) resized(w, h);
        }
      });
      this.resizeObserver.observe(this.video);
    }
  }

  /** Plays `track`; the listeners get an AbortSignal that ends when the track is replaced or the tile disposed. */
  attach(track: MediaStreamTrack, receiver: RTCRtpReceiver | null, listen: (signal: AbortSignal) => void): void {
    this.detachTrack();
    this.track = track;
    this.receiver = receiver;
    this.trackAt = performance.now();
    this.everUnmuted = !track.muted;
    this.frames = 0;
    this.firstFrameAt = null;
    this.decodedFps = null;
    this.lastDecoded = null;
    this.fpsEl.textContent = '–';
    this.listeners = new AbortController();
    listen(this.listeners.signal);
    this.video.srcObject = new MediaStream([track]);
    this.video.play().catch(() => {});
    this.stopFrames = watchFrames(this.video, (n) => {
      if (this.firstFrameAt === null) this.firstFrameAt = performance.now();
      this.frames += n;
    });
  }

  private detachTrack(): void {
    this.listeners?.abort();
    this.listeners = null;
    this.stopFrames?.();
    this.stopFrames = null;
    this.track = null;
    this.receiver = null;
    this.video.srcObject = null;
  }

  dispose(): void {
    this.detachTrack();
    this.resizeObserver?.disconnect();
    this.audio?.pause();
    if (this.audio) this.audio.srcObject = null;
    this.el.remove();
    this.shown = false;
  }

  info(): TileInfo {
    return {
      name: this.name,
      tile: this.shown,
      framesDecoded: this.frames,
      firstFrameAt: this.firstFrameAt,
      trackAt: this.trackAt,
      decodedFps: this.decodedFps,
      trackId: this.track?.id ?? '',
      paused: this.paused,
      hidden: this.hiddenByUser,
    };
  }
}

export class RoomGrid {
  private readonly tiles = new Map<string, Tile>();
  /** Audio tracks by stream id, kept until their tile exists. */
  private readonly audioFor = new Map<string, MediaStreamTrack>();
  /** Your own name (your echo comes back under it). */
  selfName = '';

  constructor(
    private readonly container: HTMLElement,
    private readonly events: GridEvents = {},
  ) {}

  /** A remote track arrived on `stream` (its id is the publisher's name). */
  addTrack(stream: MediaStream, track: MediaStreamTrack, receiver: RTCRtpReceiver | null): void {
    const name = stream.id;
    if (track.kind === 'audio') {
      this.audioFor.set(name, track);
      this.attachAudio(name);
      return;
    }
    if (track.kind !== 'video') return;
    // A receiver's track can come back on another stream (a reused m-line): it leaves its old tile.
    for (const t of this.tiles.values()) if (t.track === track && t.name !== name) this.remove(t.name);
    let tile = this.tiles.get(name);
    if (tile?.track === track) return;
    if (!tile) {
      const caption = name === this.selfName ? `${name} (your echo)` : name;
      const t = new Tile(name, caption, (w, h) => this.events.resized?.(name, w, h));
      // Your echo keeps the id it has on the echo page: scripts find it by that.
      if (name === this.selfName) t.video.id = 'echo';
      tile = t;
      this.tiles.set(name, t);
    }
    const t = tile;
    t.attach(track, receiver, (signal) => {
      track.addEventListener('ended', () => this.remove(name), { signal });
      track.addEventListener(
        'mute',
        () => {
          if (t.everUnmuted && !t.paused && !t.hiddenByUser) this.setShown(t, false);
        },
        { signal },
      );
      track.addEventListener(
        'unmute',
        () => {
          t.everUnmuted = true;
          this.setShown(t, true);
        },
        { signal },
      );
      stream.addEventListener(
        'removetrack',
        (ev) => {
          if (ev.track === track) this.remove(name);
          else if (ev.track === this.audioFor.get(name)) this.dropAudio(name);
        },
        { signal },
      );
    });
    this.attachAudio(name);
    this.setShown(t, track.readyState === 'live' && !(t.everUnmuted && track.muted));
  }

  /** Drops `name`'s tile (participant left, track gone). */
  remove(name: string): void {
    const tile = this.tiles.get(name);
    this.audioFor.delete(name);
    if (!tile) return;
    this.tiles.delete(name);
    tile.dispose();
    this.events.changed?.();
  }

  /** The SFU paused `name`'s video for bandwidth (true) or resumed it. */
  setPaused(name: string, paused: boolean): void {
    const tile = this.tiles.get(name);
    if (!tile || tile.paused === paused) return;
    tile.paused = paused;
    tile.el.classList.toggle('paused', paused);
    tile.pausedEl.hidden = !paused;
    if (paused) this.setShown(tile, true);
    else if (tile.track?.muted && tile.everUnmuted) this.setShown(tile, false);
    this.events.changed?.();
  }

  has(name: string): boolean {
    return this.tiles.get(name)?.shown ?? false;
  }

  /** Every tile (shown or not). */
  list(): TileInfo[] {
    return [...this.tiles.values()].map((t) => t.info());
  }

  info(name: string): TileInfo | undefined {
    return this.tiles.get(name)?.info();
  }

  get size(): number {
    let n = 0;
    for (const t of this.tiles.values()) if (t.shown) n++;
    return n;
  }

  /** Samples each tile's decoded frame count (getStats) and shows its fps. */
  async sampleFps(): Promise<void> {
    await Promise.all(
      [...this.tiles.values()].map(async (t) => {
        const receiver = t.receiver;
        if (!receiver) return;
        let frames: number | null = null;
        try {
          (await receiver.getStats()).forEach((r: { type: string; kind?: string; framesDecoded?: number }) => {
            if (r.type === 'inbound-rtp' && r.kind === 'video' && typeof r.framesDecoded === 'number') frames = r.framesDecoded;
          });
        } catch {
          return;
        }
        if (frames === null || t.receiver !== receiver) return;
        const at = performance.now();
        const prev = t.lastDecoded;
        if (prev && at > prev.at && frames >= prev.frames) {
          t.decodedFps = Math.round(((frames - prev.frames) / ((at - prev.at) / 1000)) * 10) / 10;
          t.fpsEl.textContent = `${t.decodedFps} fps`;
        }
        t.lastDecoded = { at, frames };
      }),
    );
  }

  private setShown(tile: Tile, shown: boolean): void {
    if (tile.shown === shown) return;
    tile.shown = shown;
    if (shown) this.container.append(tile.el);
    else tile.el.remove();
    if (shown) tile.video.play().catch(() => {});
    this.events.changed?.();
  }

  private attachAudio(name: string): void {
    const track = this.audioFor.get(name);
    const tile = this.tiles.get(name);
    if (!track || !tile || name === this.selfName) return;
    tile.audio ??= document.createElement('audio');
    tile.audio.autoplay = true;
    if ((tile.audio.srcObject as MediaStream | null)?.getTracks()[0] !== track) {
      tile.audio.srcObject = new MediaStream([track]);
      tile.el.append(tile.audio);
      // Browsers may refuse sound before the user interacts with the page: the page offers a button.
      tile.audio.play().catch(() => this.events.changed?.());
    }
  }

  private dropAudio(name: string): void {
    this.audioFor.delete(name);
    const tile = this.tiles.get(name);
    if (tile?.audio) {
      tile.audio.pause();
      tile.audio.srcObject = null;
    }
  }

  /** Audio elements that are not playing (blocked by the autoplay policy). */
  blockedAudio(): HTMLAudioElement[] {
    return [...this.tiles.values()].flatMap((t) => (t.audio && t.audio.srcObject && t.audio.paused ? [t.audio] : []));
  }
}
