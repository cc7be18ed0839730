"""A Janus VideoRoom subscriber in headless Chromium (Debian package `chromium`), for tests: the
page tests/peers/web/janus_viewer.html joins one publisher's feed with janus.js (Debian
`libjs-janus-gateway`, with `libjs-webrtc-adapter`) and measures what the browser decodes and
plays; Playwright (PyPI) drives it. Its API follows tests/peers/janus_viewer.py's:

    with ChromiumViewer(janus.ws_url, 1234) as viewer:       # tests/peers/janus.py
        viewer.wait_for_frames(30, timeout=10)
        time.sleep(10)
        assert viewer.fps_last(10) >= 25
        viewer.screenshot(tmp_path / "video.png")

Without `feed_id` the page asks the room for its participants until one publishes and watches
the first, as JanusViewer does; it joins as a subscriber (with the room's `pin`), answers
Janus's offer and sends `start`. The constructor returns once Janus took the answer, or raises
TimeoutError when the room had no publisher within `timeout`, RuntimeError for anything else;
either message carries the page's console, its latest events and Chromium's latest output.

What the page measures (`stats()`):
- video: a requestVideoFrameCallback for each frame Chromium composites, with its
  `presentedFrames` (frames handed to the compositor, so that frames presented between two
  callbacks count too) and its size: `video_frames` in all, `video_presented` ((time,
  presentedFrames) of the latest 1800 callbacks), `fps_last(seconds)`,
  `video_size` (the element's videoWidth x videoHeight), `size_changes` ((time, width,
  height) each time the frames' size changed), and the decoder's own `frames_decoded` and
  `frames_dropped` (getStats);
- audio: the RMS (0..1, a full-scale sine is 0.707) of the remote track through a WebAudio
  AnalyserNode every 50 ms; `audio_rms` is that of the latest second.
Times are wall-clock seconds (as `time.time()`), taken in the page.
`switch_substream(n)` asks Janus for simulcast layer n; `screenshot(path)` saves a PNG of the
video element.

Chromium is started here, and Playwright attached to it over CDP, rather than started by
Playwright's launch: the browser is then a process group of ours, killed whatever state
Playwright is in, and its stderr is ours to report. Flags: headless; autoplay without a
gesture; host candidates with their addresses, not mDNS names (Janus cannot resolve `.local`
names); no sandbox as root (Chromium does not start otherwise); no throttling of timers or
rendering, so that frames are counted as they come; muted output (WebAudio still gets the
samples). The page and the Debian scripts are served
by a small HTTP server of the viewer's on 127.0.0.1. The viewers of a thread share one
Playwright (its sync API allows one a thread); Chromiums still running when Python exits are
killed then.

`available()` says why the viewer cannot run here (None when it can); a test module skips then.
"""

import atexit
import collections
import http.server
import os
import pathlib
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from urllib.parse import urlencode, urlsplit

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from peers.process import kill_group, stop_group

#: Debian's chromium (a script that execs the browser, keeping its process id).
CHROMIUM = "/usr/bin/chromium"
WEB = pathlib.Path(__file__).resolve().parent / "web"
JAVASCRIPT = pathlib.Path("/usr/share/javascript")
#: What the page loads, by the path it asks for.
FILES = {
    "/janus_viewer.html": WEB / "janus_viewer.html",
    "/janus_viewer.js": WEB / "janus_viewer.js",
    "/janus.js": JAVASCRIPT / "janus-gateway" / "janus.js",
    "/adapter.js": JAVASCRIPT / "webrtc-adapter" / "adapter.js",
}
FLAGS = [
    "--headless",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--window-size=1280,720",
]
#: Chromium's output lines kept for error messages.
OUTPUT_KEPT = 40
#: How long Chromium gets to start and take the page, whatever the viewer's `timeout` (which
#: bounds the room's steps): its first start on a fresh machine reads it from a cold disk, and
#: took over a second in CI.
STARTUP = 10.0
#: Chromium's output lines that say nothing about the test: D-Bus, absent in containers, and
#: Debian's launcher script tripping over its own /dev/shm check.
NOISE = re.compile(r"dbus/|^/usr/bin/chromium: \d+: |^\s*$")


def available():
    """None if Chromium and the page's scripts are here, else why not."""
    if not os.access(CHROMIUM, os.X_OK):
        return "chromium is not installed (Debian package chromium)"
    for path in FILES.values():
        if not path.exists():
            return f"{path} missing (Debian packages libjs-janus-gateway, libjs-webrtc-adapter)"
    return None


class _Files(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        path = FILES.get(urlsplit(self.path).path)
        if path is None:
            self.send_error(404)
            return
        body = path.read_bytes()
        self.send_response(200)
        kind = "text/html" if path.suffix == ".html" else "text/javascript"
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


#: The Chromiums running: a program that ends without closing its viewers ends them too.
_running = set()
atexit.register(lambda: [kill_group(proc) for proc in list(_running)])

# Playwright's sync API runs one driver per thread at a time: the viewers of a thread share it.
_drivers = threading.local()


def _driver():
    """This thread's Playwright, started for its first viewer."""
    if getattr(_drivers, "users", 0) == 0:
        _drivers.playwright = sync_playwright().start()
        _drivers.users = 0
    _drivers.users += 1
    return _drivers.playwright


def _release_driver():
    """Stops this thread's Playwright when its last viewer is gone."""
    _drivers.users -= 1
    if _drivers.users == 0:
        playwright, _drivers.playwright = _drivers.playwright, None
        try:
            playwright.stop()
        except PlaywrightError:
            pass


def presented_fps(frames, now, seconds):
    """Frames presented per second over the `seconds` before `now`, from (time,
    presentedFrames) pairs; frames before the first pair in the window count from the pair
    just before it, or as one when there is none."""
    start = now - seconds
    before = [f for f in frames if f[0] <= start]
    inside = [f for f in frames if f[0] > start]
    if not inside:
        return 0.0
    base = before[-1][1] if before else inside[0][1] - 1
    return (inside[-1][1] - base) / seconds


class ChromiumViewer:
    """A subscriber in headless Chromium to `feed_id` (or the room's first publisher) of
    VideoRoom `room`."""

    def __init__(self, ws_url, room, feed_id=None, pin=None, timeout=15.0, subscribe=True):
        """Starts Chromium and, unless `subscribe` is false, subscribes (see `subscribe`)."""
        self.ws_url, self.room, self.feed_id, self.pin = ws_url, room, feed_id, pin
        self.timeout = timeout
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="lp-chromium-"))
        self.proc = self.page = self._browser = self._playwright = self._http = None
        #: Chromium's latest output lines, and the page's console messages and errors.
        self.output = collections.deque(maxlen=OUTPUT_KEPT)
        self.console = collections.deque(maxlen=OUTPUT_KEPT)
        #: The subscription's streams as Janus described them ({"type", "mid", ...}).
        self.streams = []
        try:
            self._serve()
            startup = max(timeout, STARTUP)
            self._connect(self._launch(startup), startup)
            if subscribe:
                self.subscribe()
        except BaseException:
            self.close()
            raise

    def _serve(self):
        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
        threading.Thread(target=self._http.serve_forever, name="chromium-viewer-http",
                         daemon=True).start()

    def _launch(self, timeout):
        command = [CHROMIUM, *FLAGS, f"--user-data-dir={self.dir / 'profile'}",
                   "--remote-debugging-port=0", "about:blank"]
        if os.geteuid() == 0:
            command.insert(1, "--no-sandbox")
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, errors="replace", start_new_session=True)
        _running.add(self.proc)
        endpoints = queue.Queue()

        def read():
            for line in self.proc.stderr:
                if not NOISE.search(line):
                    self.output.append(line.rstrip())
                found = re.search(r"DevTools listening on (ws://\S+)", line)
                if found:
                    endpoints.put(found.group(1))
            endpoints.put(None)

        threading.Thread(target=read, name="chromium-viewer-stderr", daemon=True).start()
        try:
            endpoint = endpoints.get(timeout=timeout)
        except queue.Empty:
            endpoint = None
        if endpoint is None:
            raise RuntimeError(f"chromium did not start within {timeout} s"
                               f"{self._diagnostics()}")
        return endpoint

    def _connect(self, endpoint, timeout):
        self._playwright = _driver()
        self._browser = self._playwright.chromium.connect_over_cdp(endpoint,
                                                                   timeout=timeout * 1000)
        self.page = self._browser.contexts[0].new_page()
        self.page.set_default_timeout(timeout * 1000)
        self.page.on("console", lambda m: self.console.append(f"console.{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"page error: {e}"))

    def subscribe(self):
        """Opens the viewer page, which subscribes to the room's feed, each of its steps
        bounded by the viewer's `timeout`. A viewer made with `subscribe=False` has Chromium
        running and calls this once the room has its publisher: a cold start then does not
        count against the room's timeout, nor compete with the publishers for the CPU."""
        timeout = self.timeout
        query = {"ws": self.ws_url, "room": self.room, "timeout": timeout}
        if self.feed_id is not None:
            query["feed"] = self.feed_id
        if self.pin is not None:
            query["pin"] = self.pin
        port = self._http.server_address[1]
        self.page.goto(f"http://127.0.0.1:{port}/janus_viewer.html?{urlencode(query)}")
        try:
            # The page bounds each step by `timeout`: the whole by a few of them.
            self.page.wait_for_function("() => window.viewer && viewer.state !== 'starting'",
                                        timeout=(3 * timeout + 5) * 1000, polling=100)
        except PlaywrightTimeout:
            raise TimeoutError(f"the page did not subscribe to room {self.room}"
                               f"{self._diagnostics()}") from None
        state = self.page.evaluate("() => viewer.snapshot()")
        if state["state"] != "subscribed":
            error = TimeoutError if state["timedOut"] else RuntimeError
            raise error(f"{state['error']}{self._diagnostics(state)}")
        self.feed_id, self.streams = state["feed"], state["streams"]

    def _diagnostics(self, state=None):
        """The page's console, its latest events and Chromium's output, for error messages."""
        if state is None and self.page is not None:
            try:
                state = self.page.evaluate("() => window.viewer && viewer.snapshot()")
            except PlaywrightError:
                state = None
        lines = ["", "page console:", *self.console]
        if state:
            lines += ["page events:", *map(str, state["events"][-15:])]
        lines += ["chromium:", *self.output]
        return "\n  ".join(lines)

    def _snapshot(self):
        return self.page.evaluate("() => viewer.snapshot()")

    def stats(self):
        """What the page measured so far (see the module's docstring)."""
        state = self._snapshot()
        now = state["now"] / 1000
        frames = [(t / 1000, presented) for t, presented, _, _ in state["frames"]]
        levels = [rms for t, rms in state["levels"] if t / 1000 >= now - 1]
        return {
            "now": now,
            "state": state["state"],
            "video_frames": frames[-1][1] if frames else 0,
            "video_frame_times": [t for t, _ in frames],
            "video_presented": frames,
            "video_size": (state["videoWidth"], state["videoHeight"])
            if state["videoWidth"] else None,
            "size_changes": [(t / 1000, w, h) for t, w, h in state["sizes"]],
            "frames_decoded": state["framesDecoded"],
            "frames_dropped": state["framesDropped"],
            "audio_rms": (sum(v * v for v in levels) / len(levels)) ** 0.5 if levels else 0.0,
            "audio_state": state["audioState"],
        }

    def fps_last(self, seconds):
        """Video frames presented per second over the last `seconds`."""
        stats = self.stats()
        return presented_fps(stats["video_presented"], stats["now"], seconds)

    def wait_for(self, predicate, timeout, what="condition"):
        """Polls the stats until `predicate(stats)` holds; the stats. Raises TimeoutError
        (with the stats and the page's console) if it did not in time."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if predicate(stats):
                return stats
            if time.monotonic() > deadline:
                summary = {k: stats[k] for k in ("video_frames", "video_size", "frames_decoded",
                                                  "audio_rms", "audio_state")}
                raise TimeoutError(f"no {what} within {timeout} s: {summary}"
                                   f"{self._diagnostics()}")
            time.sleep(0.1)

    def wait_for_frames(self, count, timeout=10.0):
        """Waits until `count` video frames were presented in all; the stats."""
        return self.wait_for(lambda s: s["video_frames"] >= count, timeout,
                             f"{count} presented video frames")

    def wait_for_audio(self, level=0.01, timeout=10.0):
        """Waits until the latest second of audio is at least `level` (RMS); the stats."""
        return self.wait_for(lambda s: s["audio_rms"] >= level, timeout,
                             f"audio at RMS {level}")

    def switch_substream(self, substream, temporal=None):
        """Asks Janus for simulcast layer `substream` (0 lowest .. 2) of the video (and
        `temporal` layer) with a `configure` on the subscriber's handle; Janus's reply data."""
        try:
            return self.page.evaluate("([s, t]) => viewer.switchSubstream(s, t)",
                                      [substream, temporal])
        except PlaywrightError as e:
            raise RuntimeError(f"configure failed: {e.message}{self._diagnostics()}") from None

    def screenshot(self, path):
        """Saves a PNG of the video element at `path`; the path."""
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.locator("#remote").screenshot(path=str(path))
        return path

    def events(self):
        """What Janus and janus.js said so far (plugin events, ICE and WebRTC states)."""
        return self._snapshot()["events"]

    def close(self):
        # Chromium first: whatever Playwright is doing then ends with the connection.
        if self.proc is not None:
            stop_group(self.proc)
            _running.discard(self.proc)
        if self._browser is not None:
            try:
                self._browser.close()
            except PlaywrightError:
                pass
        if self._playwright is not None:
            _release_driver()
        self.proc = self._browser = self._playwright = self.page = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
