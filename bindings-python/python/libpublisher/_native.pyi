"""The compiled core binding. Use the ``libpublisher`` package rather than this module."""

from __future__ import annotations

import asyncio
import sys
from types import TracebackType
from typing import Any, Callable, Literal, Mapping, Optional, Sequence, TypedDict, TypeVar, Union, overload

from ._errors import Error

_F = TypeVar("_F", bound=Callable[..., Any])
# What `__exit__` receives.
_ExcType = Optional[type[BaseException]]
_Exc = Optional[BaseException]
_Tb = Optional[TracebackType]

if sys.version_info >= (3, 12):
    from collections.abc import Buffer
else:
    #: bytes, bytearray, memoryview, a numpy array, array.array: any buffer.
    Buffer = Any

__version__: str
DEFAULT_LOG_LEVEL: int

class Device:
    """A capture device."""

    @property
    def kind(self) -> Literal["audioInput", "videoInput", "screen"]: ...
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
    "video_dimensions_changed",
    "video_disable_warning",
    "video_disable_warning_lifted",
    "video_disabled",
    "video_enabled",
    "audio_disabled",
    "audio_enabled",
]

class VideoDimensions(TypedDict):
    """What ``video_dimensions_changed`` handlers receive: the size video was sent at and the
    size it is sent at now."""

    old_width: int
    old_height: int
    new_width: int
    new_height: int

class PublisherOptions(TypedDict, total=False):
    """``init_publisher`` options (camelCase spellings are accepted too)."""

    #: ``None`` (no video), ``"default"`` (the first camera), a ``device_id`` from
    #: ``get_devices()``, ``"synthetic"``, ``"file:PATH"`` (Y4M), ``"custom"``, ``"screen"`` or
    #: ``"screen:N"``. Default ``"default"``.
    video_source: Optional[str]
    #: ``None`` (no audio), ``"default"`` (the first microphone), a ``device_id``,
    #: ``"synthetic"``, ``"file:PATH"`` (WAV) or ``"custom"``. Default ``"default"``.
    audio_source: Optional[str]
    #: ``"WIDTHxHEIGHT"``, even sides 16..3840. Default ``"640x480"``.
    resolution: str
    #: 1..60. Default 30.
    frame_rate: int
    #: Whether audio is on at first (default True); off, the track still exists and sends
    #: silence until ``publish_audio(True)``.
    publish_audio: bool
    #: Whether video is on at first (default True); off, the track still exists and the
    #: source opens at ``publish_video(True)``.
    publish_video: bool
    #: The stream's name, shown to others.
    name: Optional[str]
    #: ``"VP8"`` (default) or ``"H264"``.
    video_codec: Literal["VP8", "H264"]
    #: How long to wait for each source's first frame, 1..600000 ms. Default 10000.
    init_timeout_ms: int
    #: What video gives up first when the network carries too little: ``"balanced"``
    #: (default; size and frame rate in turn), ``"maintain-framerate"`` (size only) or
    #: ``"maintain-resolution"`` (frame rate only).
    degradation_preference: Literal["balanced", "maintain-framerate", "maintain-resolution"]
    #: The most video may send, kbit/s, 0..100000; 0 (default) lets the library choose by
    #: size and frame rate.
    max_video_bitrate_kbps: int
    #: Simulcast: 0 (off, default), 2 layers (full and 1/2 size) or 3 (full, 1/2 and 1/4),
    #: each its own encoder and bitrate, sent with rids to a server that takes them (Janus); a
    #: server that does not gets the full size alone. The top layer stops first when the
    #: network narrows.
    simulcast: Literal[0, 2, 3]
    #: Whether video stops (audio goes on) when the network stays too narrow for video
    #: (under ~125 kbit/s for it), and comes back with the network, with the events
    #: ``video_disable_warning``, ``video_disabled``, ``video_enabled``. Needs audio. Default
    #: True.
    audio_fallback: bool
    #: Host consent before devices (and the synthetic stand-ins) open: returns ``True`` to
    #: allow; any other reply denies. Without it, access is allowed.
    access_request: Optional[Callable[[AccessRequest], Any]]

#: Why video is sent below the source's size or frame rate (W3C ``RTCQualityLimitationReason``).
QualityLimitationReason = Literal["none", "bandwidth", "cpu"]

class PublisherStats(TypedDict):
    """``Publisher.get_stats()``. The sending figures cover the current stream (zero when not
    published); the transport figures are at most a second old."""

    video_frames_captured: int
    audio_frames_captured: int
    video_frames_sent: int
    video_keyframes_sent: int
    audio_packets_sent: int
    packets_sent: int
    bytes_sent: int
    bitrate_bps: int
    rtt_ms: float
    packets_lost: int
    retransmitted_packets_sent: int
    retransmitted_bytes_sent: int
    #: What the video encoder is asked for now, bit/s (W3C ``targetBitrate``); 0 without video.
    target_bitrate_bps: int
    #: What the network is estimated to carry for all the media, bit/s (W3C
    #: ``availableOutgoingBitrate``).
    available_outgoing_bitrate_bps: int
    #: The width video is sent at now (0 before publishing).
    frame_width: int
    #: The height video is sent at now (0 before publishing).
    frame_height: int
    #: Video frames encoded over the last second.
    frames_per_second: float
    #: Why video is sent below the source's size or frame rate (W3C
    #: ``qualityLimitationReason``); ``"none"`` when not published.
    quality_limitation_reason: QualityLimitationReason

class _IceServerUrls(TypedDict):
    urls: Union[str, Sequence[str]]

class IceServer(_IceServerUrls, total=False):
    """A STUN or TURN server, as in the browser's ``RTCIceServer``: ``urls`` is one URL or a
    list of them (``"stun:HOST[:PORT]"``, ``"turn:HOST[:PORT]"`` (UDP),
    ``"turn:HOST[:PORT]?transport=tcp"``, ``"turns:HOST[:PORT]"`` (TLS)); a TURN URL needs
    ``username`` and ``credential``."""

    username: Optional[str]
    credential: Optional[str]

class SessionOptions(TypedDict, total=False):
    """``init_session`` options (camelCase spellings are accepted too)."""

    #: How long ``connect`` may take, 1..600000 ms. Default 10000.
    connect_timeout_ms: int
    #: How long the server may take to accept a stream, 1..600000 ms. Default 15000.
    publish_timeout_ms: int
    #: Gathering plus the connectivity checks, 1..600000 ms; then ``publish`` raises 1553.
    #: Default 10000.
    ice_timeout_ms: int
    #: Tried before the servers a WHIP endpoint advertises.
    ice_servers: Optional[Sequence[IceServer]]
    #: ``"relay"``: media only through a TURN server. Default ``"all"``.
    ice_transport_policy: Literal["all", "relay"]
    #: How long a stream whose connection was lost keeps recovering (``session_reconnecting``
    #: meanwhile) before it ends with ``networkDisconnected``, 1..600000 ms. Default 15000.
    reconnect_timeout_ms: int

class ReceiverStats(TypedDict):
    """``Session.get_receiver_stats()``: what the ``loopback://`` receiver got."""

    video_frames: int
    video_keyframes: int
    first_frame_was_keyframe: bool
    video_bytes: int
    audio_packets: int
    audio_bytes: int

PublisherState = Literal["initializing", "ready", "publishing", "failed", "closed"]
SessionState = Literal["disconnected", "connecting", "connected", "disconnecting", "closed"]

SessionEventName = Literal[
    "session_connected",
    "session_disconnected",
    "session_reconnecting",
    "session_reconnected",
]

Completion = Callable[[Optional[Error]], Any]
Handlers = Mapping[str, Union[Callable[..., Any], list[Callable[..., Any]]]]

class Publisher:
    """A publisher: its sources and, later, its stream. Made by ``init_publisher``.

    Handlers receive: ``access_allowed()``, ``access_denied(error: Error)``,
    ``stream_created(stream_id: str)``, ``stream_destroyed(reason: Reason)``,
    ``media_stopped(kind: "audio" | "video")``, ``audio_level_updated(level: float)``,
    ``video_dimensions_changed(size: VideoDimensions)``, ``video_disable_warning()``,
    ``video_disable_warning_lifted()``, ``video_disabled(reason: Reason)`` and
    ``video_enabled(reason: Reason)`` (reason ``Reason.quality``: the audio-only fallback;
    ``Reason.publishVideo``: ``publish_video``), ``audio_disabled(reason: Reason)`` and
    ``audio_enabled(reason: Reason)`` (reason ``Reason.publishAudio``).
    """

    @overload
    def on(self, event: EventName, handler: _F) -> _F: ...
    @overload
    def on(self, event: EventName, handler: None = None) -> Callable[[_F], _F]: ...
    def off(self, event: EventName, handler: Optional[Callable[..., Any]] = None) -> None: ...
    def get_stats(self) -> PublisherStats: ...
    def push_video_frame(
        self,
        data: Buffer,
        width: int,
        height: int,
        format: Literal["i420", "rgba"] = "i420",
        timestamp_us: Optional[int] = None,
    ) -> None:
        """Pushes a frame to a ``"custom"`` video source: packed I420 (Y, U, V planes without
        padding) or RGBA rows, bytes or any buffer (a numpy ``uint8`` array). It is converted to
        the publisher's resolution and frame rate with the GIL released. Before publishing,
        frames are dropped except the latest, from which publishing starts. Raises ``Error``
        1011 for a wrong frame, 1015 when the video source is not custom or the publisher is
        closed."""
    def push_audio_frame(
        self,
        samples: Buffer,
        sample_rate: int = 48000,
        channels: int = 1,
        timestamp_us: Optional[int] = None,
    ) -> None:
        """Pushes interleaved PCM to a ``"custom"`` audio source: bytes of native-endian int16,
        or a buffer of int16 or float32 (numpy arrays, ``array.array``), mono or stereo, any
        length and rate (8000-192000 Hz); resampled to 48 kHz. Push in real time. Raises
        ``Error`` 1011 for wrong audio, 1015 when the audio source is not custom or the
        publisher is closed."""
    def publish_video(self, on: bool) -> None:
        """Turns video off (``False``) or on again, before or while publishing: off, no video
        goes out but the track stays; on, it resumes with a keyframe. ``video_disabled`` /
        ``video_enabled`` follow with ``Reason.publishVideo`` when it changes. Raises ``Error``
        1015 when the publisher failed, is closed or has no video."""
    def set_video_source(
        self, source: str, callback: Optional[Completion] = None
    ) -> None:
        """Switches the video to ``source`` (a device id, ``"synthetic"``, ``"file:PATH"``,
        ``"custom"``, ``"screen"``) while ready or publishing, on the same track: consent is asked where
        ``init_publisher`` would ask, the new source delivers its first frame, then replaces the
        old one. Without ``callback``, blocks and raises ``Error`` on failure (1500, 1580, 1582,
        1584, ...: the old source stays); with one, returns at once and calls it later with
        ``None`` or the error. 1011 at once for a wrong source string, 1015 when not ready or
        publishing, without video, or while another switch is under way."""
    @overload
    def cycle_video(self) -> str: ...
    @overload
    def cycle_video(self, callback: Completion) -> None: ...
    def cycle_video(self, callback: Optional[Completion] = None) -> Optional[str]:
        """Switches the video to the next camera ``get_devices()`` lists (after the current one,
        wrapping round; the first when the video is not a camera), as ``set_video_source`` does.
        Blocks and returns the camera's device id; with ``callback``, returns ``None`` at once and
        later calls ``callback(error_or_None)``. Raises 1581 at once when no camera is present."""
    def set_audio_source(
        self, source: str, callback: Optional[Completion] = None
    ) -> None:
        """Switches the audio to ``source``, as ``set_video_source`` does for video."""
    def snapshot(self) -> bytes:
        """The latest captured video frame as PNG bytes (RGB, at the captured size), for
        previews and thumbnails; waits up to a second for a first frame. Raises ``Error`` 1015
        when the publisher is not ready or publishing, has no video, or captured no frame yet."""
    def set_preferred_resolution(self, resolution: str) -> None:
        """Sends video at most at ``resolution`` (``"WxH"``), before or while publishing: a
        ceiling under the source's size, under which the network adaptation still steps down.
        Raises ``Error`` 1011 for a wrong resolution, 1015 when the publisher failed or is
        closed."""
    def set_preferred_frame_rate(self, frame_rate: int) -> None:
        """Sends video at most ``frame_rate`` frames a second (1-60), as
        ``set_preferred_resolution`` does for the size."""
    def publish_audio(self, on: bool) -> None:
        """Turns audio off (``False``: the track sends silence) or on again, as
        ``publish_video`` does; ``audio_disabled`` / ``audio_enabled`` follow with
        ``Reason.publishAudio``."""
    @property
    def state(self) -> PublisherState: ...
    @property
    def id(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> Publisher: ...
    def __exit__(self, exc_type: _ExcType, exc: _Exc, tb: _Tb) -> bool: ...

class Session:
    """A session on a media server, chosen by its URL. Made by ``init_session``.

    ``connect``/``publish``/``unpublish``/``disconnect`` block without ``callback`` and raise
    ``Error``; with one they return at once and later call ``callback(error_or_None)``. A call
    refused at once (1010, 1011, 1015) raises in both forms and never calls back, as in every
    language. ``close()`` completes the calls still pending with 1015 before it returns.
    Handlers receive: ``session_connected()``, ``session_disconnected(reason: Reason)``,
    ``session_reconnecting()``, ``session_reconnected()``.
    """

    def connect(self, token: Optional[str] = None, callback: Optional[Completion] = None) -> None: ...
    def publish(self, publisher: Publisher, callback: Optional[Completion] = None) -> None: ...
    def unpublish(self, publisher: Publisher, callback: Optional[Completion] = None) -> None: ...
    def disconnect(self, callback: Optional[Completion] = None) -> None: ...
    @overload
    def on(self, event: SessionEventName, handler: _F) -> _F: ...
    @overload
    def on(self, event: SessionEventName, handler: None = None) -> Callable[[_F], _F]: ...
    def off(self, event: SessionEventName, handler: Optional[Callable[..., Any]] = None) -> None: ...
    def get_receiver_stats(self, publisher: Publisher) -> Optional[ReceiverStats]: ...
    @property
    def state(self) -> SessionState: ...
    @property
    def id(self) -> int: ...
    @property
    def url(self) -> str: ...
    def close(self) -> None: ...
    def __enter__(self) -> Session: ...
    def __exit__(self, exc_type: _ExcType, exc: _Exc, tb: _Tb) -> bool: ...

class LoopRunner:
    def __call__(self) -> None: ...

def get_devices() -> list[Device]: ...
def error_table() -> list[tuple[int, str]]: ...
def reason_table() -> list[tuple[int, str]]: ...
def event_names() -> list[str]: ...
def session_event_names() -> list[str]: ...
def session_option_keys() -> list[str]: ...
def init_publisher(
    options: Optional[Union[PublisherOptions, Mapping[str, Any]]] = None,
    callback: Optional[Completion] = None,
    *,
    on: Optional[Handlers] = None,
    event_loop: Optional[asyncio.AbstractEventLoop] = None,
) -> Publisher: ...
def init_session(
    url: str,
    options: Optional[Union[SessionOptions, Mapping[str, Any]]] = None,
    *,
    on: Optional[Handlers] = None,
    event_loop: Optional[asyncio.AbstractEventLoop] = None,
) -> Session: ...
def set_log_sink(level: int, sink: Optional[Callable[[int, str, str], Any]] = None) -> None: ...
