"""libpublisher.aio: awaitable init_publisher whose callbacks run on the event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, List

import pytest

import libpublisher
import libpublisher.aio

from conftest import synthetic, wait_until


def test_aio_init_publisher_runs_callbacks_on_the_loop() -> None:
    async def main() -> List[Any]:
        loop_thread = threading.get_ident()
        log: List[Any] = []
        allowed = asyncio.Event()  # only usable from the loop's own thread

        def consent(request: Any) -> bool:
            log.append(("consent", threading.get_ident() == loop_thread))
            return True

        def on_allowed() -> None:
            log.append(("access_allowed", threading.get_ident() == loop_thread))
            allowed.set()

        publisher = await libpublisher.aio.init_publisher(
            synthetic(access_request=consent), on={"access_allowed": on_allowed}
        )
        with publisher:
            assert allowed.is_set()
            assert publisher.state == "ready"
            before = publisher.get_stats()["video_frames_captured"]
            await asyncio.sleep(0.3)
            assert publisher.get_stats()["video_frames_captured"] > before
        return log

    assert asyncio.run(main()) == [("consent", True), ("access_allowed", True)]


def test_aio_failure_raises_error_after_the_event() -> None:
    async def main() -> None:
        denied: List[Any] = []
        with pytest.raises(libpublisher.Error) as info:
            await libpublisher.aio.init_publisher(
                synthetic(access_request=lambda request: False),
                on={"access_denied": denied.append},
            )
        assert info.value.code == 1500
        assert info.value.message.startswith("Publisher Access Denied:")
        assert len(denied) == 1 and denied[0].code == 1500

    asyncio.run(main())


def test_aio_invalid_options_raise_1011() -> None:
    async def main() -> None:
        with pytest.raises(libpublisher.Error) as info:
            await libpublisher.aio.init_publisher({"resolution": "huge"})
        assert info.value.code == 1011 and info.value.message.startswith("resolution:")

    asyncio.run(main())


def test_aio_switches_sources_and_says_why_not() -> None:
    async def main() -> None:
        publisher = await libpublisher.aio.init_publisher(synthetic())
        try:
            await libpublisher.aio.set_video_source(publisher, "synthetic")
            await libpublisher.aio.set_audio_source(publisher, "synthetic")
            with pytest.raises(libpublisher.Error) as info:
                await libpublisher.aio.set_video_source(publisher, "file:/no/such.y4m")
            assert info.value.code == libpublisher.ErrorCode.MEDIA_SOURCE_INVALID
            with pytest.raises(libpublisher.Error) as info:
                await libpublisher.aio.set_video_source(publisher, "loudspeaker")
            assert info.value.code == libpublisher.ErrorCode.INVALID_PARAMETER
            assert publisher.state == "ready"
        finally:
            publisher.close()

    asyncio.run(main())


def test_aio_concurrent_publishers() -> None:
    async def main() -> List[str]:
        publishers = await asyncio.gather(
            *(libpublisher.aio.init_publisher(synthetic()) for _ in range(4))
        )
        states = [p.state for p in publishers]
        for p in publishers:
            p.close()
        return states

    assert asyncio.run(main()) == ["ready"] * 4


def test_aio_cancelled_init_closes_the_publisher(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="libpublisher")
    probe = libpublisher.init_publisher(synthetic())
    probe.close()
    expected_id = probe.id + 1  # ids are handed out in order; nothing else runs meanwhile
    log: List[Any] = []

    async def main() -> None:
        task = asyncio.ensure_future(
            libpublisher.aio.init_publisher(
                synthetic(access_request=lambda request: log.append("consent") or True),
                on={"access_allowed": lambda: log.append("access_allowed")},
            )
        )
        await asyncio.sleep(0)  # the task starts the publisher and awaits its completion
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.3)

    asyncio.run(main())
    assert "access_allowed" not in log
    assert wait_until(
        lambda: any(r.getMessage() == f"closed publisher={expected_id}" for r in caplog.records)
    )


def test_a_closed_loop_does_not_hang_later_callbacks() -> None:
    async def make() -> libpublisher.Publisher:
        return await libpublisher.aio.init_publisher(synthetic())

    publisher = asyncio.run(make())  # the loop is closed when run() returns
    got: List[Any] = []
    publisher.on("access_allowed", got.append)
    assert publisher.state == "ready"
    publisher.close()
    assert publisher.state == "closed"
