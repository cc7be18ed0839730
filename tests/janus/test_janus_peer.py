"""Self-tests of the Janus test peer (tests/peers/janus.py and janus_viewer.py), without
libpublisher: the server starts and answers the Janus API, refuses what its rooms refuse with
the codes the Janus suites expect, and an aiortc publisher's video and tone reach the
JanusViewer decoded. The publisher here is aiortc's, built in this file (a moving grey picture
and a 440 Hz tone); it runs on a loop thread of its own, the viewer on another."""

import asyncio
import math
import threading

import numpy
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from av import VideoFrame

from conftest import wait_for
from peers import janus as janus_peer
from peers.janus_viewer import JanusClient, JanusError, JanusViewer

pytestmark = pytest.mark.skipif(janus_peer.available() is not None,
                                reason=janus_peer.available() or "")


class Pattern(VideoStreamTrack):
    """320x240 frames at 30 fps whose grey level changes every frame."""

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        level = (pts // 3000 * 8) % 256
        frame = VideoFrame.from_ndarray(numpy.full((240, 320, 3), level, numpy.uint8),
                                        format="bgr24")
        frame.pts, frame.time_base = pts, time_base
        return frame


class Tone(AudioStreamTrack):
    """A 440 Hz sine at a third of full scale (RMS 0.23), in aiortc's 20 ms frames at 8 kHz."""

    async def recv(self):
        frame = await super().recv()  # silence, timed
        t = (numpy.arange(frame.samples) + frame.pts) / frame.sample_rate
        samples = (0.33 * 32767 * numpy.sin(2 * math.pi * 440 * t)).astype(numpy.int16)
        frame.planes[0].update(samples.tobytes())
        return frame


class Loop:
    """An asyncio loop on a thread, for the publishers' clients and peer connections."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout=20):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class Publisher:
    """An aiortc publisher in a VideoRoom: joins, offers (only `video_codec` if given),
    takes Janus's answer unless told not to."""

    def __init__(self, client):
        self.client, self.pc, self.handle = client, None, None

    async def join(self, room, **extra):
        self.handle = await self.client.attach()
        data, _ = await self.client.message(
            self.handle, {"request": "join", "ptype": "publisher", "room": room, **extra})
        return data

    async def publish(self, video_codec=None, take_answer=True):
        self.pc = RTCPeerConnection()
        video = self.pc.addTransceiver(Pattern(), "sendonly")
        if video_codec is not None:
            video.setCodecPreferences([
                c for c in RTCRtpSender.getCapabilities("video").codecs
                if c.mimeType.lower() in (f"video/{video_codec}".lower(), "video/rtx")
            ])
        self.pc.addTransceiver(Tone(), "sendonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = {"type": "offer", "sdp": self.pc.localDescription.sdp}
        data, answer = await self.client.message(
            self.handle, {"request": "publish", "audio": True, "video": True}, jsep=offer)
        if take_answer:
            await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        return data, answer

    async def close(self):
        if self.pc is not None:
            await self.pc.close()
        await self.client.close()


@pytest.fixture(scope="module")
def janus():
    with janus_peer.Janus() as server:
        yield server


@pytest.fixture()
def loop():
    started = Loop()
    yield started
    started.close()


@pytest.fixture()
def publishers(loop):
    """Starts publishers (`start(ws_url, room, **client_options)` -> joined Publisher), all
    closed at the end of the test."""
    made = []

    def start(ws_url, room, **options):
        publisher = Publisher(loop.run(JanusClient(ws_url, **options).open()))
        made.append(publisher)
        loop.run(publisher.join(room))
        return publisher

    yield start
    for publisher in made:
        loop.run(publisher.close())


def media_sections(sdp):
    """{kind: [its lines]} of an SDP's media sections."""
    sections, current = {}, None
    for line in sdp.splitlines():
        if line.startswith("m="):
            current = sections.setdefault(line[2:].split()[0], [])
        if current is not None:
            current.append(line)
    return sections


def test_janus_answers_create_and_attach(janus, loop):
    async def run():
        async with JanusClient(janus.ws_url, keepalive=0.1) as client:
            handle = await client.attach()
            info = await client.request({"janus": "info"})
            await asyncio.sleep(0.5)  # a few keepalives, each answered with an ack
            data, _ = await client.message(handle, {"request": "exists", "room": 1234})
            return client.session_id, handle, info, data, list(client.events)

    session, handle, info, exists, events = loop.run(run())
    assert isinstance(session, int) and isinstance(handle, int)
    assert exists["exists"] is True
    assert events == []
    assert info["version_string"] == "1.1.2"
    assert list(info["plugins"]) == [janus_peer.VIDEOROOM]
    assert list(info["transports"]) == ["janus.transport.websockets"]
    assert janus.url(1234) == f"janus+ws://127.0.0.1:{janus.port}/?room=1234"
    assert janus.url(2000, pin="sesame").endswith("/?room=2000&pin=sesame")


def test_unknown_room_is_426(janus, publishers):
    with pytest.raises(JanusError) as refused:
        publishers(janus.ws_url, 999)
    assert refused.value.code == janus_peer.NO_SUCH_ROOM == 426
    assert refused.value.reason == "No such room (999)"


def test_published_video_and_tone_are_decoded(janus, loop, publishers):
    publisher = publishers(janus.ws_url, 1234)
    data, answer = loop.run(publisher.publish())
    assert data["configured"] == "ok"
    assert (data["video_codec"], data["audio_codec"]) == ("vp8", "opus")
    with JanusViewer(janus.ws_url, 1234) as viewer:
        stats = viewer.wait_for_frames(20, timeout=10)
        assert stats["video_size"] == (320, 240)
        stats = viewer.wait_for_audio(0.1, timeout=5)
        # 0.33 of full scale is an RMS of 0.23; aiortc makes the mono tone stereo at -3 dB
        # before Opus, so about 0.16 comes back.
        assert 0.1 < stats["audio_rms"] < 0.3, stats["audio_rms"]
        assert viewer.fps_last(1) > 5
        assert viewer.feed_id is not None
        assert viewer.video_mid() is not None
        # Not simulcast: Janus takes the request all the same.
        assert viewer.switch_substream(0)["configured"] == "ok"
    assert any(e.get("janus") == "webrtcup" for e in publisher.client.events)


def test_a_publisher_that_also_offers_loopback_connects(janus, loop, publishers, monkeypatch):
    # Janus offers no 127.0.0.1 candidate and answers none: the pairs between the machine's
    # own addresses are the ones that work (see tests/peers/janus.py).
    import aioice.ice

    host_addresses = aioice.ice.get_host_addresses
    monkeypatch.setattr(aioice.ice, "get_host_addresses",
                        lambda use_ipv4, use_ipv6: ["127.0.0.1"] + host_addresses(use_ipv4,
                                                                                  use_ipv6))
    publisher = publishers(janus.ws_url, 1234)
    _, answer = loop.run(publisher.publish())
    offered = publisher.pc.localDescription.sdp
    assert " 127.0.0.1 " in offered
    assert " 127.0.0.1 " not in answer["sdp"]
    loop.run(publisher.client.wait_event(lambda e: e.get("janus") == "webrtcup", 10))
    wait_for(lambda: publisher.pc.connectionState == "connected", 5, "connected publisher")


def test_room_pin(janus, loop):
    async def join(**pin):
        async with JanusClient(janus.ws_url) as client:
            try:
                return (await Publisher(client).join(2000, **pin))["videoroom"]
            except JanusError as refused:
                return refused.code, refused.reason

    assert loop.run(join()) == (429, "Missing mandatory element (pin)")
    assert loop.run(join(pin="nope")) == (janus_peer.ROOM_UNAUTHORIZED, "Unauthorized (wrong pin)")
    assert loop.run(join(pin="sesame")) == "joined"


def test_full_room_refuses_the_second_offer_with_432(janus, loop, publishers):
    first = publishers(janus.ws_url, 3000)
    loop.run(first.publish())
    loop.run(first.client.wait_event(lambda e: e.get("janus") == "webrtcup", 10))
    # Joining is allowed: the limit counts publishers whose media is up, at the offer.
    second = publishers(janus.ws_url, 3000)
    with pytest.raises(JanusError) as full:
        loop.run(second.publish())
    assert full.value.code == janus_peer.PUBLISHERS_FULL == 432
    assert full.value.reason == "Maximum number of publishers (1) already reached"


def test_vp8_offer_to_an_h264_room_gets_its_video_rejected(janus, loop, publishers):
    publisher = publishers(janus.ws_url, 4000)
    data, answer = loop.run(publisher.publish(video_codec="VP8", take_answer=False))
    assert data["configured"] == "ok"
    assert (data["video_codec"], data["audio_codec"]) == ("none", "opus")
    video = next(s for s in data["streams"] if s["type"] == "video")
    assert video.get("disabled") is True
    sections = media_sections(answer["sdp"])
    assert sections["video"][0].split()[3:] == ["0"]
    assert "a=inactive" in sections["video"]
    assert "a=recvonly" in sections["audio"]


def test_api_secret(loop):
    with janus_peer.Janus(api_secret="lp-api") as server:
        with pytest.raises(JanusError) as refused:
            loop.run(JanusClient(server.ws_url).open())
        assert refused.value.code == janus_peer.UNAUTHORIZED == 403
        assert refused.value.reason == "Unauthorized request (wrong or missing secret/token)"
        with pytest.raises(JanusError) as wrong:
            loop.run(JanusClient(server.ws_url, api_secret="other").open())
        assert wrong.value.code == 403

        async def run():
            async with JanusClient(server.ws_url, api_secret="lp-api") as client:
                return await client.attach()

        assert loop.run(run())


def test_token(loop):
    with janus_peer.Janus(token="lp-token") as server:
        for token in (None, "other"):
            with pytest.raises(JanusError) as refused:
                loop.run(JanusClient(server.ws_url, token=token).open())
            assert refused.value.code == janus_peer.UNAUTHORIZED == 403
            assert refused.value.reason == "Unauthorized request (wrong or missing secret/token)"

        async def run():
            async with JanusClient(server.ws_url, token="lp-token") as client:
                handle = await client.attach()
                data, _ = await client.message(handle, {"request": "exists", "room": 1234})
                return data

        assert loop.run(run())["exists"] is True
        server.add_token("second")

        async def second():
            async with JanusClient(server.ws_url, token="second") as client:
                return await client.attach()

        assert loop.run(second())

        async def info_and_limited():
            client = await JanusClient(server.ws_url).open(create=False)
            try:
                info = await client.request({"janus": "info"})  # not checked
            finally:
                await client.close()
            async with JanusClient(server.ws_url, token="limited") as client:
                try:
                    await client.attach()
                except JanusError as refused:
                    return info, refused.code
            return info, None

        # A token for plugins this server does not run can create, not attach.
        server.add_token("limited", plugins=["janus.plugin.echotest"])
        info, code = loop.run(info_and_limited())
        assert info["auth_token"] is True
        assert code == janus_peer.UNAUTHORIZED_PLUGIN == 405


def test_kill_mid_stream(loop, publishers):
    server = janus_peer.Janus()
    try:
        publisher = publishers(server.ws_url, 1234)
        loop.run(publisher.publish())
        with JanusViewer(server.ws_url, 1234) as viewer:
            viewer.wait_for_frames(10, timeout=10)
            server.kill()
            assert not server.running()
            loop.run(publisher.client.wait_event(lambda e: e.get("janus") == "closed", 5))
            wait_for(lambda: any(e.get("janus") == "closed" for e in viewer.events()), 5,
                     "end of the viewer's WebSocket")
    finally:
        server.cleanup()


def test_viewer_without_a_publisher_gives_up(janus):
    # Room 2000: no test here publishes to it.
    with pytest.raises(TimeoutError, match="no publisher in room 2000"):
        JanusViewer(janus.ws_url, 2000, pin="sesame", timeout=1)
