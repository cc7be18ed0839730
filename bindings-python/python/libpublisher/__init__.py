"""libpublisher: capture camera and microphone and publish them over WebRTC, with the flow and
error codes of the OpenTok / Vonage Video web client (init publisher -> connect -> publish).

>>> import libpublisher
>>> publisher = libpublisher.init_publisher(
...     {"video_source": "synthetic", "audio_source": "synthetic"})   # doctest: +SKIP
>>> publisher.get_stats()                                            # doctest: +SKIP
{'video_frames_captured': 12, 'audio_frames_captured': 40}

See ``init_publisher`` for where callbacks run, ``libpublisher.aio`` for asyncio.
"""

from __future__ import annotations

import atexit
import weakref
from typing import Any, Callable, Mapping, Optional, Tuple

from . import _native
from ._errors import Error, ErrorCode, Reason
from ._log import TRACE, set_log_level
from ._native import AccessRequest, Device, Publisher, get_devices

__version__: str = _native.__version__

#: Publisher event names accepted by ``Publisher.on``, from the core.
PUBLISHER_EVENTS: Tuple[str, ...] = tuple(_native.event_names())

__all__ = [
    "AccessRequest",
    "Device",
    "Error",
    "ErrorCode",
    "PUBLISHER_EVENTS",
    "Publisher",
    "Reason",
    "TRACE",
    "__version__",
    "get_devices",
    "init_publisher",
    "set_log_level",
]


def init_publisher(
    options: Optional[Mapping[str, Any]] = None,
    callback: Optional[Callable[[Optional[Error]], Any]] = None,
    *,
    on: Optional[Mapping[str, Any]] = None,
) -> Publisher:
    """Acquires the sources ``options`` names (consent, open, first frame) and returns the
    publisher.

    ``options`` keys are snake_case: ``video_source``, ``audio_source`` (``None``,
    ``"default"``, a ``device_id`` from ``get_devices()``, ``"synthetic"``, ``"file:PATH"``),
    ``resolution`` (``"1280x720"``), ``frame_rate``, ``publish_audio``, ``publish_video``,
    ``name``, ``video_codec``, ``init_timeout_ms``, and ``access_request``: a callable that
    receives an ``AccessRequest`` and returns ``True`` to allow (the default allows). A bad
    option raises ``Error`` 1011 naming it.

    ``on`` maps event names to a handler or a list of handlers, registered before anything can
    fire (``access_allowed`` and ``access_denied`` happen before this call completes).

    Without ``callback`` the call blocks, with the GIL released, and returns the publisher or
    raises ``Error`` (1500 access denied, 1581 no device, 1582 unknown device ...); the
    consent callable and the handlers run on the calling thread meanwhile. With ``callback``
    it returns at once and later calls ``callback(error_or_None)`` on the publisher's library
    thread, where its callbacks then run one at a time.
    """
    return _track(_native.init_publisher(options, callback, on=on))


# Publishers still open at exit are closed while the interpreter can still finish their
# callbacks; during finalization their library threads could no longer do so.
_live: "weakref.WeakSet[Publisher]" = weakref.WeakSet()


def _track(publisher: Publisher) -> Publisher:
    _live.add(publisher)
    return publisher


@atexit.register
def _close_all() -> None:
    for publisher in list(_live):
        publisher.close()
