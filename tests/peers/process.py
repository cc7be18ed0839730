"""Ending a test peer that runs in its own process group (started with `start_new_session`),
so that what it started (`ip netns exec`, helpers) ends with it."""

import os
import signal
import subprocess


def kill_group(proc):
    """SIGKILL to the group, and waits: the peer stops without a word."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def stop_group(proc, timeout=5):
    """SIGTERM to the group (the peer tears down what it holds), SIGKILL after `timeout` s."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
