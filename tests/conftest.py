"""Fixtures and helpers shared by the suites that run against real peers (tests/whip,
tests/devices, tests/network). pytest loads this file for every test below tests/; the peers
themselves (the aiortc WHIP receiver, coturn, namespaces, the virtual microphone) live in
tests/peers. Helpers that are not fixtures are imported as `from conftest import ...`.

libpublisher is imported where it is used, not here: the suites that only start programs
(tests/devices, tests/conformance) need no binding in this process."""

import contextlib
import os
import pathlib
import queue
import subprocess
import sys
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from peers import clips, netns  # noqa: E402
from peers.receiver import WhipReceiver  # noqa: E402

#: The programs that publish to a WHIP URL from C (tests/whip/publish.c) and Node
#: (tests/whip/publish.mjs): `URL TOKEN SECONDS [custom]`, ICE settings from LP_ICE_*.
WHIP_PROGRAMS = {
    "c": [str(ROOT / "target" / "c" / "whip_publish")],
    "node": [os.environ.get("NODE", "node"), str(ROOT / "tests" / "whip" / "publish.mjs")],
}


def run_whip_program(language, url, token, seconds, *extra, env=None):
    """Runs a WHIP_PROGRAMS program to its end; its last line (`ok` or `error CODE NAME: …`),
    or the end of its stderr when it printed nothing."""
    out = subprocess.run(
        WHIP_PROGRAMS[language] + [url, token, str(seconds), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        env=None if env is None else {**os.environ, **env},
    )
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-2000:]


#: Programs that publish the synthetic camera and microphone to a session URL for some seconds,
#: then exit 0: the Rust example, and WHIP_PROGRAMS without a token (see start_publishing).
PUBLISH_PROGRAMS = {
    "rust": [str(ROOT / "target" / "release" / "examples" / "publish"), "--video", "synthetic",
             "--audio", "synthetic", "--resolution", "{resolution}", "--url", "{url}",
             "--seconds", "{seconds}"],
    "c": WHIP_PROGRAMS["c"] + ["{url}", "", "{seconds}"],
    "node": WHIP_PROGRAMS["node"] + ["{url}", "", "{seconds}"],
}


def start_publishing(language, url, seconds, resolution=None):
    """Starts PUBLISH_PROGRAMS[language] publishing to `url` for `seconds`; the process, its
    stderr in its stdout. `resolution` (WxH) is the camera's: by default 640x480 from Rust,
    1280x720 from C and Node (which read it from LP_RESOLUTION)."""
    env = dict(os.environ)
    if resolution is not None:
        env["LP_RESOLUTION"] = resolution
    command = [a.format(url=url, seconds=seconds, resolution=resolution or "640x480")
               for a in PUBLISH_PROGRAMS[language]]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)


def synthetic(resolution="640x480", **extra):
    """Publisher options: the synthetic camera and microphone at `resolution`, plus `extra`."""
    return {"video_source": "synthetic", "audio_source": "synthetic", "resolution": resolution,
            **extra}


def wait_until(predicate, timeout=10.0, interval=0.1):
    """Polls `predicate` until it holds or `timeout` seconds passed; whether it holds."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(interval)
    return predicate()


def wait_for(predicate, timeout, what):
    """Polls `predicate` every 20 ms; fails the test saying `what` did not come in time."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    pytest.fail(f"no {what} within {timeout} s")


def near(yuv, expected, tolerance=12):
    """Whether a mean (Y, U, V) (or RGB) is `expected`, each component within `tolerance`."""
    return all(abs(a - b) <= tolerance for a, b in zip(yuv, expected))


@contextlib.contextmanager
def publishing(receiver, room, options):
    """A publisher of `options` published to `room` for the block, which gets it; then closed
    with its session."""
    import libpublisher

    publisher = libpublisher.init_publisher(options)
    session = libpublisher.init_session(receiver.url(room))
    try:
        session.connect(token=receiver.token)
        session.publish(publisher)
        yield publisher
    finally:
        session.close()
        publisher.close()


def start_lines(command):
    """Starts `command`; returns the process and a queue of its output lines (stdout and
    stderr; None at the end)."""
    program = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    lines = queue.Queue()

    def read():
        for line in program.stdout:
            lines.put(line.rstrip())
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return program, lines


def read_until(lines, seen, predicate, timeout):
    """Appends lines of a `start_lines` queue to `seen` until one satisfies `predicate`;
    whether one did in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return False
        if line is None:
            return False
        seen.append(line)
        if predicate(line):
            return True
    return False


def new_sessions(stats, before):
    """The receiver sessions in `stats` (a receiver's stats) that are not in `before`."""
    return [v for k, v in stats.items() if k not in before]


def session_stats(receiver, room):
    """The receiver's stats of the one session in `room`."""
    stats = [s for s in receiver.stats().values() if s["room"] == room]
    assert len(stats) == 1, stats
    return stats[0]


def publish_until_decoded(receiver, publisher, room, options, frames=30):
    """Publishes `publisher` to `room` (session `options`) until the receiver decoded `frames`
    video frames, then unpublishes and disconnects; the receiver's stats of the new session(s)."""
    import libpublisher

    before = set(receiver.stats())
    with libpublisher.init_session(receiver.url(room), options) as session:
        session.connect(token=receiver.token)
        session.publish(publisher)
        stats = receiver.wait_for(
            lambda s: any(v["video_frames"] >= frames for v in new_sessions(s, before))
        )
        session.unpublish(publisher)
        session.disconnect()
    return new_sessions(stats, before)


def publish_failing(receiver, publisher, room, options):
    """Connects a session to `room` with `options` and publishes, which must raise; the error
    and how long publish took. The session stays connected and the publisher ready."""
    import libpublisher

    with libpublisher.init_session(receiver.url(room), options) as session:
        session.connect(token=receiver.token)
        started = time.monotonic()
        with pytest.raises(libpublisher.Error) as failure:
            session.publish(publisher)
        took = time.monotonic() - started
        assert session.state == "connected"
    assert publisher.state == "ready"
    return failure.value, took


@pytest.fixture(scope="module")
def receiver():
    """The aiortc WHIP receiver on 127.0.0.1, one per test module."""
    r = WhipReceiver()
    yield r
    r.close()


@pytest.fixture()
def start_receiver():
    """Starts further receivers (`WhipReceiver` keyword arguments: links, netns ...), each
    killed at the end of the test if the test did not kill it itself."""
    started = []

    def start(**options):
        r = WhipReceiver(**options)
        started.append(r)
        return r

    yield start
    for r in started:
        r.close()


@pytest.fixture()
def publisher_options():
    """The options of the `publisher` fixture; a module overrides this fixture for others."""
    return synthetic("640x480")


@pytest.fixture()
def publisher(publisher_options):
    """A ready publisher of `publisher_options`, closed at the end of the test."""
    import libpublisher

    p = libpublisher.init_publisher(publisher_options)
    yield p
    p.close()


# A WHIP receiver in a network namespace of its own, behind a link the tests cut, restore and
# impair (tests/network); `net` restores the link around each test.
@pytest.fixture(scope="module")
def network():
    with netns.ServerNetwork() as net:
        receiver = WhipReceiver(host=net.server_ip, netns=net.name)
        try:
            yield net, receiver
        finally:
            receiver.close()


@pytest.fixture()
def net(network):
    net, _ = network
    net.restore()
    yield net
    net.restore()


@pytest.fixture(scope="module")
def noise_clip(tmp_path_factory):
    """A 2 s Y4M clip of noise at 640x480@30 (tests/peers/clips.py)."""
    return clips.write_noise_y4m(tmp_path_factory.mktemp("clip") / "noise-640x480.y4m")
