"""Publishing into a real Janus VideoRoom (Debian's janus, started by tests/peers/janus.py) from
Python, Rust, C and Node, watched by an independent subscriber (tests/peers/janus_viewer.py:
aiortc, through Janus) that decodes the video and measures the audio; and each refusal of
Janus with its contract code:

    unreachable                      1006 CONNECT_FAILED          (connect)
    no such room                     1005 INVALID_SESSION_ID      (connect)
    wrong or missing pin, token      1004 AUTHENTICATION_ERROR    (publish; token: connect)
    room full (publisher limit)      1027 CONNECTION_LIMIT_EXCEEDED (publish)
    a codec the room does not take   1610 SET_REMOTE_DESCRIPTION_FAILED (publish)
    Janus killed mid-stream          streamDestroyed, sessionDisconnected: networkDisconnected
"""

import socket
import threading
import time

import pytest

import libpublisher
from conftest import PUBLISH_PROGRAMS, start_publishing, synthetic
from peers import janus
from peers.janus_viewer import JanusViewer

pytestmark = pytest.mark.skipif(janus.available() is not None, reason=str(janus.available()))

#: A room for each language's publish, so that a viewer finds the one it is after.
LANGUAGE_ROOMS = {"python": 5001, "rust": 5002, "c": 5003, "node": 5004}


@pytest.fixture(scope="module")
def server():
    rooms = {**janus.ROOMS, **{room: {"description": lang} for lang, room in LANGUAGE_ROOMS.items()}}
    with janus.Janus(rooms=rooms) as server:
        yield server


def refusal(call):
    with pytest.raises(libpublisher.Error) as raised:
        call()
    return raised.value


def watched(viewer, seconds=3.0):
    """Waits until the viewer decoded 45 frames and heard the tone; its figures."""
    viewer.wait_for_frames(45, timeout=20)
    viewer.wait_for_audio(0.01, timeout=10)
    time.sleep(seconds)
    stats = viewer.stats()
    return viewer.fps_last(seconds), stats["video_size"], stats["audio_rms"]


def test_python_publishes_into_the_room_and_a_viewer_decodes_it(server):
    room = LANGUAGE_ROOMS["python"]
    created = []
    publisher = libpublisher.init_publisher(synthetic("640x480", name="from python"),
                                            on={"stream_created": created.append})
    session = libpublisher.init_session(server.url(room))
    try:
        session.connect()
        session.publish(publisher)
        with JanusViewer(server.ws_url, room) as viewer:
            fps, size, level = watched(viewer)
            # streamCreated carries the Janus publisher id the viewer subscribed to.
            assert created == [str(viewer.feed_id)], (created, viewer.feed_id)
        assert fps >= 20, fps
        assert size == (640, 480), size
        assert level > 0.01, level
        session.unpublish(publisher)
        # Unpublished: the room has no publisher left.
        with pytest.raises(TimeoutError):
            JanusViewer(server.ws_url, room, timeout=1.0)
    finally:
        session.close()
        publisher.close()


@pytest.mark.parametrize("language", list(PUBLISH_PROGRAMS))
def test_every_language_publishes_into_the_room(language, server):
    room = LANGUAGE_ROOMS[language]
    program = start_publishing(language, server.url(room), 14)
    try:
        with JanusViewer(server.ws_url, room, timeout=15.0) as viewer:
            fps, size, level = watched(viewer)
        output, _ = program.communicate(timeout=30)
    finally:
        program.kill()
    assert program.returncode == 0, output[-2000:]
    assert fps >= 20, (fps, output[-1000:])
    assert size is not None and size[0] >= 320, size
    assert level > 0.01, level


def test_an_unreachable_server_is_1006():
    with janus.Janus() as gone:
        url = gone.url(1234)
    session = libpublisher.init_session(url)
    try:
        e = refusal(session.connect)
        assert (e.code, e.name) == (1006, "CONNECT_FAILED"), e
    finally:
        session.close()


def test_a_server_that_never_answers_is_1021_within_the_connect_timeout():
    """A listener that takes the TCP connection and never answers the WebSocket handshake."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        session = libpublisher.init_session(f"janus+ws://127.0.0.1:{port}/?room=1234&pin=secret-77",
                                            {"connect_timeout_ms": 500})
        started = time.monotonic()
        try:
            e = refusal(session.connect)
        finally:
            session.close()
    assert (e.code, e.name) == (1021, "CONNECT_TIMEOUT"), e
    assert time.monotonic() - started < 3
    assert "secret-77" not in e.message, e.message


def test_no_such_room_is_1005_at_connect(server):
    session = libpublisher.init_session(server.url(9999))
    try:
        e = refusal(session.connect)
        assert (e.code, e.name) == (1005, "INVALID_SESSION_ID"), e
        assert "No such room" in e.message and "9999" in e.message, e.message
    finally:
        session.close()


@pytest.mark.parametrize("pin", [None, "not-the-pin-42"])
def test_a_wrong_or_missing_pin_is_1004_at_publish(server, pin):
    url = server.url(2000) if pin is None else server.url(2000, pin=pin)
    publisher = libpublisher.init_publisher(synthetic("320x240"))
    session = libpublisher.init_session(url)
    try:
        session.connect()
        e = refusal(lambda: session.publish(publisher))
        assert (e.code, e.name) == (1004, "AUTHENTICATION_ERROR"), e
        assert "not-the-pin-42" not in e.message, "the pin stays out of messages"
        # The right pin publishes.
        session.close()
        session = libpublisher.init_session(server.url(2000, pin="sesame"))
        session.connect()
        session.publish(publisher)
        assert publisher.state == "publishing"
    finally:
        session.close()
        publisher.close()


def test_a_full_room_is_1027_at_publish(server):
    first = libpublisher.init_publisher(synthetic("320x240"))
    second = libpublisher.init_publisher(synthetic("320x240"))
    session = libpublisher.init_session(server.url(3000))
    try:
        session.connect()
        session.publish(first)
        e = refusal(lambda: session.publish(second))
        assert (e.code, e.name) == (1027, "CONNECTION_LIMIT_EXCEEDED"), e
        assert first.state == "publishing"
    finally:
        session.close()
        first.close()
        second.close()


def test_a_codec_the_room_does_not_take_is_1610(server):
    # Room 4000 takes H.264 video only; the publisher offers VP8 alone.
    publisher = libpublisher.init_publisher(synthetic("320x240"))
    session = libpublisher.init_session(server.url(4000))
    try:
        session.connect()
        e = refusal(lambda: session.publish(publisher))
        assert (e.code, e.name) == (1610, "SET_REMOTE_DESCRIPTION_FAILED"), e
    finally:
        session.close()
        publisher.close()


#: Each refusal, as the URL that meets it and the line every publish program prints.
REFUSALS = {
    "no such room": (lambda server: server.url(9999), "error 1005 INVALID_SESSION_ID: "),
    "wrong pin": (lambda server: server.url(2000, pin="not-the-pin-42"),
                  "error 1004 AUTHENTICATION_ERROR: "),
    "codec not in the room": (lambda server: server.url(4000),
                              "error 1610 SET_REMOTE_DESCRIPTION_FAILED: "),
}


@pytest.mark.parametrize("refusal_name", list(REFUSALS))
@pytest.mark.parametrize("language", list(PUBLISH_PROGRAMS))
def test_every_language_gets_each_refusal_as_the_same_code(language, refusal_name, server):
    """Rust, C and Node (Python: the tests above) end with the same code and name."""
    url, line = REFUSALS[refusal_name]
    program = start_publishing(language, url(server), 3, resolution="320x240")
    try:
        output, _ = program.communicate(timeout=30)
    finally:
        program.kill()
    errors = [l for l in output.splitlines() if l.startswith("error ")]
    assert errors and errors[-1].startswith(line), output[-2000:]
    assert "not-the-pin-42" not in output, "the pin stays out of messages"


def test_a_token_is_required_when_janus_asks_for_one():
    with janus.Janus(token="let-me-in") as server:
        for token in (None, "not-the-token-77"):
            session = libpublisher.init_session(server.url(1234))
            try:
                e = refusal(lambda: session.connect(token=token))
                assert (e.code, e.name) == (1004, "AUTHENTICATION_ERROR"), e
                assert "not-the-token-77" not in e.message and "let-me-in" not in e.message
            finally:
                session.close()
        session = libpublisher.init_session(server.url(1234))
        try:
            session.connect(token="let-me-in")
            assert session.state == "connected"
        finally:
            session.close()


def test_janus_killed_mid_stream_ends_the_stream_then_the_session():
    events = []
    changed = threading.Condition()

    def add(name):
        with changed:
            events.append(name)
            changed.notify_all()

    with janus.Janus() as server:
        publisher = libpublisher.init_publisher(
            synthetic("320x240"),
            on={"stream_destroyed": lambda reason: add(f"streamDestroyed:{reason.name}")})
        session = libpublisher.init_session(server.url(1234), {"reconnect_timeout_ms": 2000})
        session.on("session_reconnecting", lambda: add("sessionReconnecting"))
        session.on("session_disconnected",
                   lambda reason: add(f"sessionDisconnected:{reason.name}"))
        try:
            session.connect()
            session.publish(publisher)
            with JanusViewer(server.ws_url, 1234) as viewer:
                viewer.wait_for_frames(15, timeout=15)
            server.kill()
            with changed:
                changed.wait_for(
                    lambda: "sessionDisconnected:networkDisconnected" in events, 20)
            assert events == [
                "sessionReconnecting",
                "streamDestroyed:networkDisconnected",
                "sessionDisconnected:networkDisconnected",
            ], events
            assert session.state == "disconnected"
        finally:
            session.close()
            publisher.close()
