"""Live control of a publishing publisher, from Python, against the aiortc receiver: muting
video stops the frames it decodes while audio goes on, unmuting brings video back within
500 ms of the call, muted audio decodes as silence, and the events carry their reasons."""

import threading
import time

import pytest

import libpublisher
from conftest import session_stats

#: Frames already on their way when video is turned off may still decode this long after.
IN_FLIGHT_S = 0.3


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    pytest.fail(f"no {what} within {timeout} s")


def frames_between(stats, start, end):
    return [t for t in stats["video_frame_times"] if start <= t < end]


def test_mute_and_unmute_while_publishing(receiver):
    room = "live-mute"
    publisher = libpublisher.init_publisher({
        "video_source": "synthetic", "audio_source": "synthetic",
        "resolution": "320x240", "frame_rate": 30,
    })
    events = []
    got = threading.Event()

    def record(name):
        def handler(reason):
            events.append((name, reason))
            got.set()
        return handler

    for name in ("video_disabled", "video_enabled", "audio_disabled", "audio_enabled"):
        publisher.on(name, record(name))
    session = libpublisher.init_session(receiver.url(room))
    try:
        session.connect(token=receiver.token)
        session.publish(publisher)
        wait_for(lambda: session_stats(receiver, room)["video_frames"] >= 15, 10,
                 "decoded video")

        # Video off: nothing decodes after the frames in flight; audio goes on.
        off_at = time.time()
        publisher.publish_video(False)
        audio_before = session_stats(receiver, room)["audio_frames"]
        time.sleep(1.5)
        stats = session_stats(receiver, room)
        assert frames_between(stats, off_at + IN_FLIGHT_S, time.time()) == [], stats
        assert stats["audio_frames"] - audio_before >= 40, stats
        # Turning it off again changes nothing and says nothing.
        publisher.publish_video(False)

        # Video on: decoding again within 500 ms of the call.
        on_at = time.time()
        publisher.publish_video(True)
        wait_for(lambda: frames_between(session_stats(receiver, room), on_at, on_at + 10),
                 5, "video after unmute")
        first = frames_between(session_stats(receiver, room), on_at, on_at + 10)[0]
        assert first - on_at <= 0.5, first - on_at

        # Audio off: it still decodes, as silence; on again, the tone is back.
        wait_for(lambda: session_stats(receiver, room)["audio_level"] > 0.05, 5, "the tone")
        publisher.publish_audio(False)
        time.sleep(0.5)
        frames = session_stats(receiver, room)["audio_frames"]
        wait_for(lambda: session_stats(receiver, room)["audio_frames"] >= frames + 25, 5,
                 "audio while muted")
        assert session_stats(receiver, room)["audio_level"] < 0.01
        publisher.publish_audio(True)
        wait_for(lambda: session_stats(receiver, room)["audio_level"] > 0.05, 5,
                 "the tone after unmute")
        wait_for(lambda: len(events) >= 4, 5, "all four events")
        assert events == [
            ("video_disabled", libpublisher.Reason.publishVideo),
            ("video_enabled", libpublisher.Reason.publishVideo),
            ("audio_disabled", libpublisher.Reason.publishAudio),
            ("audio_enabled", libpublisher.Reason.publishAudio),
        ], events
        # One offer for all of it: no renegotiation.
        assert len([s for s in receiver.stats().values() if s["room"] == room]) == 1
    finally:
        session.close()
        publisher.close()


def test_mute_calls_that_cannot_work_say_why():
    audio_only = libpublisher.init_publisher({"video_source": None,
                                              "audio_source": "synthetic"})
    try:
        with pytest.raises(libpublisher.Error) as e:
            audio_only.publish_video(True)
        assert e.value.code == libpublisher.ErrorCode.ILLEGAL_STATE
        assert "has no video" in e.value.message
        # Muting audio works before publishing, too.
        audio_only.publish_audio(False)
        audio_only.publish_audio(True)
    finally:
        audio_only.close()
    with pytest.raises(libpublisher.Error) as e:
        audio_only.publish_audio(False)
    assert e.value.code == libpublisher.ErrorCode.ILLEGAL_STATE
    assert "closed" in e.value.message
