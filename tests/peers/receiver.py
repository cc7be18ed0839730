"""Starts tests/peers/whip_receiver.py on 127.0.0.1 and reads its stats, for the test suites."""

import json
import pathlib
import subprocess
import sys
import time
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent


class WhipReceiver:
    """A running aiortc WHIP receiver; `url(room)` is the endpoint of a room. `host` is the
    address it listens on; `netns` runs it inside that network namespace (`ip netns exec`);
    `links` are `Link` header values it advertises (ICE servers, RFC 9725 section 4.6), to the
    connect probe and with the answer, or with the answer only (`links_with_answer_only`)."""

    def __init__(self, token="s3cret", host="127.0.0.1", netns=None, links=(),
                 links_with_answer_only=False):
        self.token = token
        self.host = host
        command = [sys.executable, str(HERE / "whip_receiver.py"), "--token", token,
                   "--host", host]
        for link in links:
            command += ["--link", link]
        if links_with_answer_only:
            command.append("--links-with-answer-only")
        if netns is not None:
            command = ["ip", "netns", "exec", netns] + command
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("LISTENING"):
            self.proc.kill()
            raise RuntimeError(f"the WHIP receiver did not start: {line!r}")
        self.port = int(line.split()[1])

    def url(self, room="room1"):
        return f"http://{self.host}:{self.port}/whip/{room}"

    def stats(self):
        with urllib.request.urlopen(f"http://{self.host}:{self.port}/stats", timeout=5) as r:
            return json.loads(r.read())

    def held_posts(self):
        """How many offers the `slow`/`slowpost` rooms received (and hold unanswered)."""
        with urllib.request.urlopen(f"http://{self.host}:{self.port}/held", timeout=5) as r:
            return json.loads(r.read())["posts"]

    def wait_for(self, predicate, timeout=10.0):
        """Polls the stats until `predicate(stats)` holds; returns the last stats."""
        deadline = time.monotonic() + timeout
        stats = self.stats()
        while not predicate(stats) and time.monotonic() < deadline:
            time.sleep(0.1)
            stats = self.stats()
        return stats

    def close(self):
        self.proc.kill()
        self.proc.wait()
