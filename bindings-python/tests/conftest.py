from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable, Dict, List

import pytest

import libpublisher


def synthetic(**extra: Any) -> Dict[str, Any]:
    """Options for a publisher that needs no hardware."""
    options: Dict[str, Any] = {
        "video_source": "synthetic",
        "audio_source": "synthetic",
        "resolution": "320x240",
        "frame_rate": 30,
    }
    options.update(extra)
    return options


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class Unraisable:
    """What reached sys.unraisablehook."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: List[Any] = []

    def __call__(self, info: Any) -> None:
        with self.lock:
            self.seen.append((info.exc_type, info.exc_value, info.object))

    def types(self) -> List[type]:
        with self.lock:
            return [t for t, _, _ in self.seen]


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> Unraisable:
    hook = Unraisable()
    monkeypatch.setattr(sys, "unraisablehook", hook)
    return hook


@pytest.fixture
def has_camera() -> bool:
    return any(d.kind == "videoInput" for d in libpublisher.get_devices())


@pytest.fixture(autouse=True, scope="session")
def _debug_records() -> None:
    """Several tests observe the library's debug records ("closed publisher=N"), below the
    default level (INFO): ask for them once for the whole run."""
    import logging

    libpublisher.set_log_level(logging.DEBUG)
