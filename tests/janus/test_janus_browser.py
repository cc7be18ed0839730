"""Publishing into a real Janus VideoRoom (Debian's janus, tests/peers/janus.py) from Python,
Rust, C and Node, watched by a browser: headless Chromium subscribed with janus.js
(tests/peers/chromium_viewer.py). Each language publishes the synthetic camera at 640x480@30
and the synthetic microphone (a steady 440 Hz tone at RMS 0.18) into a room of its own;
Chromium must present at least MIN_FPS frames a second over 10 s, end it at 640x480 having left
that size at most once (MAX_DIPS), and hear the tone. A screenshot of each video is saved
under pytest's tmp path; its path and the figures are printed (`pytest -s` shows them).

Two languages publish at once (ROUNDS), each watched by a Chromium of its own over the same
10 s: half the time of one after the other, and on 2 cores each browser still presents near 30
frames a second. So the module's first test runs them all, and each test checks its
language's share.
"""

import contextlib
import dataclasses
import struct
import time

import pytest

import libpublisher
from conftest import PUBLISH_PROGRAMS, start_publishing, synthetic
from peers import chromium_viewer, janus
from peers.chromium_viewer import ChromiumViewer

pytestmark = pytest.mark.skipif(
    janus.available() is not None or chromium_viewer.available() is not None,
    reason=str(janus.available() or chromium_viewer.available()))

LANGUAGE_ROOMS = {"python": 6001, "rust": 6002, "c": 6003, "node": 6004}
#: The window the frame rate is measured over, in seconds.
WINDOW = 10.0
#: Chromium decoding 30 fps from each publisher: 26.9–30.1 on an idle 2-core machine running
#: Janus, Chromium and the publisher at once, down to 23.5 with a build beside them. A broken
#: pipeline (a stall, keyframes only, a rate controller dropping frames) gives far fewer.
MIN_FPS = 20
#: How many times the video may leave 640x480 within the window. The link is loopback, but on
#: a CI machine's 2 cores, busy with two Chromiums, two encoders and Janus, the receiver once
#: fell behind enough for the publisher to step down to 320x240 and back up within the window
#: (at 29.9 fps). A publisher that keeps stepping (a rate controller or an estimate that
#: oscillates) leaves it more than once.
MAX_DIPS = 1
#: Well above silence (0) and a stream's noise, well below the tone's 0.18.
MIN_AUDIO_RMS = 0.05
#: The languages that publish at once, each watched by a Chromium of its own. All four at once
#: on 2 cores gave Chromium 19.4 to 21.6 fps on a CI machine; two at once leave it the CPU a
#: 30 fps stream needs.
ROUNDS = [("python", "rust"), ("c", "node")]
#: How long the programs publish: the round's browsers (started before them) subscribe one
#: after the other, then watch WINDOW seconds, all within it.
PROGRAM_SECONDS = 30


@dataclasses.dataclass
class Watched:
    """What Chromium measured of one language's stream (`figures`), or the error that stopped
    it; and how the publishing program ended."""

    figures: dict | None = None
    error: BaseException | None = None
    returncode: int | None = None
    output: str = ""


@pytest.fixture(scope="module")
def server():
    rooms = {room: {"description": language} for language, room in LANGUAGE_ROOMS.items()}
    with janus.Janus(rooms=rooms) as server:
        yield server


def png_size(path):
    """(width, height) of a PNG, from its IHDR chunk."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", header
    return struct.unpack(">II", header[16:24])


def sizes_during(changes, start):
    """The sizes the video had from `start` on, from its (time, width, height) changes."""
    before = [(w, h) for t, w, h in changes if t <= start][-1:]
    return before + [(w, h) for t, w, h in changes if t > start]


def measure(viewer, window_start, screenshot):
    stats = viewer.stats()
    return {
        "fps": round(viewer.fps_last(WINDOW), 1),
        "video_size": stats["video_size"],
        "sizes": sizes_during(stats["size_changes"], window_start),
        "audio_rms": round(stats["audio_rms"], 3),
        "frames_decoded": stats["frames_decoded"],
        "frames_dropped": stats["frames_dropped"],
        "screenshot": viewer.screenshot(screenshot),
    }


@pytest.fixture(scope="module")
def watched(server, tmp_path_factory):
    """Every language publishing into its room, watched by a Chromium of its own, ROUNDS at a
    time, each round over the same WINDOW: {language: Watched}."""
    shots = tmp_path_factory.mktemp("chromium")
    results = {language: Watched() for language in LANGUAGE_ROOMS}
    for languages in ROUNDS:
        watch(server, languages, shots, results)
    return results


def watch(server, languages, shots, results):
    """One round: `languages` publish and are watched at once; their `results` filled in."""
    with contextlib.ExitStack() as stack:
        # The browsers start before the publishers: four cold starts beside four encoders
        # took 39 s of a CI machine's 2 cores.
        viewers = {}
        for language in languages:
            try:
                viewers[language] = stack.enter_context(ChromiumViewer(
                    server.ws_url, LANGUAGE_ROOMS[language], timeout=15.0, subscribe=False))
            except Exception as e:
                results[language].error = e
        started = time.monotonic()
        programs = {}
        for language in languages:
            if language in PUBLISH_PROGRAMS:
                programs[language] = start_publishing(
                    language, server.url(LANGUAGE_ROOMS[language]), PROGRAM_SECONDS,
                    resolution="640x480")
                stack.callback(programs[language].kill)
        if "python" in languages:
            try:
                publisher = stack.enter_context(
                    libpublisher.init_publisher(synthetic("640x480", frame_rate=30)))
                session = stack.enter_context(
                    libpublisher.init_session(server.url(LANGUAGE_ROOMS["python"])))
                session.connect()
                session.publish(publisher)
            except Exception as e:
                results["python"].error = e
        for language in languages:
            if results[language].error is not None:
                viewers.pop(language, None)
                continue
            try:
                viewers[language].subscribe()
                viewers[language].wait_for_frames(15, timeout=15)
            except Exception as e:
                results[language].error = e
                del viewers[language]
        left = PROGRAM_SECONDS - (time.monotonic() - started)
        assert left > WINDOW + 2, f"the browsers took too long to subscribe: {left:.1f} s left"
        window_start = {language: v.stats()["now"] for language, v in viewers.items()}
        time.sleep(WINDOW)
        for language, viewer in viewers.items():
            try:
                results[language].figures = measure(viewer, window_start[language],
                                                    shots / f"chromium-{language}.png")
            except Exception as e:
                results[language].error = e
        for language, program in programs.items():
            try:
                results[language].output, _ = program.communicate(timeout=left + 15)
            except Exception as e:
                results[language].error = results[language].error or e
            results[language].returncode = program.returncode


@pytest.mark.parametrize("language", list(LANGUAGE_ROOMS))
def test_chromium_plays_what_each_language_publishes(language, watched):
    result = watched[language]
    if result.error is not None:
        raise result.error
    figures = result.figures
    print(f"\nchromium, {language} publishing: {figures}")
    if language in PUBLISH_PROGRAMS:
        assert result.returncode == 0, result.output[-2000:]
    assert figures["fps"] >= MIN_FPS, figures
    assert figures["video_size"] == (640, 480), figures
    sizes = figures["sizes"]
    dips = sum(1 for a, b in zip(sizes, sizes[1:]) if a == (640, 480) and b != (640, 480))
    # The publishing programs print each size they send at (`size … to … at …`).
    assert dips <= MAX_DIPS, (figures, result.output[-2000:])
    assert figures["audio_rms"] > MIN_AUDIO_RMS, figures
    assert png_size(figures["screenshot"]) == (640, 480), figures
