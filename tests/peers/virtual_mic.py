"""A paced virtual microphone for tests: a private PulseAudio server with a null sink, whose
monitor is the default source, and a 440 Hz tone played into the sink. ALSA's pulse plugin
(libasound2-plugins) makes it ALSA's `default` device for processes started with `env`, so
cpal captures it through its real ALSA path, in real time.

    with VirtualMicrophone() as mic:
        subprocess.run([...], env=mic.env)
"""

import math
import os
import shutil
import struct
import subprocess
import tempfile
import time

TONE_HZ = 440
TONE_AMPLITUDE = 0.25  # of full scale: RMS level 0.177


def tone_bytes(seconds, rate=48000):
    """Signed 16-bit mono PCM of the test tone."""
    peak = TONE_AMPLITUDE * 32767
    return b"".join(
        struct.pack("<h", int(peak * math.sin(2 * math.pi * TONE_HZ * i / rate)))
        for i in range(int(seconds * rate))
    )


class VirtualMicrophone:
    def __init__(self, tone=True):
        if shutil.which("pulseaudio") is None or shutil.which("pacat") is None:
            raise RuntimeError("pulseaudio and pulseaudio-utils are needed (scripts/install-deps)")
        self.runtime_dir = tempfile.mkdtemp(prefix="lp-pulse-")
        os.chmod(self.runtime_dir, 0o700)
        self.env = {**os.environ, "XDG_RUNTIME_DIR": self.runtime_dir}
        self.env.pop("PULSE_SERVER", None)
        self.server = subprocess.Popen(
            ["pulseaudio", "--daemonize=no", "-n", "--exit-idle-time=-1",
             "--load=module-native-protocol-unix",
             "--load=module-null-sink sink_name=vsink rate=48000 channels=1"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while subprocess.run(["pactl", "info"], env=self.env, capture_output=True).returncode:
            if self.server.poll() is not None or time.monotonic() > deadline:
                err = self.server.stderr.read().decode(errors="replace") if self.server.stderr else ""
                self.close()
                raise RuntimeError(f"pulseaudio did not start: {err[-500:]}")
            time.sleep(0.1)
        subprocess.run(["pactl", "set-default-source", "vsink.monitor"], env=self.env, check=True)
        self.player = None
        if tone:
            self.play_tone()

    def play_tone(self, seconds=120):
        """Plays the tone into the sink in the background (paced by the server)."""
        self.player = subprocess.Popen(
            ["pacat", "--device=vsink", "--raw", "--rate=48000", "--channels=1",
             "--format=s16le"],
            env=self.env, stdin=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        data = tone_bytes(1.0)
        # A writer thread would be nicer; pacat buffers ~2 s, so feed it from a helper process.
        self.feeder = subprocess.Popen(
            ["python3", "-c",
             "import sys\ndata=sys.stdin.buffer.read()\n"
             f"for _ in range({int(seconds)}):\n    sys.stdout.buffer.write(data); sys.stdout.flush()"],
            stdin=subprocess.PIPE, stdout=self.player.stdin,
        )
        self.feeder.stdin.write(data)
        self.feeder.stdin.close()

    def kill_server(self):
        """The sound server dies: every capture from it stops."""
        self.server.kill()
        self.server.wait()

    def close(self):
        for proc in (getattr(self, "feeder", None), self.player, self.server):
            if proc and proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
