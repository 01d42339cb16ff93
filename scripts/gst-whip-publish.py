#!/usr/bin/python3
"""A small WHIP client (RFC 9725) on GStreamer's webrtcbin, for interop tests.

    /usr/bin/python3 scripts/gst-whip-publish.py URL [--token JWT] [--seconds N]

Publishes `videotestsrc is-live=true pattern=ball ! videoconvert ! vp8enc deadline=1
! rtpvp8pay ! webrtcbin` (VP8, payload type 96, one sendonly transceiver): creates an
offer, waits until ICE gathering is complete (no trickle), POSTs the offer to URL
(Content-Type: application/sdp, Authorization: Bearer JWT with --token), applies the
201 answer, publishes for N seconds (or, with --stop-on-stdin, until stdin closes),
then DELETEs the session (the Location header) and exits 0. Any failure (HTTP error, ICE/DTLS failure, pipeline error, a step that
takes too long) exits 1 with one line saying what went wrong; SIGINT/SIGTERM delete
the session and exit 130/143.

ICE: by default webrtcbin's libnice agent gathers on 127.0.0.1 only (libnice skips
loopback when it picks addresses itself), with no STUN/TURN, no UPnP and no TCP
candidates: nothing leaves the machine. --ice-address picks another address.

One line per step and per state change goes to stderr. Needs the system python3 with
PyGObject and GStreamer >= 1.22 (plugins base/good/bad, gstreamer1.0-nice); see
scripts/ensure-gstreamer.mjs. HTTP is urllib.request, proxies ignored.
"""
import argparse
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import gi

gi.require_version('Gst', '1.0')
gi.require_version('GstWebRTC', '1.0')
gi.require_version('GstSdp', '1.0')
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

PIPELINE = (
    'videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},framerate={fps}/1 '
    '! videoconvert ! vp8enc deadline=1 ! rtpvp8pay pt=96 ! {rtp_caps} ! webrtcbin name=webrtc bundle-policy=max-bundle'
)
# rtcp-fb-* fields make webrtcbin offer `a=rtcp-fb:96 nack`, `nack pli` and `ccm fir`,
# so the SFU can ask for keyframes (webrtcbin turns PLI/FIR into force-key-unit upstream).
RTP_CAPS = (
    'application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000,'
    'rtcp-fb-nack=true,rtcp-fb-nack-pli=true,rtcp-fb-ccm-fir=true'
)
HTTP_TIMEOUT_S = 15
GATHER_TIMEOUT_S = 10


def log(msg):
    print(f'gst-whip-publish: {msg}', file=sys.stderr, flush=True)


class Failure(Exception):
    pass


class Publisher:
    def __init__(self, args):
        self.args = args
        self.loop = GLib.MainLoop()
        self.exit_code = None
        self.session_url = None
        self.offered = False
        self.posted = False
        self.connected = False
        self.started = time.monotonic()
        # No proxies: the endpoint is local and nothing else may be reached.
        self.http = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        self.pipe = Gst.parse_launch(PIPELINE.format(width=args.width, height=args.height, fps=args.fps, rtp_caps=RTP_CAPS))
        self.webrtc = self.pipe.get_by_name('webrtc')
        self.configure_ice()

        pad = self.webrtc.get_static_pad('sink_0')
        if pad is None:
            raise Failure('webrtcbin has no sink_0 pad: the payloader did not link')
        transceiver = pad.get_property('transceiver')
        transceiver.set_property('direction', GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)

        self.webrtc.connect('on-negotiation-needed', self.on_negotiation_needed)
        for prop in ('ice-gathering-state', 'ice-connection-state', 'connection-state', 'signaling-state'):
            self.webrtc.connect(f'notify::{prop}', self.on_state)
        bus = self.pipe.get_bus()
        bus.add_signal_watch()
        bus.connect('message::error', self.on_bus_error)
        bus.connect('message::eos', lambda *_: self.main(self.fail, 'unexpected end of stream'))

    def configure_ice(self):
        # PyGObject drops one reference too many on the object this property returns
        # (GLib-GObject-CRITICAL, then webrtcbin uses a freed agent): keep the wrappers
        # for the whole run.
        ice = self.ice = self.webrtc.get_property('ice-agent')
        # GstWebRTCNice: only UDP candidates.
        ice.set_property('ice-tcp', False)
        agent = self.nice_agent = ice.get_property('agent')  # the NiceAgent
        if agent.find_property('upnp') is not None:
            agent.set_property('upnp', False)
        agent.set_property('ice-tcp', False)
        if not ice.emit('add-local-ip-address', self.args.ice_address):
            raise Failure(f'webrtcbin rejected the local ICE address {self.args.ice_address}')
        log(f'ICE: host candidates on {self.args.ice_address} only, no STUN/TURN, no UPnP, UDP only')

    # --- helpers -------------------------------------------------------------

    def main(self, fn, *a):
        """Run fn on the main loop (webrtcbin's signals come on its own threads)."""
        GLib.idle_add(lambda: (fn(*a), False)[1])

    def fail(self, msg):
        if self.exit_code is not None:
            return
        log(f'FAILED: {msg}')
        self.finish(1)

    def finish(self, code):
        if self.exit_code is not None:
            return
        self.exit_code = code
        if self.session_url:
            self.delete(quiet=code != 0)
        self.pipe.set_state(Gst.State.NULL)
        self.loop.quit()

    def request(self, method, url, body=None, content_type=None):
        headers = {}
        if content_type:
            headers['Content-Type'] = content_type
        if self.args.token:
            headers['Authorization'] = f'Bearer {self.args.token}'
        req = urllib.request.Request(url, data=body, headers=headers, method=method)
        try:
            with self.http.open(req, timeout=HTTP_TIMEOUT_S) as res:
                return res.status, res.headers, res.read().decode('utf-8', 'replace')
        except urllib.error.HTTPError as err:
            text = err.read().decode('utf-8', 'replace').strip()
            raise Failure(f'{method} {url} -> {err.code} {err.reason}: {text}') from None
        except (urllib.error.URLError, OSError) as err:
            raise Failure(f'{method} {url}: {getattr(err, "reason", err)}') from None

    def delete(self, quiet=False):
        url, self.session_url = self.session_url, None
        try:
            status, _, _ = self.request('DELETE', url)
            log(f'DELETE {url} -> {status}')
            return True
        except Failure as err:
            if quiet:
                log(f'DELETE failed too: {err}')
                return False
            raise

    # --- signals -------------------------------------------------------------

    def on_state(self, element, pspec):
        value = element.get_property(pspec.name)
        log(f'{pspec.name}: {value.value_nick}')
        if pspec.name == 'ice-gathering-state' and value == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            self.main(self.post_offer)
        elif pspec.name == 'connection-state':
            if value == GstWebRTC.WebRTCPeerConnectionState.CONNECTED:
                self.main(self.on_connected)
            elif value == GstWebRTC.WebRTCPeerConnectionState.FAILED:
                self.main(self.fail, 'the peer connection failed (ICE or DTLS)')
        elif pspec.name == 'ice-connection-state' and value == GstWebRTC.WebRTCICEConnectionState.FAILED:
            self.main(self.fail, 'ICE failed')

    def on_bus_error(self, _bus, message):
        err, debug = message.parse_error()
        self.fail(f'pipeline error from {message.src.get_name()}: {err.message} ({debug})')

    def on_negotiation_needed(self, _element):
        self.main(self.create_offer)

    # --- steps (main loop) ---------------------------------------------------

    def create_offer(self):
        if self.offered or self.exit_code is not None:
            return
        self.offered = True
        promise = Gst.Promise.new()
        self.webrtc.emit('create-offer', None, promise)
        if promise.wait() != Gst.PromiseResult.REPLIED or promise.get_reply() is None:
            return self.fail('create-offer did not reply')
        reply = promise.get_reply()
        if reply.has_field('error'):
            return self.fail(f'create-offer: {reply.get_value("error").message}')
        offer = reply.get_value('offer')
        log('created the offer')
        promise = Gst.Promise.new()
        self.webrtc.emit('set-local-description', offer, promise)
        promise.wait()
        reply = promise.get_reply()
        if reply is not None and reply.has_field('error'):
            return self.fail(f'set-local-description: {reply.get_value("error").message}')
        log('set the local description; gathering ICE candidates')
        GLib.timeout_add(GATHER_TIMEOUT_S * 1000, self.check_gathered)
        # If gathering finished before we got here, no notify will come.
        if self.webrtc.get_property('ice-gathering-state') == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            self.post_offer()

    def check_gathered(self):
        if not self.posted:
            self.fail(f'ICE gathering on {self.args.ice_address} did not complete within {GATHER_TIMEOUT_S} s')
        return False

    def post_offer(self):
        if self.posted or self.exit_code is not None:
            return
        self.posted = True
        sdp = self.webrtc.get_property('local-description').sdp.as_text()
        if 'a=candidate:' not in sdp:
            return self.fail(f'ICE gathering completed without a candidate on {self.args.ice_address}')
        try:
            status, headers, answer = self.request('POST', self.args.url, sdp.encode(), 'application/sdp')
        except Failure as err:
            return self.fail(str(err))
        location = headers.get('Location')
        if status != 201 or not location:
            return self.fail(f'POST {self.args.url} -> {status} (Location: {location}): a WHIP endpoint answers 201 with a Location')
        self.session_url = urllib.parse.urljoin(self.args.url, location)
        log(f'POST {self.args.url} -> {status}, session {self.session_url}')
        if self.args.verbose: log('offer:\n' + sdp + '\nanswer:\n' + answer)
        content_type = (headers.get('Content-Type') or '').split(';')[0].strip().lower()
        if content_type != 'application/sdp':
            return self.fail(f'the answer has Content-Type {content_type!r}, not application/sdp')
        res, msg = GstSdp.SDPMessage.new_from_text(answer)
        if res != GstSdp.SDPResult.OK:
            return self.fail(f'the answer is not SDP ({res.value_nick})')
        desc = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg)
        promise = Gst.Promise.new()
        self.webrtc.emit('set-remote-description', desc, promise)
        promise.wait()
        reply = promise.get_reply()
        if reply is not None and reply.has_field('error'):
            return self.fail(f'set-remote-description: {reply.get_value("error").message}')
        log('applied the answer')
        GLib.timeout_add(int(self.args.connect_timeout * 1000), self.check_connected)

    def check_connected(self):
        if not self.connected:
            self.fail(f'not connected {self.args.connect_timeout:g} s after the answer')
        return False

    def on_connected(self):
        if self.connected or self.exit_code is not None:
            return
        self.connected = True
        log(f'connected; publishing for {self.args.seconds:g} s')
        GLib.timeout_add(int(self.args.seconds * 1000), self.done)

    def done(self):
        if self.exit_code is None:
            try:
                self.delete()
            except Failure as err:
                self.fail(str(err))
                return False
            log('done')
            self.finish(0)
        return False

    def on_stdin(self, _fd, _condition):
        # EOF (or any input) on stdin: stop now, the normal way (DELETE, exit 0).
        if self.exit_code is None:
            log('stdin closed; stopping early')
            if self.connected:
                self.done()
            else:
                self.fail('stdin closed before the connection was up')
        return False

    def on_deadline(self):
        self.fail(f'still running after the {self.args.deadline:g} s deadline')
        return False

    def on_signal(self, signum):
        if self.exit_code is None:
            log(f'got signal {signal.Signals(signum).name}; ending the session')
            self.finish(128 + signum)
        return False

    def run(self):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, self.on_signal, signal.SIGINT)
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, self.on_signal, signal.SIGTERM)
        GLib.timeout_add(int(self.args.deadline * 1000), self.on_deadline)
        if self.args.stop_on_stdin:
            GLib.io_add_watch(sys.stdin.fileno(), GLib.PRIORITY_DEFAULT, GLib.IOCondition.IN | GLib.IOCondition.HUP, self.on_stdin)
        if self.pipe.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            self.fail('the pipeline would not start (PLAYING failed)')
        else:
            log(f'pipeline playing; offering to {self.args.url}')
            self.loop.run()
        return self.exit_code if self.exit_code is not None else 1


def positive(text):
    value = float(text)
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError('must be > 0 and at most 3600')
    return value


def main():
    parser = argparse.ArgumentParser(description='Publish a GStreamer test pattern (VP8) to a WHIP endpoint with webrtcbin.')
    parser.add_argument('url', help='WHIP endpoint, e.g. http://127.0.0.1:8080/whip/ROOM?name=gst')
    parser.add_argument('--token', help='bearer token (Authorization: Bearer TOKEN)')
    parser.add_argument('--seconds', type=positive, default=10, help='how long to publish once connected (default 10)')
    parser.add_argument('--stop-on-stdin', action='store_true', help='stop early (DELETE, exit 0) when stdin closes or a line arrives')
    parser.add_argument('--connect-timeout', type=positive, default=20, help='seconds from the answer to "connected" (default 20)')
    parser.add_argument('--ice-address', default='127.0.0.1', help='the one local address ICE gathers on (default 127.0.0.1)')
    parser.add_argument('--verbose', action='store_true', help='print the offer and the answer')
    parser.add_argument('--width', type=int, default=320)
    parser.add_argument('--height', type=int, default=240)
    parser.add_argument('--fps', type=int, default=30)
    args = parser.parse_args()
    if urllib.parse.urlsplit(args.url).scheme not in ('http', 'https'):
        parser.error('the URL must be http:// or https://')
    # Everything (gathering, POST, connecting, publishing, DELETE) within this bound.
    args.deadline = args.seconds + args.connect_timeout + GATHER_TIMEOUT_S + 2 * HTTP_TIMEOUT_S + 15

    Gst.init(None)
    try:
        publisher = Publisher(args)
    except (Failure, GLib.Error) as err:
        log(f'FAILED: {err}')
        return 1
    return publisher.run()


if __name__ == '__main__':
    sys.exit(main())
