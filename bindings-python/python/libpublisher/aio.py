"""asyncio form of libpublisher.

    publisher = await libpublisher.aio.init_publisher(options)
    session = libpublisher.aio.init_session("loopback://")
    await session.connect()
    await session.publish(publisher)

Every callback of a publisher or session made here (consent, event handlers, completions)
runs on the event loop that made it, for the object's whole life, so handlers may touch
asyncio objects directly.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Tuple, Type, Union

from . import _native, _track
from ._errors import Error
from ._native import Publisher, Session

if TYPE_CHECKING:
    from ._native import (
        PublisherOptions,
        ReceiverStats,
        SessionEventName,
        SessionOptions,
        SessionState,
    )

__all__ = ["AsyncSession", "init_publisher", "init_session", "set_audio_source", "set_video_source"]


def _completion(
    loop: asyncio.AbstractEventLoop,
) -> Tuple[asyncio.Future[None], Callable[[Optional[Error]], None]]:
    """A future and the completion callback that settles it from wherever it runs."""
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: Optional[Error]) -> None:
        # The awaiting task may have been cancelled meanwhile.
        if done.done():
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def complete(error: Optional[Error]) -> None:
        try:
            running: Optional[asyncio.AbstractEventLoop] = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            # Settled at once, so the awaiting task resumes before any later event's handler.
            settle(error)
            return
        try:
            loop.call_soon_threadsafe(settle, error)
        except RuntimeError:
            pass  # the loop is closed: nobody awaits any more

    return done, complete


async def init_publisher(
    options: Optional[Union[PublisherOptions, Mapping[str, Any]]] = None,
    *,
    on: Optional[Mapping[str, Any]] = None,
) -> Publisher:
    """Awaitable ``libpublisher.init_publisher``: returns the publisher or raises ``Error``.

    Cancelling the awaiting task closes the publisher.
    """
    loop = asyncio.get_running_loop()
    done, complete = _completion(loop)
    publisher = _track(_native.init_publisher(options, complete, on=on, event_loop=loop))
    try:
        await done
    except BaseException:
        publisher.close()
        raise
    return publisher


async def set_video_source(publisher: Publisher, source: str) -> None:
    """Awaitable ``Publisher.set_video_source``: raises ``Error`` at once (1011, 1015) or when
    the switch fails (1500, 1580, 1582, 1584 ...: the old source stays)."""
    done, complete = _completion(asyncio.get_running_loop())
    publisher.set_video_source(source, callback=complete)
    await done


async def set_audio_source(publisher: Publisher, source: str) -> None:
    """Awaitable ``Publisher.set_audio_source``, as ``set_video_source``."""
    done, complete = _completion(asyncio.get_running_loop())
    publisher.set_audio_source(source, callback=complete)
    await done


def init_session(
    url: str,
    options: Optional[Union[SessionOptions, Mapping[str, Any]]] = None,
    *,
    on: Optional[Mapping[str, Any]] = None,
) -> AsyncSession:
    """``libpublisher.init_session`` for asyncio: call it from a coroutine (it needs the running
    loop, on which every callback of the session then runs). Making a session does no I/O,
    so this is not a coroutine; its calls are."""
    loop = asyncio.get_running_loop()
    return AsyncSession(_track(_native.init_session(url, options, on=on, event_loop=loop)), loop)


class AsyncSession:
    """A :class:`libpublisher.Session` whose ``connect``, ``publish``, ``unpublish`` and
    ``disconnect`` are awaitables; made by :func:`init_session`.

    A call that is not valid now raises ``Error`` at once (1010, 1015), before anything is
    awaited; a failure later raises from the ``await``. Cancelling an ``await`` does not undo
    the call (the session carries on and its state shows where it ended); ``close()`` stops
    everything. ``async with`` (and ``with``) closes the session at the end.
    """

    __slots__ = ("_session", "_loop", "__weakref__")

    def __init__(self, session: Session, loop: asyncio.AbstractEventLoop) -> None:
        self._session = session
        self._loop = loop

    @property
    def session(self) -> Session:
        """The underlying session, for its blocking and callback forms."""
        return self._session

    @property
    def state(self) -> SessionState:
        return self._session.state

    @property
    def id(self) -> int:
        return self._session.id

    @property
    def url(self) -> str:
        return self._session.url

    async def _call(self, method: Callable[..., None], *args: Any) -> None:
        done, complete = _completion(asyncio.get_running_loop())
        method(*args, complete)
        await done

    async def connect(self, token: Optional[str] = None) -> None:
        """Connects; raises ``Error`` (1004, 1005, 1006, 1021 ...) on failure."""
        await self._call(self._session.connect, token)

    async def publish(self, publisher: Publisher) -> None:
        """Returns once media flows; the publisher then emits ``stream_created``."""
        await self._call(self._session.publish, publisher)

    async def unpublish(self, publisher: Publisher) -> None:
        """Returns after the publisher's ``stream_destroyed`` (``clientDisconnected``)."""
        await self._call(self._session.unpublish, publisher)

    async def disconnect(self) -> None:
        """Returns after every ``stream_destroyed`` and ``session_disconnected``."""
        await self._call(self._session.disconnect)

    def on(self, event: SessionEventName, handler: Optional[Callable[..., Any]] = None) -> Any:
        """``Session.on``: registers ``handler``, or returns a decorator without one."""
        return self._session.on(event, handler)

    def off(self, event: SessionEventName, handler: Optional[Callable[..., Any]] = None) -> None:
        self._session.off(event, handler)

    def get_receiver_stats(self, publisher: Publisher) -> Optional[ReceiverStats]:
        return self._session.get_receiver_stats(publisher)

    def close(self) -> None:
        """``Session.close``: no callback of the session runs after it returns."""
        self._session.close()

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __enter__(self) -> AsyncSession:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<libpublisher.aio.AsyncSession {self._session!r}>"
