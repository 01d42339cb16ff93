/**
 * Counts the frames a `<video>` presents (requestVideoFrameCallback), calling
 * `onFrames(newFrames, metadata)` for each callback. Returns a stop function.
 * The echo page's echo fps and the room page's per-tile frame counts.
 */
export function watchFrames(video: HTMLVideoElement, onFrames: (n: number, md: VideoFrameCallbackMetadata) => void): () => void {
  if (typeof video.requestVideoFrameCallback !== 'function') return () => {};
  let last = -1;
  let handle = 0;
  let stopped = false;
  const onFrame = (_now: number, md: VideoFrameCallbackMetadata) => {
    if (stopped) return;
    const n = last >= 0 ? Math.max(0, md.presentedFrames - last) : 1;
    last = md.presentedFrames;
    handle = video.requestVideoFrameCallback(onFrame);
    onFrames(n, md);
  };
  handle = video.requestVideoFrameCallback(onFrame);
  return () => {
    stopped = true;
    video.cancelVideoFrameCallback?.(handle);
  };
}
