"""Ctrl-C during a blocking init_publisher interrupts it instead of deadlocking."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

# A signal that lands after `print` returns but before one long `time.sleep` starts is only
# handled when that sleep ends (CPython checks for signals between bytecodes, and on EINTR):
# a plain script loses a Ctrl-C there too. The scripts sleep in short naps so that the
# handler runs within 0.1 s wherever the signal lands.
NAP = textwrap.dedent(
    """
    import time

    def nap(seconds):
        for _ in range(int(seconds * 10)):
            time.sleep(0.1)
    """
)

SCRIPT = NAP + textwrap.dedent(
    """
    import sys
    import libpublisher

    def consent(request):
        print("asking", flush=True)
        nap(30)
        return True

    try:
        libpublisher.init_publisher(
            {"video_source": "synthetic", "audio_source": "synthetic", "access_request": consent},
            on={"access_allowed": lambda: print("allowed", flush=True)},
        )
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(3)
    print("not interrupted", flush=True)
    """
)


def interrupt(script: str, when: str) -> tuple[int, list[str]]:
    """Runs `script`, sends it SIGINT once it printed `when`, and returns its exit code and
    the words it printed after that."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        # A shell without job control starts background jobs with SIGINT ignored, and Python
        # keeps it ignored: the child gets the default, as from a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == when
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out.split()


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")
def test_sigint_interrupts_a_blocking_init() -> None:
    assert interrupt(SCRIPT, "asking") == (3, ["interrupted"])


SESSION_SCRIPT = NAP + textwrap.dedent(
    """
    import sys
    import libpublisher

    def on_connected():
        print("connected", flush=True)
        nap(30)

    session = libpublisher.init_session("loopback://", on={"session_connected": on_connected})
    try:
        session.connect()
    except KeyboardInterrupt:
        print("interrupted", session.state, flush=True)
        session.close()
        sys.exit(3)
    print("not interrupted", flush=True)
    """
)


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")
def test_sigint_interrupts_a_blocking_session_call() -> None:
    # The handler was interrupted; the core had connected meanwhile.
    assert interrupt(SESSION_SCRIPT, "connected") == (3, ["interrupted", "connected"])


EXIT_SCRIPT = textwrap.dedent(
    """
    import asyncio, threading, time
    import libpublisher, libpublisher.aio

    def slow_consent(request):
        time.sleep(0.3)
        return True

    # Left open: a ready one, one still asking for consent on its library thread, one made
    # on a loop that is closed by now, and one blocked in a daemon thread.
    ready = libpublisher.init_publisher({"video_source": "synthetic", "audio_source": "synthetic"})
    pending = libpublisher.init_publisher(
        {"video_source": "synthetic", "audio_source": "synthetic", "access_request": slow_consent},
        lambda error: print("completed", error, flush=True),
    )

    async def make():
        return await libpublisher.aio.init_publisher({"video_source": "synthetic", "audio_source": None})

    on_closed_loop = asyncio.run(make())
    threading.Thread(
        target=libpublisher.init_publisher,
        args=({"video_source": "synthetic", "audio_source": None,
               "access_request": lambda r: time.sleep(10) or True},),
        daemon=True,
    ).start()
    # And sessions: one publishing, one whose publish may still be under way.
    publishing = libpublisher.init_session("loopback://")
    publishing.connect()
    publishing.publish(ready)
    second = libpublisher.init_publisher({"video_source": "synthetic", "audio_source": None})
    late = libpublisher.init_session("loopback://")
    late.connect()
    late.publish(second, lambda error: print("publish completed", error, flush=True))
    time.sleep(0.01)
    print("exiting", flush=True)
    """
)


def test_exit_with_open_publishers_is_clean() -> None:
    run = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stdout.splitlines() if line != "publish completed None"]
    assert lines[0] == "exiting"
    assert "Traceback" not in run.stderr and "panicked" not in run.stderr
