/** SDP for error-path tests: syntactically complete offers that never connect. */

/** Session part (fingerprint, ICE credentials) followed by `media` (one or more m-sections). */
export function fakeOffer(media: string): string {
  return [
    'v=0',
    'o=- 1 1 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=fingerprint:sha-256 ' + Array.from({ length: 32 }, () => 'AB').join(':'),
    'a=ice-ufrag:abcd',
    'a=ice-pwd:abcdefghijklmnopqrstuvwx',
    'a=setup:actpass',
    media,
    '',
  ].join('\r\n');
}

/** One VP8 video m-line in the given direction (`sendonly` to publish, `recvonly` to watch). */
export function fakeVideoOffer(direction: 'sendonly' | 'recvonly' | 'sendrecv' | 'inactive'): string {
  return fakeOffer(['m=video 9 UDP/TLS/RTP/SAVPF 96', 'c=IN IP4 0.0.0.0', 'a=mid:0', `a=${direction}`, 'a=rtcp-mux', 'a=rtpmap:96 VP8/90000', 'a=ssrc:1 cname:x'].join('\r\n'));
}
