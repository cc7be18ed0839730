"""The `screen` source against the aiortc receiver: an Xvfb display (tests/peers/xvfb.py) shows
a known picture, left half red and right half blue, and the receiver must decode it with its
colours on their sides, at the screen's shape fitted within the publisher's resolution.

Also: screens are listed by get_devices(); a live publisher switches synthetic → file → screen
on one track with no gap over 500 ms; and what cannot work says why (no such screen 1582, no
display 1581, a Wayland session 1580, a screen as audio 1011)."""

import os
import subprocess
import sys
import time

import pytest

import libpublisher
import conftest
from conftest import ROOT, WHIP_PROGRAMS, publishing, session_stats, wait_for
from peers import clips, xvfb

pytestmark = pytest.mark.skipif(xvfb.available() is not None, reason=str(xvfb.available()))

#: A colour is that colour when every component is this near.
TOLERANCE = 14


def near(yuv, expected):
    return conftest.near(yuv, expected, TOLERANCE)


def shows_the_picture(stats):
    halves = stats["video_halves"]
    return halves is not None and near(halves[0], xvfb.LEFT_YUV) and near(halves[1], xvfb.RIGHT_YUV)


@pytest.fixture(scope="module")
def screen():
    """A 1280x720 virtual screen, the DISPLAY of this process while the module runs."""
    with xvfb.VirtualScreen(1280, 720) as screen:
        saved = {key: os.environ.get(key) for key in ("DISPLAY", "WAYLAND_DISPLAY")}
        os.environ["DISPLAY"] = screen.display
        os.environ.pop("WAYLAND_DISPLAY", None)
        try:
            yield screen
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def test_screens_are_listed_as_devices(screen):
    screens = [d for d in libpublisher.get_devices() if d.kind == "screen"]
    assert [d.device_id for d in screens] == ["screen:0"], screens
    assert "1280x720" in screens[0].label, screens[0].label


def test_a_screen_is_published_with_its_colours_and_shape(screen, receiver):
    room = "screen-init"
    options = {"video_source": "screen", "audio_source": None, "resolution": "640x480"}
    with publishing(receiver, room, options) as publisher:
        wait_for(lambda: session_stats(receiver, room)["video_frames"] >= 30, 10,
                 "30 decoded frames of the screen")
        stats = session_stats(receiver, room)
        # 1280x720 fitted within 640x480 keeps the screen's shape.
        assert set(stats["video_sizes"]) == {"640x360"}, stats["video_sizes"]
        assert shows_the_picture(stats), stats["video_halves"]
        # The sent size is measured once a second.
        wait_for(lambda: publisher.get_stats()["frame_width"] == 640, 3, "a sent width of 640")
        assert publisher.get_stats()["frame_height"] == 360


def test_switch_synthetic_then_file_then_screen_while_publishing(screen, receiver, tmp_path):
    """Each source's content and size in turn at the receiver, no gap over 500 ms at a switch,
    one offer for all of it."""
    green = (144, 54, 34)
    green_clip = clips.write_solid_y4m(tmp_path / "green.y4m", green, 320, 240)
    room = "screen-switch"
    options = {"video_source": "synthetic", "audio_source": "synthetic", "resolution": "640x480"}
    with publishing(receiver, room, options) as publisher:
        wait_for(lambda: session_stats(receiver, room)["video_frames"] >= 30, 10,
                 "decoded synthetic video")
        assert not shows_the_picture(session_stats(receiver, room))

        switches = [time.time()]
        publisher.set_video_source(f"file:{green_clip}")
        wait_for(lambda: near(session_stats(receiver, room)["video_yuv"][-1], green), 5,
                 "the green file at the receiver")
        switches.append(time.time())
        publisher.set_video_source("screen")
        wait_for(lambda: shows_the_picture(session_stats(receiver, room)), 5,
                 "the screen's picture at the receiver")
        frames = session_stats(receiver, room)["video_frames"]
        wait_for(lambda: session_stats(receiver, room)["video_frames"] >= frames + 30, 5,
                 "the screen going on")
        stats = session_stats(receiver, room)
        # The file is scaled to the publisher's size; the screen keeps its shape.
        assert set(stats["video_sizes"]) == {"640x480", "640x360"}, stats["video_sizes"]
        times = [t for t in stats["video_frame_times"] if t >= switches[0] - 1]
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert max(gaps) <= 0.5, max(gaps)
        assert stats["audio_level"] > 0.05
        assert len([s for s in receiver.stats().values() if s["room"] == room]) == 1

        # No such screen: 1582, and the screen goes on.
        with pytest.raises(libpublisher.Error) as e:
            publisher.set_video_source("screen:7")
        assert e.value.code == libpublisher.ErrorCode.DEVICE_NOT_FOUND, e.value
        frames = session_stats(receiver, room)["video_frames"]
        wait_for(lambda: session_stats(receiver, room)["video_frames"] >= frames + 15, 5,
                 "the screen after a failed switch")
        assert shows_the_picture(session_stats(receiver, room))
        with pytest.raises(libpublisher.Error) as e:
            publisher.set_audio_source("screen")
        assert e.value.code == libpublisher.ErrorCode.INVALID_PARAMETER, e.value


#: Run in a process of its own, whose environment the test sets.
INIT_SCREEN = """
import libpublisher
try:
    libpublisher.init_publisher({"video_source": "screen", "audio_source": None})
    print("opened")
except libpublisher.Error as e:
    print(int(e.code), e.message)
"""


@pytest.mark.parametrize("env, code, says", [
    ({}, 1581, "DISPLAY"),
    ({"WAYLAND_DISPLAY": "wayland-0"}, 1580, "Wayland"),
    ({"DISPLAY": ":0.999"}, 1580, "cannot connect"),
])
def test_without_an_x_display_the_code_says_why(env, code, says):
    base = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = subprocess.run([sys.executable, "-c", INIT_SCREEN], env={**base, **env},
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    got, message = out.stdout.strip().split(" ", 1)
    assert int(got) == code, out.stdout
    assert says in message, message


def test_without_shared_memory_the_picture_comes_through_get_image(screen, monkeypatch):
    """A display without MIT-SHM (as one on another machine): the same picture, read over
    the socket."""
    import io

    import av
    with xvfb.VirtualScreen(320, 240, extra_args=("-extension", "MIT-SHM")) as plain:
        monkeypatch.setenv("DISPLAY", plain.display)
        publisher = libpublisher.init_publisher({
            "video_source": "screen", "audio_source": None, "resolution": "320x240",
        })
        try:
            png = publisher.snapshot()
        finally:
            publisher.close()
    with av.open(io.BytesIO(png), format="png_pipe") as container:
        rgb = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert rgb.shape == (240, 320, 3), rgb.shape
    left, right = rgb[:, :120].reshape(-1, 3).mean(axis=0), rgb[:, -120:].reshape(-1, 3).mean(axis=0)
    assert conftest.near(left, (255, 0, 0), 6) and conftest.near(right, (0, 0, 255), 6), (left, right)


def test_a_display_that_goes_away_stops_the_video(screen, monkeypatch):
    """The X server ends while its screen is captured: `media_stopped` (video)."""
    stopped = []
    display = xvfb.VirtualScreen(320, 240)
    try:
        monkeypatch.setenv("DISPLAY", display.display)
        publisher = libpublisher.init_publisher({
            "video_source": "screen", "audio_source": None, "resolution": "320x240",
        })
        publisher.on("media_stopped", stopped.append)
        display.close()
        wait_for(lambda: stopped, 5, "media_stopped")
        assert stopped == ["video"], stopped
        publisher.close()
    finally:
        display.close()


def test_no_such_screen_at_init_is_1582(screen):
    with pytest.raises(libpublisher.Error) as e:
        libpublisher.init_publisher({"video_source": "screen:3", "audio_source": None})
    assert e.value.code == libpublisher.ErrorCode.DEVICE_NOT_FOUND
    with pytest.raises(libpublisher.Error) as e:
        libpublisher.init_publisher({"video_source": "synthetic", "audio_source": "screen"})
    assert e.value.code == libpublisher.ErrorCode.INVALID_PARAMETER


def live_programs(url, token, sources):
    """The other languages' programs in their `live` mode: audio off at first, on a second
    into publishing, then a switch to each source a second apart, 2 s more at the end; the
    consent callback refuses a switch to the synthetic camera."""
    rust = [str(ROOT / "target" / "release" / "examples" / "publish"), "--video", "synthetic",
            "--audio", "synthetic", "--resolution", "640x480", "--seconds",
            str(len(sources) + 4), "--audio-on", "1", "--url", url, "--token", token]
    for at, source in enumerate(sources, start=2):
        rust += ["--switch-video", f"{at}:{source}"]
    rust += ["--refuse-switch-to", "synthetic"]
    return {
        "rust": rust,
        "c": WHIP_PROGRAMS["c"] + [url, token, "2", "live", *sources],
        "node": WHIP_PROGRAMS["node"] + [url, token, "2", "live", *sources],
    }


@pytest.mark.parametrize("language", ["rust", "c", "node"])
def test_live_control_from_every_language(screen, receiver, tmp_path, language):
    """Audio off from the start and turned on later decodes as the tone; video switches
    synthetic → file → (a missing file: 1584, an unknown camera: 1582; the file goes on) →
    screen → (synthetic, consent refused: 1500; the screen goes on) on one track, each source
    seen at the receiver in turn, no gap over 500 ms."""
    green = (144, 54, 34)
    green_clip = clips.write_solid_y4m(tmp_path / "green.y4m", green, 320, 240)
    missing = tmp_path / "missing.y4m"
    sources = [f"file:{green_clip}", f"file:{missing}", "video:no-such-camera", "screen",
               "synthetic"]
    room = f"screen-live-{language}"
    command = live_programs(receiver.url(room), receiver.token, sources)[language]
    program = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=screen.env)
    seen = []  # (time, audio level, latest mean YUV) while the program runs
    try:
        while program.poll() is None:
            stats = next((s for s in receiver.stats().values() if s["room"] == room), None)
            if stats and stats["video_yuv"]:
                seen.append((time.time(), stats["audio_level"], stats["video_yuv"][-1]))
            time.sleep(0.1)
        out, err = program.communicate(timeout=30)
    finally:
        program.kill()
    lines = out.splitlines()
    assert program.returncode == 0, (lines, err[-2000:])
    at = {}
    for line in lines:
        words = line.split()
        if line.startswith("audio on at "):
            at["audio"] = float(words[-1])
        elif line.startswith("switch "):
            at[words[1]] = (words[2] if words[2] == "ok" else int(words[3]), float(words[-1]))
    assert at[f"file:{green_clip}"][0] == "ok", lines
    assert at[f"file:{missing}"][0] == 1584, lines
    assert at["video:no-such-camera"][0] == 1582, lines
    assert at["screen"][0] == "ok", lines
    assert at["synthetic"][0] == 1500, lines
    # Silence until audio is turned on, the tone after.
    before = [level for t, level, _ in seen if t < at["audio"] - 0.3]
    after = [level for t, level, _ in seen if t > at["audio"] + 1]
    assert before and max(before) < 0.01, before
    assert after and min(after) > 0.05, after
    # The file's green between its switch and the screen's; the screen's picture at the end.
    green_at = at[f"file:{green_clip}"][1]
    assert any(near(yuv, green) for t, _, yuv in seen if green_at < t < at["screen"][1]), seen
    # The file went on through the failed switches.
    assert all(near(yuv, green) for t, _, yuv in seen
               if at[f"file:{missing}"][1] < t < at["video:no-such-camera"][1]), seen
    # The screen through the refused one, to the end.
    stats = session_stats(receiver, room)
    assert shows_the_picture(stats), stats["video_halves"]
    assert stats["video_frame_times"][-1] > at["synthetic"][1] + 1
    assert set(stats["video_sizes"]) == {"640x480", "640x360"}, stats["video_sizes"]
    times = [t for t in stats["video_frame_times"] if green_at - 2 <= t <= at["screen"][1] + 1]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert times and max(gaps) <= 0.5, max(gaps)
    assert len([s for s in receiver.stats().values() if s["room"] == room]) == 1
