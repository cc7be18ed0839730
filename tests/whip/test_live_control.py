"""Live control of a publishing publisher against the aiortc receiver, from Python, and the
mute scenario from Rust, C and Node through their programs: muting video stops the frames the
receiver decodes while audio goes on and releases the source (it captures nothing), unmuting
opens it again and brings video back within 500 ms of the call, muted audio decodes as
silence, and the events carry their reasons."""

import pathlib
import subprocess
import threading
import time

import pytest

import libpublisher
from conftest import WHIP_PROGRAMS, near, publishing, session_stats, wait_for

ROOT = pathlib.Path(__file__).resolve().parents[2]

#: Frames already on their way when video is turned off may still decode this long after.
IN_FLIGHT_S = 0.3


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

        # Video off: nothing decodes after the frames in flight; audio goes on; the source
        # is released, so nothing is captured.
        off_at = time.time()
        publisher.publish_video(False)
        captured = publisher.get_stats()["video_frames_captured"]
        audio_before = session_stats(receiver, room)["audio_frames"]
        time.sleep(1.5)
        stats = session_stats(receiver, room)
        assert frames_between(stats, off_at + IN_FLIGHT_S, time.time()) == [], stats
        assert stats["audio_frames"] - audio_before >= 40, stats
        assert publisher.get_stats()["video_frames_captured"] == captured
        # Turning it off again changes nothing and says nothing.
        publisher.publish_video(False)

        # Video on: decoding again within 500 ms of the call.
        on_at = time.time()
        publisher.publish_video(True)
        wait_for(lambda: frames_between(session_stats(receiver, room), on_at, on_at + 10),
                 5, "video after unmute")
        first = frames_between(session_stats(receiver, room), on_at, on_at + 10)[0]
        assert first - on_at <= 0.5, first - on_at
        assert publisher.get_stats()["video_frames_captured"] > captured

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


def test_mute_and_unmute_high_detail_video(receiver, noise_clip):
    """The same on noise at 640x480 (new detail every frame, large keyframes): video decodes
    again within 500 ms of the call."""
    room = "live-mute-noise"
    options = {"video_source": f"file:{noise_clip}", "audio_source": "synthetic",
               "resolution": "640x480", "frame_rate": 30}
    with publishing(receiver, room, options) as publisher:
        wait_for(lambda: session_stats(receiver, room)["video_frames"] >= 30, 10, "decoded video")
        off_at = time.time()
        publisher.publish_video(False)
        time.sleep(1.0)
        on_at = time.time()
        publisher.publish_video(True)
        wait_for(lambda: frames_between(session_stats(receiver, room), on_at, on_at + 10), 5,
                 "video after unmute")
        stats = session_stats(receiver, room)
        assert frames_between(stats, off_at + IN_FLIGHT_S, on_at) == [], stats
        first = frames_between(stats, on_at, on_at + 10)[0]
        print(f"\nvideo decoded again {1000 * (first - on_at):.0f} ms after the call")
        assert first - on_at <= 0.5, first - on_at


def test_off_from_the_start_turns_on_later(receiver):
    """publish_video and publish_audio false at init: both tracks are negotiated anyway, the
    receiver gets silence and no video, and each turns on later without a new offer."""
    room = "live-off-at-init"
    publisher = libpublisher.init_publisher({
        "video_source": "synthetic", "audio_source": "synthetic", "resolution": "320x240",
        "publish_video": False, "publish_audio": False,
    })
    enabled = []
    publisher.on("video_enabled", lambda reason: enabled.append(("video", reason)))
    publisher.on("audio_enabled", lambda reason: enabled.append(("audio", reason)))
    session = libpublisher.init_session(receiver.url(room))
    try:
        session.connect(token=receiver.token)
        session.publish(publisher)
        # Silence decodes; no video, and no video source open.
        wait_for(lambda: session_stats(receiver, room)["audio_frames"] >= 50, 5, "audio")
        assert session_stats(receiver, room)["audio_level"] < 0.01
        assert session_stats(receiver, room)["video_frames"] == 0
        assert publisher.get_stats()["video_frames_captured"] == 0

        publisher.publish_audio(True)
        wait_for(lambda: session_stats(receiver, room)["audio_level"] > 0.05, 5, "the tone")
        on_at = time.time()
        publisher.publish_video(True)
        wait_for(lambda: session_stats(receiver, room)["video_frames"] > 0, 5, "video")
        first = session_stats(receiver, room)["video_frame_times"][0]
        assert first - on_at <= 0.5, first - on_at
        wait_for(lambda: len(enabled) == 2, 5, "the events")
        assert enabled == [("audio", libpublisher.Reason.publishAudio),
                           ("video", libpublisher.Reason.publishVideo)]
        assert len([s for s in receiver.stats().values() if s["room"] == room]) == 1
    finally:
        session.close()
        publisher.close()


def test_video_alone_off_from_the_start_publishes(receiver):
    """A video-only publisher that starts with video off publishes (nothing to wait for) and
    sends video once it is turned on."""
    room = "live-video-off-alone"
    publisher = libpublisher.init_publisher({
        "video_source": "synthetic", "audio_source": None, "resolution": "320x240",
        "publish_video": False,
    })
    session = libpublisher.init_session(receiver.url(room))
    try:
        session.connect(token=receiver.token)
        session.publish(publisher)
        assert publisher.state == "publishing"
        publisher.publish_video(True)
        wait_for(lambda: session_stats(receiver, room)["video_frames"] > 0, 5, "video")
    finally:
        session.close()
        publisher.close()


def test_mute_calls_that_cannot_work_say_why():
    audio_only = libpublisher.init_publisher({"video_source": None,
                                              "audio_source": "synthetic"})
    try:
        with pytest.raises(libpublisher.Error) as e:
            audio_only.snapshot()
        assert e.value.code == libpublisher.ErrorCode.ILLEGAL_STATE
        assert "has no video" in e.value.message
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


def test_a_file_opened_again_goes_on_in_media_time(receiver, noise_clip):
    """A `file:` source released by mute starts over when opened again; the receiver's media
    time (RTP timestamps) still follows the wall clock across the mute, not the file's."""
    room = "live-mute-file"
    publisher = libpublisher.init_publisher({
        "video_source": f"file:{noise_clip}", "audio_source": None,
        "resolution": "320x240", "frame_rate": 30,
    })
    session = libpublisher.init_session(receiver.url(room))
    try:
        session.connect(token=receiver.token)
        session.publish(publisher)
        wait_for(lambda: session_stats(receiver, room)["video_frames"] >= 60, 10,
                 "decoded video")

        def media_ahead_of_wall():
            """How far the media time of the latest decoded frame is ahead of the wall time
            it decoded at, both since the first frame (a start that waited for its first
            frames makes it a constant)."""
            stats = session_stats(receiver, room)
            wall = stats["video_frame_times"][-1] - stats["first_video_at"]
            return stats["video_media_seconds"] - wall

        before = media_ahead_of_wall()
        publisher.publish_video(False)
        time.sleep(0.8)
        on_at = time.time()
        publisher.publish_video(True)
        wait_for(lambda: frames_between(session_stats(receiver, room), on_at, on_at + 10),
                 5, "video after unmute")
        time.sleep(1.0)
        # The file started over at 0; without one timeline the media time would be 0.8 s
        # behind. (A frame decoded late moves either reading by up to a few hundred ms.)
        after = media_ahead_of_wall()
        assert abs(after - before) < 0.45, (before, after)
    finally:
        session.close()
        publisher.close()


#: The mute scenario from the other languages' programs: video off one second into publishing,
#: on again a second later; each prints `video off at T` / `video on at T` and the events.
MUTE_PROGRAMS = {
    "rust": lambda url, token: [
        str(ROOT / "target" / "release" / "examples" / "publish"), "--video", "synthetic",
        "--audio", "synthetic", "--resolution", "640x480", "--seconds", "4",
        "--video-off", "1", "--video-on", "2", "--url", url, "--token", token],
    "c": lambda url, token: WHIP_PROGRAMS["c"] + [url, token, "2", "mute"],
    "node": lambda url, token: WHIP_PROGRAMS["node"] + [url, token, "2", "mute"],
}


@pytest.mark.parametrize("language", list(MUTE_PROGRAMS))
def test_mute_from_every_language(receiver, language):
    room = f"live-mute-{language}"
    out = subprocess.run(MUTE_PROGRAMS[language](receiver.url(room), receiver.token),
                         capture_output=True, text=True, timeout=60)
    lines = out.stdout.splitlines()
    assert out.returncode == 0, (lines, out.stderr[-2000:])
    at = {line.split()[1]: float(line.split()[-1]) for line in lines
          if line.startswith("video o") and " at " in line}
    off_at, on_at = at["off"], at["on"]
    events = [line.replace("event: ", "event ").replace("(", "").replace(")", "")
              for line in lines if line.startswith("event") and "video" in line]
    assert events == ["event videoDisabled publishVideo", "event videoEnabled publishVideo"], lines
    stats = session_stats(receiver, room)
    assert frames_between(stats, off_at - 5, off_at), stats
    assert frames_between(stats, off_at + IN_FLIGHT_S, on_at) == [], stats
    after = frames_between(stats, on_at, on_at + 10)
    assert after and after[0] - on_at <= 0.5, (on_at, after[:3])
    # Audio went on while video was off: no gap in what the receiver decoded.
    assert [g for g in stats["audio_gaps"] if off_at <= g[0] <= on_at + 0.5] == [], stats


def decode_png(data):
    """The pixels of PNG bytes, rows of RGB, decoded by FFmpeg's PNG decoder (PyAV)."""
    import io

    import av
    with av.open(io.BytesIO(data), format="png_pipe") as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def test_switch_sources_while_publishing(receiver, tmp_path):
    """synthetic → a blue file → failed switches (the blue file stays) on one track: the
    receiver sees each source's colours in turn, with no gap over 500 ms at the switch."""
    from peers import clips
    blue = (41, 240, 110)
    blue_clip = clips.write_solid_y4m(tmp_path / "blue.y4m", blue)
    room = "live-switch"
    consent = {"answer": True, "asked": []}

    def access_request(request):
        consent["asked"].append((request.video, request.audio))
        return consent["answer"]

    publisher = libpublisher.init_publisher({
        "video_source": "synthetic", "audio_source": "synthetic",
        "resolution": "320x240", "frame_rate": 30, "access_request": access_request,
    })
    denied = []
    publisher.on("access_denied", lambda error: denied.append(error.code))
    session = libpublisher.init_session(receiver.url(room))
    try:
        session.connect(token=receiver.token)
        session.publish(publisher)
        wait_for(lambda: len(session_stats(receiver, room)["video_yuv"]) >= 3, 10,
                 "decoded video")
        assert not near(session_stats(receiver, room)["video_yuv"][-1], blue)

        switched_at = time.time()
        publisher.set_video_source(f"file:{blue_clip}")
        wait_for(lambda: near(session_stats(receiver, room)["video_yuv"][-1], blue), 5,
                 "the blue file at the receiver")
        time.sleep(0.5)
        stats = session_stats(receiver, room)
        around = frames_between(stats, switched_at - 1, time.time())
        gaps = [b - a for a, b in zip(around, around[1:])]
        assert max(gaps) <= 0.5, gaps
        assert set(stats["video_sizes"]) == {"320x240"}, stats["video_sizes"]
        # A snapshot is the blue file's picture: RGB (0, 0, 255) by BT.601, 320x240.
        picture = decode_png(publisher.snapshot())
        assert picture.shape == (240, 320, 3), picture.shape
        assert near(picture.reshape(-1, 3).mean(axis=0), (0, 0, 255), tolerance=6)

        # Failures give their code and leave the blue file on.
        with pytest.raises(libpublisher.Error) as e:
            publisher.set_video_source(f"file:{tmp_path / 'missing.y4m'}")
        assert e.value.code == libpublisher.ErrorCode.MEDIA_SOURCE_INVALID, e.value
        with pytest.raises(libpublisher.Error) as e:
            publisher.set_video_source("video:no-such-camera")
        assert e.value.code == libpublisher.ErrorCode.DEVICE_NOT_FOUND
        with pytest.raises(libpublisher.Error) as e:
            publisher.set_video_source("loudspeaker")
        assert e.value.code == libpublisher.ErrorCode.INVALID_PARAMETER
        # Consent is asked where init_publisher asks (the synthetic camera too, as a
        # browser's fake devices); denied, 1500 after access_denied.
        consent["answer"] = False
        with pytest.raises(libpublisher.Error) as e:
            publisher.set_video_source("synthetic")
        assert e.value.code == libpublisher.ErrorCode.USER_MEDIA_ACCESS_DENIED
        assert e.value.message.startswith("Publisher Access Denied:")
        assert consent["asked"][-1] == ("synthetic", None)
        wait_for(lambda: denied, 2, "access_denied")
        assert denied == [libpublisher.ErrorCode.USER_MEDIA_ACCESS_DENIED]
        consent["answer"] = True
        frames = session_stats(receiver, room)["video_frames"]
        wait_for(lambda: session_stats(receiver, room)["video_frames"] >= frames + 20, 5,
                 "video after the failed switches")
        assert near(session_stats(receiver, room)["video_yuv"][-1], blue)

        # Audio switches too (to another synthetic tone source), and goes on.
        publisher.set_audio_source("synthetic")
        audio = session_stats(receiver, room)["audio_frames"]
        wait_for(lambda: session_stats(receiver, room)["audio_frames"] >= audio + 50, 5,
                 "audio after its switch")
        assert session_stats(receiver, room)["audio_level"] > 0.05
        # One offer for all of it.
        assert len([s for s in receiver.stats().values() if s["room"] == room]) == 1
    finally:
        session.close()
        publisher.close()


def test_preferred_size_and_rate_while_publishing(receiver):
    """set_preferred_resolution / set_preferred_frame_rate while publishing: the receiver
    decodes the new size (with videoDimensionsChanged) and about the new rate."""
    room = "live-preferred"
    publisher = libpublisher.init_publisher({
        "video_source": "synthetic", "audio_source": None,
        "resolution": "640x480", "frame_rate": 30,
    })
    changes = []
    publisher.on("video_dimensions_changed", changes.append)
    session = libpublisher.init_session(receiver.url(room))
    try:
        session.connect(token=receiver.token)
        session.publish(publisher)
        wait_for(lambda: session_stats(receiver, room)["video_frames"] >= 15, 10, "video")
        publisher.set_preferred_resolution("320x240")
        wait_for(lambda: "320x240" in session_stats(receiver, room)["video_sizes"], 5,
                 "320x240 at the receiver")
        wait_for(lambda: changes, 5, "videoDimensionsChanged")
        assert changes[0] == {"old_width": 640, "old_height": 480, "new_width": 320,
                              "new_height": 240}, changes

        publisher.set_preferred_frame_rate(10)
        time.sleep(1.0)
        start = time.time()
        time.sleep(2.0)
        rate = len(frames_between(session_stats(receiver, room), start, start + 2.0)) / 2.0
        assert 7 <= rate <= 13, rate

        # Larger than the source: the source's size, never scaled up.
        publisher.set_preferred_resolution("1920x1080")
        wait_for(lambda: len(changes) >= 2, 5, "back to the source's size")
        assert (changes[1]["new_width"], changes[1]["new_height"]) == (640, 480), changes

        with pytest.raises(libpublisher.Error) as e:
            publisher.set_preferred_resolution("huge")
        assert e.value.code == libpublisher.ErrorCode.INVALID_PARAMETER
        assert e.value.message.startswith("resolution:")
        with pytest.raises(libpublisher.Error) as e:
            publisher.set_preferred_frame_rate(0)
        assert e.value.code == libpublisher.ErrorCode.INVALID_PARAMETER
    finally:
        session.close()
        publisher.close()
    with pytest.raises(libpublisher.Error) as e:
        publisher.set_preferred_frame_rate(15)
    assert e.value.code == libpublisher.ErrorCode.ILLEGAL_STATE
