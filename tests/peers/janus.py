"""Starts a real Janus WebRTC server (Debian package `janus`) on 127.0.0.1 for the tests, with
only its VideoRoom plugin and its WebSocket transport, and stops it.

    with Janus() as janus:
        session = libpublisher.init_session(janus.url(1234))  # janus+ws://127.0.0.1:PORT/?room=1234
        ...
        with JanusViewer(janus.ws_url, 1234) as viewer:      # tests/peers/janus_viewer.py
            viewer.wait_for_frames(30, timeout=10)
        with ChromiumViewer(janus.ws_url, 1234) as viewer:   # tests/peers/chromium_viewer.py
            viewer.wait_for_frames(30, timeout=10)

Everything Janus reads is written into a temporary directory: `janus.jcfg`, the VideoRoom's
rooms (`janus.plugin.videoroom.jcfg`) and the WebSocket transport (`ws://127.0.0.1:PORT`, a
free port, protocol `janus-protocol`). Every other plugin, transport, event handler and logger
is disabled. `log()` is Janus's output so far; `kill()` ends it with SIGKILL (a server that
dies mid-stream); `stop()` ends it with SIGTERM, as an operator would.

Rooms are given as {room id: options}, each option a VideoRoom room setting (`publishers`,
`videocodec`, `audiocodec`, `pin`, `secret`, `bitrate`, `fir_freq`, ...; see
janus.plugin.videoroom.jcfg); a room gets `ROOM_DEFAULTS` for what it leaves out. Without
`rooms` the server has `ROOMS`: a plain room and one room for each refusal a test checks.
What Janus 1.1.2 answers there (`plugindata.data.error_code` and `error`):

    1234  VP8 + Opus, 3 publishers
    2000  the same with pin "sesame"    a join without a pin: 429 "Missing mandatory element
                                        (pin)"; with another pin: 433 "Unauthorized (wrong pin)"
    3000  1 publisher                   a second publisher joins fine; its offer (`publish`)
                                        gets 432 "Maximum number of publishers (1) already
                                        reached" once the first one's media is up (webrtcup)
    4000  H.264 only (+ Opus)           a VP8-only offer is not refused: see below
    999   (no such room)                join, listparticipants ...: 426 "No such room (999)"

A VP8-only offer to room 4000 gets `"configured": "ok"` with `"video_codec": "none"`, its video
stream `"disabled": true`, and an answer whose video section is `m=video 9 UDP/TLS/RTP/SAVPF 0`
with `a=inactive` (not port 0, and still in the BUNDLE group), the audio `a=recvonly`: the
publisher publishes audio only, and must read the answer (or the event) to know it.

ICE. Janus never gathers on a loopback interface (its ice.c skips IFF_LOOPBACK whatever
`ice_enforce_list` says; an enforce list naming `lo` only leaves the gathering to libnice,
which skips loopback too), so it offers no 127.0.0.1 candidate: its host candidates are the
machine's other IPv4 addresses (eth0, and any veth that is up). Its sockets are also tied to
their interface (IP_UNICAST_IF, seen with strace), so a check that comes from 127.0.0.1 is
answered through eth0 and never arrives: a peer whose only candidate is 127.0.0.1 cannot
connect. A peer with host candidates on the machine's addresses connects through them (e.g.
192.0.2.2 -> 192.0.2.2, which the kernel delivers locally), whether or not it offers
127.0.0.1 as well (tests/janus/test_janus_peer.py publishes from aiortc both ways). So a
peer must not bind to 127.0.0.1 alone: bound to 0.0.0.0 it is fine. Nothing is set for
ICE: the defaults (full ICE, half trickle, no IPv6, ephemeral ports so that several servers
never collide) work on any machine with an interface other than `lo` up. `settings` merges
further janus.jcfg settings ({section: {setting: value}}) over the generated ones.

Authentication, both off by default:
- `api_secret="..."`: every request must carry `"apisecret": "..."`.
- `token="..."`: stored-token authentication (`token_auth = true` without a
  `token_auth_secret`): the Admin API is opened on a second WebSocket port (`admin_ws_url`,
  protocol `janus-admin-protocol`, `admin_secret` below) and the token is added there
  (`add_token`, for every plugin) before the server is handed out; `add_token()` adds more.
  Every request must carry `"token": "..."`.
A request without the right secret or token is refused by the Janus core with
`{"janus": "error", "error": {"code": 403, "reason": "Unauthorized request (wrong or missing
secret/token)"}}`, `create` included (`info` and `ping` are not checked); with both set,
either one is enough. A stored token limited to other plugins gets 405 on `attach`.

`available()` says why Janus cannot run here (None when it can); a test module skips then.
"""

import asyncio
import concurrent.futures
import json
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from urllib.parse import urlencode

import aiohttp

from peers.process import kill_group, stop_group

#: Where Debian's janus package puts its plugins, transports, event handlers and loggers.
LIB = pathlib.Path("/usr/lib/x86_64-linux-gnu/janus")
#: The one plugin and the one transport the tests load.
PLUGIN, TRANSPORT = "libjanus_videoroom.so", "libjanus_websockets.so"

#: What a room has unless its options say otherwise.
ROOM_DEFAULTS = {"publishers": 3, "videocodec": "vp8", "audiocodec": "opus"}
#: The rooms of a server started without `rooms` (see the module's docstring).
ROOMS = {
    1234: {"description": "plain"},
    2000: {"description": "pin", "pin": "sesame"},
    3000: {"description": "one publisher", "publishers": 1},
    4000: {"description": "h264 only", "videocodec": "h264"},
}

#: The VideoRoom plugin's package name (the `plugin` of an `attach`).
VIDEOROOM = "janus.plugin.videoroom"

#: Janus API error codes (janus core, apierror.h) and VideoRoom error codes the tests meet.
UNAUTHORIZED = 403
UNAUTHORIZED_PLUGIN = 405
SESSION_NOT_FOUND = 458
NO_SUCH_ROOM = 426
NO_SUCH_FEED = 428
PUBLISHERS_FULL = 432
MISSING_ELEMENT = 429  # e.g. a join without the room's PIN
ROOM_UNAUTHORIZED = 433  # a wrong PIN
ALREADY_PUBLISHED = 434


def available():
    """None if Janus with its VideoRoom plugin and WebSocket transport is here, else why not."""
    if shutil.which("janus") is None:
        return "janus is not installed (Debian package janus)"
    for path in (LIB / "plugins" / PLUGIN, LIB / "transports" / TRANSPORT):
        if not path.exists():
            return f"{path} missing (Debian package janus)"
    return None


def free_port():
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jcfg_value(value):
    """A Python value in Janus's configuration syntax (libconfig)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(jcfg_value(v) for v in value) + "]"
    return json.dumps(str(value))


def jcfg(sections):
    """A configuration file of {section: {setting: value}}."""
    lines = []
    for name, settings in sections.items():
        lines.append(f"{name}: {{")
        lines += [f"\t{key} = {jcfg_value(value)}" for key, value in settings.items()]
        lines.append("}")
    return "\n".join(lines) + "\n"


def others(folder, keep):
    """The comma-separated list of the .so files in `folder` other than `keep` (to disable)."""
    return ",".join(sorted(p.name for p in folder.glob("*.so") if p.name != keep))


class Janus:
    """A running Janus with `rooms` (default `ROOMS`) on `ws_url`."""

    #: The Admin API secret (used only to add tokens).
    admin_secret = "lp-admin"

    def __init__(self, rooms=None, api_secret=None, token=None, debug_level=4, settings=None):
        reason = available()
        if reason:
            raise RuntimeError(reason)
        self.api_secret, self.token = api_secret, token
        self.rooms = {int(room): {**ROOM_DEFAULTS, **options}
                      for room, options in (ROOMS if rooms is None else rooms).items()}
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="lp-janus-"))
        self.log_path = self.dir / "janus.log"
        self.port = free_port()
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.admin_port = free_port() if token is not None else None
        self.admin_ws_url = f"ws://127.0.0.1:{self.admin_port}" if token is not None else None
        self._write_config(debug_level, settings or {})
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["janus", "-F", str(self.dir), "-C", str(self.dir / "janus.jcfg"), "-o"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.dir, start_new_session=True)
        try:
            self._wait_ready()
            if token is not None:
                self.add_token(token)
        except BaseException:
            self.cleanup()
            raise

    def _write_config(self, debug_level, settings):
        general = {
            "configs_folder": str(self.dir),
            "plugins_folder": str(LIB / "plugins"),
            "transports_folder": str(LIB / "transports"),
            "events_folder": str(LIB / "events"),
            "loggers_folder": str(LIB / "loggers"),
            "debug_level": debug_level,
            "admin_secret": self.admin_secret,
            "server_name": "libpublisher-tests",
        }
        if self.api_secret is not None:
            general["api_secret"] = self.api_secret
        if self.token is not None:
            general["token_auth"] = True
        sections = {
            "general": general,
            "media": {},
            "nat": {},
            "plugins": {"disable": others(LIB / "plugins", PLUGIN)},
            "transports": {"disable": others(LIB / "transports", TRANSPORT)},
            "events": {"broadcast": False},
            "loggers": {"disable": others(LIB / "loggers", "")},
        }
        for section, values in settings.items():
            sections[section] = {**sections.get(section, {}), **values}
        (self.dir / "janus.jcfg").write_text(jcfg(sections))
        admin = {"admin_ws": False}
        if self.admin_port is not None:
            admin = {"admin_ws": True, "admin_ws_port": self.admin_port,
                     "admin_ws_ip": "127.0.0.1"}
        (self.dir / "janus.transport.websockets.jcfg").write_text(jcfg({
            "general": {"json": "compact", "ws": True, "ws_port": self.port,
                        "ws_ip": "127.0.0.1", "wss": False},
            "admin": {**admin, "admin_wss": False},
        }))
        rooms = {"general": {}}
        for room, options in self.rooms.items():
            rooms[f"room-{room}"] = {"description": f"room {room}", **options}
        (self.dir / "janus.plugin.videoroom.jcfg").write_text(jcfg(rooms))

    def _listening(self, port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    def _wait_ready(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"janus exited ({self.proc.returncode}):\n{self.log()}")
            if self._listening(self.port) and (
                    self.admin_port is None or self._listening(self.admin_port)):
                return
            time.sleep(0.05)
        raise RuntimeError(f"janus did not start:\n{self.log()}")

    def url(self, room=1234, **query):
        """The URL a libpublisher session is given for `room`: `janus+ws://127.0.0.1:PORT/?room=N`,
        then `query` (e.g. pin="sesame") as further parameters."""
        return f"janus+ws://127.0.0.1:{self.port}/?" + urlencode({"room": room, **query})

    def add_token(self, token, plugins=None):
        """Adds a stored token through the Admin API (servers started with `token`), for
        `plugins` (package names) or every plugin; Janus's reply."""
        if self.admin_ws_url is None:
            raise RuntimeError("this server has no token authentication (start it with token=)")
        request = {"janus": "add_token", "token": token, "admin_secret": self.admin_secret,
                   "transaction": uuid.uuid4().hex}
        if plugins is not None:
            request["plugins"] = list(plugins)
        # On a thread of its own, so that it works from inside a running event loop too.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            reply = pool.submit(asyncio.run, self._admin(request)).result(15)
        if reply.get("janus") != "success":
            raise RuntimeError(f"add_token refused: {reply}")
        return reply

    async def _admin(self, request):
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(self.admin_ws_url,
                                       protocols=("janus-admin-protocol",)) as ws:
                await ws.send_json(request)
                return await asyncio.wait_for(ws.receive_json(), 10)

    def log(self):
        """What Janus printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def running(self):
        return self.proc.poll() is None

    def kill(self):
        """Ends Janus at once (SIGKILL): sessions and media stop without a word."""
        kill_group(self.proc)

    def stop(self):
        """Ends Janus with SIGTERM (it tears its sessions down), SIGKILL after 5 s."""
        stop_group(self.proc)

    def cleanup(self):
        self.stop()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
