"""Custom sources against the aiortc receiver: a stream the host pushes (red, green and blue
for a second each, and a 440 Hz tone) decodes there, at the publisher's resolution, in the
colours pushed: the pixels are the host's, not a test pattern. From Python (through the
binding), C (tests/whip/publish.c) and Node (tests/whip/publish.mjs)."""

import threading
import time

import numpy as np
import pytest

import libpublisher
from conftest import WHIP_PROGRAMS, near, new_sessions, run_whip_program

# BT.601 limited range of the pushed colours, as the publisher converts RGBA.
RED, GREEN, BLUE = (82, 90, 240), (144, 54, 34), (41, 240, 110)
SECONDS = 3.5


def check_decoded(ours):
    # At the publisher's size; adaptation may step it down for a moment (seen on a loaded
    # machine near the end of a stream), never up.
    sizes = ours["video_sizes"]
    assert sizes.get("320x240", 0) >= 0.8 * sum(sizes.values()), ours
    assert all(int(size.split("x")[0]) <= 320 for size in sizes), ours
    assert ours["video_frames"] >= 60, ours
    assert ours["audio_frames"] >= 100, ours
    # A 440 Hz tone at a quarter of full scale: RMS about 0.18 (0 would be silence).
    assert 0.08 < ours["audio_level"] < 0.3, ours
    seen = ours["video_yuv"]
    for name, colour in (("red", RED), ("green", GREEN), ("blue", BLUE)):
        assert any(near(sample, colour) for sample in seen), (name, colour, seen)
    # Solid frames: nothing else than the three colours, but for a frame mixing two of them.
    strays = [s for s in seen if not any(near(s, c, 20) for c in (RED, GREEN, BLUE))]
    assert len(strays) <= 2, strays


def yuv_frame(width, height, colour):
    """Packed I420 of one colour, as numpy planes one after the other."""
    y, u, v = colour
    return np.concatenate(
        [
            np.full(width * height, y, np.uint8),
            np.full(width * height // 4, u, np.uint8),
            np.full(width * height // 4, v, np.uint8),
        ]
    )


def push_media(publisher, stop, failures):
    """A host's capture thread: 640x480 I420 (scaled to 320x240) at 30 fps, red, green and
    blue for a second each; a 440 Hz tone in 10 ms pieces kept 20 ms ahead."""
    frames = {c: yuv_frame(640, 480, c) for c in (RED, GREEN, BLUE)}
    n = np.arange(480)
    start = time.monotonic()
    sent_frames, audio_ms = 0, 0
    try:
        while not stop.is_set():
            t = time.monotonic() - start
            while audio_ms <= t * 1000 + 20:
                phase = 2 * np.pi * 440 * (n + audio_ms * 48) / 48000
                publisher.push_audio_frame((np.sin(phase) * 8192).astype(np.int16))
                audio_ms += 10
            if sent_frames <= t * 30:
                colour = (RED, GREEN, BLUE)[int(t) % 3]
                publisher.push_video_frame(frames[colour], 640, 480, "i420", int(t * 1e6))
                sent_frames += 1
            time.sleep(0.002)  # paces the pushes: the loop sends what is due, then waits
    except libpublisher.Error as e:
        failures.append(e)


def test_python_pushed_stream_decodes_in_its_colours(receiver):
    before = set(receiver.stats())
    publisher = libpublisher.init_publisher(
        {"video_source": "custom", "audio_source": "custom", "resolution": "320x240"}
    )
    stop, failures = threading.Event(), []
    pusher = threading.Thread(target=push_media, args=(publisher, stop, failures))
    pusher.start()
    try:
        with libpublisher.init_session(receiver.url("custom-python")) as session:
            session.connect(token=receiver.token)
            session.publish(publisher)
            # The stream runs its length: each of the three colours is pushed for a second.
            time.sleep(SECONDS)
            session.unpublish(publisher)
            session.disconnect()
    finally:
        stop.set()
        pusher.join()
        publisher.close()
    assert not failures, failures
    ours = new_sessions(receiver.stats(), before)
    assert len(ours) == 1, ours
    check_decoded(ours[0])


@pytest.mark.parametrize("language", list(WHIP_PROGRAMS))
def test_pushed_stream_decodes_in_its_colours(receiver, language):
    before = set(receiver.stats())
    result = run_whip_program(language, receiver.url(f"custom-{language}"), receiver.token,
                              SECONDS, "custom")
    assert result == "ok", result
    ours = new_sessions(receiver.stats(), before)
    assert len(ours) == 1, ours
    check_decoded(ours[0])
