"""asyncio form: ``publisher = await libpublisher.aio.init_publisher(options)``.

Every callback of a publisher made here (consent, event handlers) runs on the event loop that
awaited it, for the publisher's whole life, so handlers may touch asyncio objects directly.
"""

from __future__ import annotations

import asyncio
from typing import Any, Mapping, Optional

from . import _native, _track
from ._errors import Error
from ._native import Publisher

__all__ = ["init_publisher"]


async def init_publisher(
    options: Optional[Mapping[str, Any]] = None,
    *,
    on: Optional[Mapping[str, Any]] = None,
) -> Publisher:
    """Awaitable ``libpublisher.init_publisher``: returns the publisher or raises ``Error``.

    Cancelling the awaiting task closes the publisher.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def complete(error: Optional[Error]) -> None:
        # Runs on the loop; the future may have been cancelled meanwhile.
        if done.done():
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    publisher = _track(_native.init_publisher(options, complete, on=on, event_loop=loop))
    try:
        await done
    except BaseException:
        publisher.close()
        raise
    return publisher
