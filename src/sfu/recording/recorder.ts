/**
 * Recording a participant's published camera track (and its microphone) to WebM (VP8/Opus).
 *
 * A Recorder is one more PacketSink on the publisher's InboundTracks, beside the Forwarders:
 *   InboundTrack.write(packet) -> a StreamPipe per stream (stream-pipe.ts: jitter buffer,
 *   depacketizer, time line) -> mediabunny's WebM muxer (interleaving, clusters, Cues, SeekHead, Duration) -> the file.
 *
 * Why both libraries: werift's own WebmCallback writes clusters of unknown size inside a sized
 * Segment (ffprobe warns), an empty SeekHead and Cues nothing points to, and counts the last
 * frame's start as the duration; mediabunny (a maintained pure-TS muxer, works on Node 20)
 * writes a clean seekable file and its duration when finalized. werift's jitter buffer and
 * depacketizer are fine and already in the dependency tree.
 *
 * Timing: each stream's frame times are its RTP timestamps (unwrapped), anchored at the wall
 * clock when its first packet arrived, so audio and video line up without RTCP sender reports.
 * Recording starts at a keyframe (the recorder asks the publisher for one). With simulcast it
 * records one layer: the tallest one sending; it moves up when a taller layer's keyframe comes,
 * and to another layer when the recorded one stops. After a lost packet it drops video until the
 * next keyframe (asked for) so that the file stays decodable.
 */
import { EncodedAudioPacketSource, EncodedPacket, EncodedVideoPacketSource, FilePathTarget, Output, WebMOutputFormat } from 'mediabunny';
import type { RtpPacket } from 'werift';
import { OpusRtpPayload } from 'werift/nonstandard';
import type { InboundTrack, PacketSink } from '../publications/inbound-track.js';
import { layerRank } from '../subscriptions/layer-selector.js';
import { StreamPipe } from './stream-pipe.js';

export interface RecordingStatus {
  /** The WebM file (absent until the first keyframe, and when nothing was recorded). */
  file: string;
  /** `waiting` for a keyframe, `recording`, `finalizing`, `done`, `empty` (stopped before any keyframe), `failed`. */
  state: 'waiting' | 'recording' | 'finalizing' | 'done' | 'empty' | 'failed';
  startedAt: string;
  /** Media bytes (VP8 frames + Opus packets) written to the file so far. */
  bytes: number;
  /** Video frames written. */
  frames: number;
  audioFrames: number;
  /** Media time written so far (ms). */
  durationMs: number;
  /** The simulcast layer (rid) being recorded, null without simulcast. */
  layer: string | null;
  error?: string;
}

export interface RecorderLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** With simulcast, wait this long after the first keyframe for the taller layers' keyframes. */
const LAYER_WAIT_MS = 1000;
/** Frames queued for the muxer beyond this are dropped (a disk that cannot keep up), until a keyframe. */
const MAX_PENDING = 300;
/** Audio silent this long while video flows: its track is closed so that video need not wait for it. */
const AUDIO_GIVE_UP_MS = 3000;
/**
 * A microphone often comes a renegotiation after the camera (the room page adds it later): the
 * file (whose tracks are fixed when it is opened) waits this long for one, holding the video.
 */
const AUDIO_WAIT_MS = 2000;
/**
 * The bandwidth a recording "has" (bps), counted among the publisher's subscribers' estimates:
 * the SFU's REMB to the publisher is the largest of them, so a recording never caps what the
 * publisher may send (a lone publisher would otherwise get no REMB at all).
 */
const RECORDER_ESTIMATE_BPS = 2_500_000;

/**
 * Records one published camera track (all its simulcast layers offered, one recorded) and
 * optionally one audio track into `file`. Attach tracks with addTrack(); stop() finalizes.
 */
export class Recorder implements PacketSink {
  readonly estimateBps = RECORDER_ESTIMATE_BPS;
  private readonly layers = new Set<InboundTrack>();
  private group: string | undefined;
  private audio: InboundTrack | undefined;
  private video: StreamPipe | undefined;
  private audioPipe: StreamPipe | undefined;
  private output: Output | undefined;
  /** When the recording began (first keyframe) and the file is not open yet: open it by this time. */
  private openBy = 0;
  private open: (() => void) | undefined;
  private videoSource: EncodedVideoPacketSource | undefined;
  private audioSource: EncodedAudioPacketSource | undefined;
  private t0 = 0;
  private firstKeyframeAt = 0;
  private needKeyframe = false;
  private accepting = true;
  private queue: Promise<void> = Promise.resolve();
  private pending = 0;
  private lastVideoS = -1;
  private lastAudioS = -1;
  private videoStepS = 1 / 30;
  private lastAudioAt = 0;
  private lastVideoAt = 0;
  private videoGap = false;
  private videoConfigured = false;
  private audioConfigured = false;
  private audioClosed = false;
  private finished: Promise<RecordingStatus> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly info: RecordingStatus;

  constructor(
    readonly file: string,
    private readonly log?: RecorderLog,
  ) {
    this.info = { file, state: 'waiting', startedAt: new Date().toISOString(), bytes: 0, frames: 0, audioFrames: 0, durationMs: 0, layer: null };
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  get status(): RecordingStatus {
    return { ...this.info };
  }

  get isStopped(): boolean {
    return this.finished !== undefined;
  }

  /** Offer a published track: the first video track's layers, and one audio track until recording starts. */
  addTrack(track: InboundTrack): void {
    if (!this.accepting || track.isClosed) return;
    if (track.kind === 'video') {
      if (!track.mimeType.toLowerCase().endsWith('/vp8')) return;
      this.group ??= track.group;
      if (track.group !== this.group || this.layers.has(track)) return;
      this.layers.add(track);
      track.addSink(this);
      track.requestKeyframe(false);
    } else if (!this.audio && !this.output && track.mimeType.toLowerCase().endsWith('/opus')) {
      this.audio = track;
      track.addSink(this);
      this.open?.(); // the file was waiting for a microphone
    }
  }

  write(packet: RtpPacket, keyframe: boolean, from: InboundTrack): void {
    if (!this.accepting) return;
    if (from.kind === 'audio') {
      if (from === this.audio && this.audioPipe) this.audioPipe.input(packet);
      else if (from === this.audio && this.output && this.audioSource) this.startAudio(from, packet);
      return;
    }
    if (!this.layers.has(from)) return;
    if (this.open && performance.now() >= this.openBy) this.open();
    if (keyframe && from !== this.video?.source && this.shouldRecord(from)) this.switchTo(from);
    if (this.video?.source === from) this.video.input(packet);
  }

  /** Stop, detach and finalize the file (idempotent). Resolves with the final status. */
  stop(): Promise<RecordingStatus> {
    this.finished ??= this.finish();
    return this.finished;
  }

  /** Dynacast: a recording wants the tallest layer sent. */
  wants(layers: readonly InboundTrack[]): readonly InboundTrack[] {
    if (!this.accepting) return [];
    let best: InboundTrack | undefined;
    for (const l of layers) if (!l.isClosed && (!best || layerRank(l) > layerRank(best))) best = l;
    return best ? [best] : [];
  }

  /** Should the recording (re)start on this layer's keyframe? */
  private shouldRecord(layer: InboundTrack): boolean {
    const now = performance.now();
    if (this.firstKeyframeAt === 0) this.firstKeyframeAt = now;
    const current = this.video?.source;
    if (!current) {
      const sending = [...this.layers].filter((l) => l === layer || l.isActive);
      const tallest = Math.max(...sending.map((l) => l.height));
      if (layer.height < tallest) return false;
      // Heights are learned from keyframes: give the other layers a moment to show theirs.
      if (sending.some((l) => l.height === 0) && now - this.firstKeyframeAt < LAYER_WAIT_MS) return false;
      return true;
    }
    if (current.isClosed || !current.isActive) return true;
    return layer.height > current.height;
  }

  private switchTo(layer: InboundTrack): void {
    if (this.t0 === 0) this.begin(layer);
    const from = this.video?.source.rid;
    this.video = new StreamPipe(
      layer,
      this.elapsedS(),
      (data, key, t) => this.addVideo(data, key, t),
      () => this.lost(),
    );
    this.needKeyframe = true;
    this.info.layer = layer.rid ?? null;
    if (from !== undefined) this.log?.info({ file: this.file, from, to: layer.rid }, 'recording moved to another simulcast layer');
  }

  private elapsedS(): number {
    return (performance.now() - this.t0) / 1000;
  }

  /** The recording begins (its time line starts) at this layer's keyframe; the file opens now or a little later. */
  private begin(layer: InboundTrack): void {
    this.t0 = performance.now();
    this.info.state = 'recording';
    this.info.startedAt = new Date().toISOString();
    this.log?.info({ file: this.file, layer: layer.rid ?? null, width: layer.width, height: layer.height }, 'recording started');
    const opened = new Promise<void>((resolve) => {
      this.open = () => {
        this.open = undefined;
        this.openFile();
        resolve();
      };
    });
    this.openBy = this.t0 + (this.audio ? 0 : AUDIO_WAIT_MS);
    if (this.audio) this.open!();
    // Frames queue up behind the opening.
    this.enqueue(async () => {
      await opened;
      await this.output!.start();
    });
  }

  private openFile(): void {
    this.output = new Output({ format: new WebMOutputFormat(), target: new FilePathTarget(this.file) });
    this.videoSource = new EncodedVideoPacketSource('vp8');
    this.output.addVideoTrack(this.videoSource);
    if (this.audio && !this.audio.isClosed) {
      this.audioSource = new EncodedAudioPacketSource('opus');
      this.output.addAudioTrack(this.audioSource);
      this.lastAudioAt = performance.now();
    }
    this.log?.info({ file: this.file, audio: !!this.audioSource }, 'recording file opened');
  }

  private startAudio(track: InboundTrack, first: RtpPacket): void {
    this.audioPipe = new StreamPipe(
      track,
      this.elapsedS(),
      (data, _key, t) => this.addAudio(data, t),
      () => undefined,
    );
    this.audioPipe.input(first);
  }

  private lost(): void {
    this.needKeyframe = true;
    this.video?.source.requestKeyframe(false);
  }

  private addVideo(data: Buffer, keyframe: boolean, timeS: number): void {
    const layer = this.video?.source;
    if (!layer) return;
    if (this.needKeyframe && !keyframe) return;
    if (this.pending > MAX_PENDING) {
      this.needKeyframe = true;
      return;
    }
    this.needKeyframe = false;
    this.lastVideoAt = performance.now();
    this.videoGap = false;
    // Times only go forward (a layer switch re-anchors the time line).
    const t = Math.max(timeS, this.lastVideoS + 0.001, 0);
    if (this.lastVideoS >= 0) this.videoStepS = Math.min(0.5, Math.max(0.001, t - this.lastVideoS));
    this.lastVideoS = t;
    const meta = this.videoConfigured ? undefined : { decoderConfig: { codec: 'vp8', codedWidth: layer.width || 640, codedHeight: layer.height || 480 } };
    this.videoConfigured = true;
    const packet = new EncodedPacket(data, keyframe ? 'key' : 'delta', t, this.videoStepS);
    this.info.frames++;
    this.info.bytes += data.length;
    this.info.durationMs = Math.max(this.info.durationMs, Math.round((t + this.videoStepS) * 1000));
    this.enqueue(() => this.videoSource!.add(packet, meta));
  }

  private addAudio(data: Buffer, timeS: number): void {
    const source = this.audioSource;
    if (!source || this.audioClosed || timeS < 0 || this.pending > MAX_PENDING) return;
    // The muxer holds audio until video of the same time comes: while the camera sends nothing
    // (paused), audio is left out rather than piling up in memory.
    if (performance.now() - this.lastVideoAt > AUDIO_GIVE_UP_MS) {
      if (!this.videoGap) this.log?.warn({ file: this.file }, 'recording: no video for 3 s, audio left out until it comes back');
      this.videoGap = true;
      return;
    }
    const t = Math.max(timeS, this.lastAudioS + 0.001);
    this.lastAudioS = t;
    this.lastAudioAt = performance.now();
    const meta = this.audioConfigured ? undefined : { decoderConfig: { codec: 'opus', numberOfChannels: 2, sampleRate: 48000, description: OpusRtpPayload.createCodecPrivate() } };
    this.audioConfigured = true;
    const packet = new EncodedPacket(data, 'key', t, 0.02);
    this.info.audioFrames++;
    this.info.bytes += data.length;
    this.enqueue(() => source.add(packet, meta));
  }

  private enqueue(step: () => Promise<void>): void {
    this.pending++;
    this.queue = this.queue.then(step).then(
      () => {
        this.pending--;
      },
      (err: unknown) => {
        this.pending--;
        this.fail(err);
      },
    );
  }

  private tick(): void {
    if (!this.accepting) return;
    const layers = [...this.layers].filter((l) => !l.isClosed);
    if (this.open && performance.now() >= this.openBy) this.open();
    if (this.layers.size > 0 && layers.length === 0) {
      // Every layer ended (the publisher left or the track closed): finalize.
      void this.stop();
      return;
    }
    if (!this.video || this.needKeyframe || !this.video.source.isActive) {
      for (const l of layers) if (l.isActive || !this.video) l.requestKeyframe(false);
    }
    // Video frames wait in the muxer for audio ones (interleaving): a microphone that went
    // silent (no packets at all) must not hold the video back forever.
    const audio = this.audioSource;
    if (audio && !this.audioClosed && this.info.frames > 0 && performance.now() - this.lastAudioAt > AUDIO_GIVE_UP_MS) {
      this.audioClosed = true;
      this.log?.warn({ file: this.file }, 'recording: no audio for 3 s, the rest is video only');
      this.enqueue(async () => audio.close());
    }
  }

  private fail(err: unknown): void {
    if (this.info.state === 'failed') return;
    this.info.state = 'failed';
    this.info.error = err instanceof Error ? err.message : String(err);
    this.log?.warn({ file: this.file, err: this.info.error }, 'recording failed');
    this.detach();
    void this.output?.cancel().catch(() => undefined);
  }

  private detach(): void {
    this.accepting = false;
    clearInterval(this.timer);
    for (const l of this.layers) l.removeSink(this);
    this.audio?.removeSink(this);
  }

  private async finish(): Promise<RecordingStatus> {
    if (this.info.state === 'failed') return this.status;
    this.detach();
    // What the jitter buffers still hold goes into the file too.
    this.video?.flush();
    this.audioPipe?.flush();
    this.open?.();
    const output = this.output;
    if (!output) {
      this.info.state = 'empty';
      return this.status;
    }
    this.info.state = 'finalizing';
    await this.queue;
    if (this.info.state !== 'finalizing') return this.status; // failed meanwhile
    try {
      await output.finalize();
      this.info.state = 'done';
      this.log?.info({ file: this.file, frames: this.info.frames, durationMs: this.info.durationMs, bytes: this.info.bytes }, 'recording finalized');
    } catch (err) {
      this.fail(err);
    }
    return this.status;
  }
}
