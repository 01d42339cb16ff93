/**
 * Reading recorded WebM files back with Debian's ffprobe/ffmpeg (scripts/ensure-ffmpeg.mjs
 * installs them): container duration, codecs, frames counted by the demuxer, and a full decode.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

export interface Probe {
  /** The video stream's codec ("vp8"). */
  codec: string;
  /** Video packets (frames) the demuxer read. */
  packets: number;
  /** The container's duration (s): NaN when the file was never finalized. */
  durationS: number;
  width: number;
  height: number;
  /** Codec of the audio stream, if there is one. */
  audioCodec: string | null;
  audioPackets: number;
}

/** ffprobe -count_packets: what the demuxer sees (no decoding: works for undecodable payloads too). */
export function probe(file: string): Probe {
  const r = spawnSync(
    'ffprobe',
    ['-v', 'error', '-count_packets', '-show_entries', 'stream=codec_type,codec_name,nb_read_packets,width,height:format=duration', '-of', 'json', file],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(r.status, 0, `ffprobe ${file}: ${r.stderr || r.error?.message}`);
  type Stream = { codec_type: string; codec_name: string; nb_read_packets: string; width?: number; height?: number };
  const out = JSON.parse(r.stdout) as { streams: Stream[]; format: { duration?: string } };
  const video = out.streams.find((s) => s.codec_type === 'video');
  assert.ok(video, `a video stream in ${file}: ${r.stdout}`);
  const audio = out.streams.find((s) => s.codec_type === 'audio');
  return {
    codec: video.codec_name,
    packets: Number(video.nb_read_packets),
    durationS: Number(out.format.duration ?? NaN),
    width: video.width ?? 0,
    height: video.height ?? 0,
    audioCodec: audio?.codec_name ?? null,
    audioPackets: Number(audio?.nb_read_packets ?? 0),
  };
}

/** Has ffprobe found a duration yet (the file is finalized)? Never throws. */
export function hasDuration(file: string): boolean {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file], { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 && Number.isFinite(Number.parseFloat(r.stdout.trim()));
}

/** Duration within ±20% of the publish time, frames within ±20% of `fps` × duration, VP8. */
export function assertRecording(p: Probe, publishedS: number, what: string, fps = 30): void {
  assert.equal(p.codec, 'vp8', `${what}: codec`);
  assert.ok(Number.isFinite(p.durationS), `${what}: the file has a duration (finalized): ${JSON.stringify(p)}`);
  assert.ok(Math.abs(p.durationS - publishedS) <= 0.2 * publishedS, `${what}: duration ${p.durationS.toFixed(2)} s vs ${publishedS.toFixed(2)} s published`);
  const expected = fps * p.durationS;
  assert.ok(Math.abs(p.packets - expected) <= 0.2 * expected, `${what}: ${p.packets} frames vs ${expected.toFixed(0)} expected (${fps} fps × ${p.durationS.toFixed(2)} s)`);
}

/**
 * Decode every stream with ffmpeg (`-xerror`: the first decoding error fails it) and count the
 * decoded video frames; stderr is returned for the failure message.
 *
 * A camera's frame times are irregular (a loaded machine captures frames 1-70 ms apart), and
 * ffmpeg's null output would put them on a 1/fps grid it guesses from the first frames, where
 * two close frames collide ("non monotonically increasing dts to muxer"): the frames keep the
 * file's own millisecond time base instead (`-vsync passthrough -enc_time_base:v -1`).
 */
export function decode(file: string): { ok: boolean; frames: number; stderr: string } {
  const r = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-xerror', '-i', file, '-map', '0', '-vsync', 'passthrough', '-enc_time_base:v', '-1', '-f', 'null', '-'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  const count = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { ok: r.status === 0 && r.stderr.trim() === '' && count.status === 0, frames: Number.parseInt(count.stdout.trim(), 10), stderr: `${r.stderr}${count.stderr}`.trim() };
}

/** The video keyframes' times (s), from the container's block flags. */
export function keyframeTimes(file: string): number[] {
  const r = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,flags', '-of', 'csv=p=0', file], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, `ffprobe ${file}: ${r.stderr}`);
  return r.stdout
    .trim()
    .split('\n')
    .map((line) => line.split(','))
    .filter(([, flags]) => flags?.startsWith('K'))
    .map(([t]) => Number(t));
}

/** Every video packet's time (s) in file order. */
export function frameTimes(file: string): number[] {
  const r = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `ffprobe ${file}: ${r.stderr}`);
  return r.stdout.trim().split('\n').map(Number);
}
