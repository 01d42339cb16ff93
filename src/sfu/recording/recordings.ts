/**
 * The server's recordings (Recordings): which participant is being recorded, into which file,
 * and when a Recorder starts and is finalized.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Participant } from '../participant.js';
import { Recorder, type RecorderLog, type RecordingStatus } from './recorder.js';

/** Characters safe in a file name (room and participant names are mostly that already). */
const safeName = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_') || '_';

/**
 * The server's recordings, one per participant at a time: started for every participant that
 * publishes a camera when `auto` (--record DIR), or on request (the HTTP API); finalized when
 * stopped, when the participant leaves, or by closeAll() (server shutdown).
 */
export class Recordings {
  private readonly active = new Map<Participant, Recorder>();
  /** Participants whose recording was stopped on request: not restarted automatically. */
  private readonly stoppedOnRequest = new WeakSet<Participant>();
  private readonly finishing = new Set<Promise<RecordingStatus>>();
  private closed = false;

  constructor(
    /** Where files go. */
    readonly dir: string,
    /** Record every participant's camera as soon as it publishes one. */
    private readonly auto: boolean,
    private readonly log?: RecorderLog,
  ) {}

  /** Follow a new participant: its published tracks, its leaving. */
  watch(p: Participant): void {
    p.on('track', (track) => {
      const rec = this.active.get(p);
      if (rec) rec.addTrack(track);
      else if (this.auto && track.kind === 'video' && !this.stoppedOnRequest.has(p)) this.start(p);
    });
    p.once('closed', () => void this.stop(p, false));
  }

  /** The participant's current recording, if any. */
  status(p: Participant): RecordingStatus | undefined {
    return this.active.get(p)?.status;
  }

  /** Start recording the participant (or return the recording already running). */
  start(p: Participant): { status: RecordingStatus; created: boolean } {
    const running = this.active.get(p);
    if (running) return { status: running.status, created: false };
    if (this.closed) throw new Error('the server is shutting down');
    this.stoppedOnRequest.delete(p);
    const rec = new Recorder(this.fileFor(p), this.log);
    this.active.set(p, rec);
    for (const track of p.published.values()) if (track.kind === 'video') rec.addTrack(track);
    for (const track of p.published.values()) if (track.kind === 'audio') rec.addTrack(track);
    return { status: rec.status, created: true };
  }

  /** Stop and finalize the participant's recording; undefined when none was running. */
  async stop(p: Participant, onRequest = true): Promise<RecordingStatus | undefined> {
    const rec = this.active.get(p);
    if (onRequest) this.stoppedOnRequest.add(p);
    if (!rec) return undefined;
    this.active.delete(p);
    const done = rec.stop();
    this.finishing.add(done);
    try {
      return await done;
    } finally {
      this.finishing.delete(done);
    }
  }

  /** Finalize every recording (server shutdown); no new ones start. */
  async closeAll(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.active.keys()].map((p) => this.stop(p, false)));
    await Promise.all([...this.finishing]);
  }

  private fileFor(p: Participant): string {
    const time = new Date().toISOString().replace(/:/g, '-');
    const base = `${safeName(p.room ?? 'no-room')}-${safeName(p.name)}-${time}`;
    let file = path.join(this.dir, `${base}.webm`);
    for (let i = 2; existsSync(file) || [...this.active.values()].some((r) => r.file === file); i++) file = path.join(this.dir, `${base}-${i}.webm`);
    return file;
  }
}
