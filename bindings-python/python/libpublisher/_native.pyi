"""The compiled core binding. Use the ``libpublisher`` package rather than this module."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Callable, Literal, Mapping, Optional, TypeVar, Union, overload

from ._errors import Error

_F = TypeVar("_F", bound=Callable[..., Any])

__version__: str

class Device:
    """A capture device."""

    @property
    def kind(self) -> Literal["audioInput", "videoInput"]: ...
    @property
    def device_id(self) -> str: ...
    @property
    def label(self) -> str: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class AccessRequest:
    """What a publisher is about to open; given to the ``access_request`` callable."""

    @property
    def audio(self) -> Optional[str]: ...
    @property
    def video(self) -> Optional[str]: ...

EventName = Literal[
    "access_allowed",
    "access_denied",
    "stream_created",
    "stream_destroyed",
    "media_stopped",
    "audio_level_updated",
]

class Publisher:
    """A publisher: its sources and, later, its stream. Made by ``init_publisher``.

    Handlers receive: ``access_allowed()``, ``access_denied(error: Error)``,
    ``stream_created(stream_id: str)``, ``stream_destroyed(reason: Reason)``,
    ``media_stopped(kind: "audio" | "video")``, ``audio_level_updated(level: float)``.
    """

    @overload
    def on(self, event: EventName, handler: _F) -> _F: ...
    @overload
    def on(self, event: EventName, handler: None = None) -> Callable[[_F], _F]: ...
    def off(self, event: EventName, handler: Optional[Callable[..., Any]] = None) -> None: ...
    def get_stats(self) -> dict[str, int]: ...
    @property
    def state(self) -> Literal["initializing", "ready", "failed", "closed"]: ...
    @property
    def id(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> Publisher: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...

class LoopRunner:
    def __call__(self) -> None: ...

def get_devices() -> list[Device]: ...
def error_table() -> list[tuple[int, str]]: ...
def reason_table() -> list[tuple[int, str]]: ...
def event_names() -> list[str]: ...
def init_publisher(
    options: Optional[Mapping[str, Any]] = None,
    callback: Optional[Callable[[Optional[Error]], Any]] = None,
    *,
    on: Optional[Mapping[str, Union[Callable[..., Any], list[Callable[..., Any]]]]] = None,
    event_loop: Optional[asyncio.AbstractEventLoop] = None,
) -> Publisher: ...
def set_log_sink(level: int, sink: Optional[Callable[[int, str, str], Any]] = None) -> None: ...
