"""Starts tests/peers/whip_receiver.py on 127.0.0.1 and reads its stats, for the test suites."""

import json
import pathlib
import subprocess
import sys
import time
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent


class WhipReceiver:
    """A running aiortc WHIP receiver; `url(room)` is the endpoint of a room."""

    def __init__(self, token="s3cret"):
        self.token = token
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "whip_receiver.py"), "--token", token],
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
        return f"http://127.0.0.1:{self.port}/whip/{room}"

    def stats(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=5) as r:
            return json.loads(r.read())

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
