"""libpublisher: capture camera and microphone and publish them over WebRTC, with the flow and
error codes of the OpenTok / Vonage Video web client (init publisher -> connect -> publish).

>>> import libpublisher
>>> publisher = libpublisher.init_publisher(
...     {"video_source": "synthetic", "audio_source": "synthetic"})   # doctest: +SKIP
>>> session = libpublisher.init_session("loopback://")                # doctest: +SKIP
>>> session.connect()                                                # doctest: +SKIP
>>> session.publish(publisher)                                       # doctest: +SKIP
>>> publisher.get_stats()["video_frames_sent"]                       # doctest: +SKIP
12

See ``init_publisher`` for where callbacks run, ``libpublisher.aio`` for asyncio.
"""

from __future__ import annotations

import atexit
import weakref
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Tuple, TypeVar, Union

from . import _native
from ._errors import Error, ErrorCode, Reason
from ._log import TRACE, set_log_level
from ._native import AccessRequest, Device, Publisher, Session, get_devices

if TYPE_CHECKING:
    from ._native import IceServer, PublisherOptions, SessionOptions  # noqa: F401  (stub types)

__version__: str = _native.__version__

#: Publisher event names accepted by ``Publisher.on``, from the core.
PUBLISHER_EVENTS: Tuple[str, ...] = tuple(_native.event_names())

#: Session event names accepted by ``Session.on``, from the core.
SESSION_EVENTS: Tuple[str, ...] = tuple(_native.session_event_names())

__all__ = [
    "AccessRequest",
    "Device",
    "Error",
    "ErrorCode",
    "PUBLISHER_EVENTS",
    "Publisher",
    "Reason",
    "SESSION_EVENTS",
    "Session",
    "TRACE",
    "__version__",
    "get_devices",
    "init_publisher",
    "init_session",
    "set_log_level",
]


def init_publisher(
    options: Optional[Union[PublisherOptions, Mapping[str, Any]]] = None,
    callback: Optional[Callable[[Optional[Error]], Any]] = None,
    *,
    on: Optional[Mapping[str, Any]] = None,
) -> Publisher:
    """Acquires the sources ``options`` names (consent, open, first frame) and returns the
    publisher.

    ``options`` keys are snake_case: ``video_source``, ``audio_source`` (``None``,
    ``"default"``, a ``device_id`` from ``get_devices()``, ``"synthetic"``, ``"file:PATH"``,
    ``"custom"``: the program pushes frames with ``Publisher.push_video_frame`` /
    ``push_audio_frame``; init then completes at once and asks no consent; for video also
    ``"screen"``, ``"screen:N"``),
    ``resolution`` (``"1280x720"``), ``frame_rate``, ``publish_audio``, ``publish_video``,
    ``name``, ``video_codec``, ``init_timeout_ms``, ``degradation_preference``
    (``"balanced"``, ``"maintain-framerate"``, ``"maintain-resolution"``),
    ``max_video_bitrate_kbps`` (0 = automatic), ``audio_fallback``, and ``access_request``: a
    callable that receives an ``AccessRequest`` and returns ``True`` to allow (the default
    allows); any other reply, truthy or not, denies, as in every language. ``PublisherOptions``
    in the type stubs gives each option's default and range. A bad option raises ``Error`` 1011
    naming it.

    ``on`` maps event names to a handler or a list of handlers, registered before anything can
    fire (``access_allowed`` and ``access_denied`` happen before this call completes).

    Without ``callback`` the call blocks, with the GIL released, and returns the publisher or
    raises ``Error`` (1500 access denied, 1581 no device, 1582 unknown device ...); the
    consent callable and the handlers run on the calling thread meanwhile. With ``callback``
    it returns at once and later calls ``callback(error_or_None)`` on the publisher's library
    thread, where its callbacks then run one at a time.
    """
    return _track(_native.init_publisher(options, callback, on=on))


def init_session(
    url: str,
    options: Optional[Union[SessionOptions, Mapping[str, Any]]] = None,
    *,
    on: Optional[Mapping[str, Any]] = None,
) -> Session:
    """Makes a session for ``url``; nothing touches the network until ``connect``.

    ``url`` chooses the backend: ``"loopback://"`` is a receiver inside this process (real
    ICE/DTLS/SRTP over 127.0.0.1) that counts what it gets; a malformed URL or a scheme this
    build does not support raises ``Error`` 1005 INVALID_SESSION_ID at once. ``options`` keys:
    ``connect_timeout_ms``, ``publish_timeout_ms``, ``ice_timeout_ms``, ``ice_servers`` (a list
    of ``{"urls": "turn:HOST:3478" or [...], "username": ..., "credential": ...}``: ``stun:``,
    ``turn:`` (UDP), ``turn:...?transport=tcp``, ``turns:``), ``ice_transport_policy``
    (``"all"`` or ``"relay"``), ``reconnect_timeout_ms`` (how long a stream whose connection
    was lost keeps recovering); a bad one raises 1011 naming it. ``on`` maps session event names (``session_connected``,
    ``session_disconnected`` ...) to a handler or a list of handlers.

    ``session.connect(token=None, callback=None)``, ``session.publish(publisher, callback=None)``,
    ``session.unpublish(publisher, callback=None)`` and ``session.disconnect(callback=None)``
    block without ``callback`` (the GIL is released; Ctrl-C works), running the session's and
    that publisher's callbacks on the calling thread meanwhile, and raise ``Error``. With
    ``callback`` they return at once and later call ``callback(error_or_None)`` on the
    session's library thread. A call that is not valid now (publish without a connected
    session: 1010; connect twice, publish twice: 1015) raises at once in both forms.
    """
    return _track(_native.init_session(url, options, on=on))


# Sessions and publishers still open at exit are closed while the interpreter can still finish
# their callbacks; during finalization their library threads could no longer do so.
_live: "weakref.WeakSet[Any]" = weakref.WeakSet()

_T = TypeVar("_T", Publisher, Session)


def _track(handle: _T) -> _T:
    _live.add(handle)
    return handle


@atexit.register
def _close_all() -> None:
    handles = list(_live)
    # Sessions first: their streams end before the publishers' sources stop.
    for handle in sorted(handles, key=lambda h: not isinstance(h, Session)):
        handle.close()
