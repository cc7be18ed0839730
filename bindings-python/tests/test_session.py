"""Sessions against the real core: publishing to the embedded loopback:// receiver (real ICE,
DTLS and SRTP over 127.0.0.1), in the blocking, callback and asyncio forms."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
import weakref
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

import libpublisher
import libpublisher.aio
from libpublisher import Error, ErrorCode, Reason

from conftest import synthetic, wait_until

LOOPBACK = "loopback://"


class Log:
    """Events and completions in arrival order, from any thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: List[Tuple[str, Tuple[Any, ...], int]] = []

    def add(self, name: str, *args: Any) -> None:
        with self.lock:
            self.entries.append((name, args, threading.get_ident()))

    def handler(self, name: str) -> Callable[..., None]:
        return lambda *args: self.add(name, *args)

    def handlers(self, names: Tuple[str, ...]) -> Dict[str, Callable[..., None]]:
        return {name: self.handler(name) for name in names}

    def names(self) -> List[str]:
        with self.lock:
            return [name for name, _, _ in self.entries]

    def args(self, name: str) -> List[Tuple[Any, ...]]:
        with self.lock:
            return [args for n, args, _ in self.entries if n == name]

    def threads(self, name: str) -> List[int]:
        with self.lock:
            return [t for n, _, t in self.entries if n == name]


class Completion:
    """A completion callback that records its argument and thread."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.calls: List[Tuple[Optional[Error], int]] = []

    def __call__(self, error: Optional[Error]) -> None:
        self.calls.append((error, threading.get_ident()))
        self.done.set()

    def wait(self, timeout: float = 10.0) -> Optional[Error]:
        assert self.done.wait(timeout), "the completion never ran"
        assert len(self.calls) == 1
        return self.calls[0][0]


def thread_count() -> int:
    # threading.active_count() sees only Python threads; the library's are native.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads: line in /proc/self/status")


@pytest.fixture
def publisher() -> Any:
    with libpublisher.init_publisher(synthetic()) as publisher:
        yield publisher


@pytest.fixture
def connected() -> Any:
    with libpublisher.init_session(LOOPBACK) as session:
        session.connect()
        yield session


def assert_error(info: Any, code: ErrorCode) -> None:
    assert isinstance(info.value, Error)
    assert info.value.code is code, info.value
    assert info.value.name == code.name


# ----- the whole flow --------------------------------------------------------------------


def test_publish_640x480_to_loopback_blocking() -> None:
    log = Log()
    me = threading.get_ident()
    publisher = libpublisher.init_publisher(
        synthetic(resolution="640x480", frame_rate=30),
        on=log.handlers(libpublisher.PUBLISHER_EVENTS),
    )
    session = libpublisher.init_session(LOOPBACK, on=log.handlers(libpublisher.SESSION_EVENTS))
    try:
        assert session.state == "disconnected" and session.url == LOOPBACK
        session.connect()
        log.add("connect returned")
        assert session.state == "connected"
        # A blocking call runs the session's callbacks on the calling thread.
        assert log.names()[-2:] == ["session_connected", "connect returned"]
        assert log.threads("session_connected") == [me]

        # Not published yet: nothing sent, estimated or limited.
        before = publisher.get_stats()
        assert before["target_bitrate_bps"] == 0 and before["available_outgoing_bitrate_bps"] == 0
        assert (before["frame_width"], before["frame_height"]) == (0, 0)
        assert before["frames_per_second"] == 0.0
        assert before["quality_limitation_reason"] == "none"

        session.publish(publisher)
        published_at = time.monotonic()
        log.add("publish returned")
        assert publisher.state == "publishing"
        assert wait_until(lambda: "stream_created" in log.names())
        names = log.names()
        assert names.index("publish returned") < names.index("stream_created")
        (stream_id,) = log.args("stream_created")[0]
        assert isinstance(stream_id, str) and stream_id

        time.sleep(max(0.0, 2.0 - (time.monotonic() - published_at)))
        received = session.get_receiver_stats(publisher)
        elapsed = time.monotonic() - published_at
        sent = publisher.get_stats()
        assert received is not None
        # 30 fps for about 2 s: 60 frames, less what a busy machine drops.
        assert 20 * elapsed <= received["video_frames"] <= 33 * elapsed + 3, (elapsed, received)
        assert received["first_frame_was_keyframe"] is True
        assert received["video_keyframes"] >= 1
        assert received["video_bytes"] > 0
        # 20 ms Opus packets: about 50 a second.
        assert 25 * elapsed <= received["audio_packets"] <= 55 * elapsed + 3, received
        assert received["audio_bytes"] > 0
        assert sent["video_frames_sent"] >= received["video_frames"] - 2
        assert sent["video_keyframes_sent"] >= 1
        assert sent["audio_packets_sent"] > 0
        # Transport figures refresh every second.
        assert sent["packets_sent"] > 0 and sent["bytes_sent"] > 0
        assert sent["bitrate_bps"] > 0
        assert isinstance(sent["rtt_ms"], float) and sent["rtt_ms"] >= 0
        assert sent["packets_lost"] >= 0
        # What video is sent as: the published size at a real rate, nothing short on
        # loopback.
        assert (sent["frame_width"], sent["frame_height"]) == (640, 480), sent
        assert isinstance(sent["frames_per_second"], float) and sent["frames_per_second"] > 0
        assert sent["target_bitrate_bps"] > 0 and sent["available_outgoing_bitrate_bps"] > 0
        assert sent["quality_limitation_reason"] == "none"

        session.unpublish(publisher)
        log.add("unpublish returned")
        assert log.names()[-2:] == ["stream_destroyed", "unpublish returned"]
        assert log.args("stream_destroyed") == [(Reason.clientDisconnected,)]
        assert log.args("stream_destroyed")[0][0] is Reason.clientDisconnected
        # The publisher's event ran on the thread blocked in unpublish as well.
        assert log.threads("stream_destroyed") == [me]
        assert publisher.state == "ready"
        assert session.get_receiver_stats(publisher) is None
        # The stats keep what the ended stream sent, until the next publish.
        final = publisher.get_stats()
        assert final["video_frames_sent"] >= sent["video_frames_sent"]
        assert final["packets_sent"] >= sent["packets_sent"]
        assert final["bitrate_bps"] == 0

        session.disconnect()
        log.add("disconnect returned")
        assert log.names()[-2:] == ["session_disconnected", "disconnect returned"]
        assert log.args("session_disconnected") == [(Reason.clientDisconnected,)]
        assert session.state == "disconnected"

        with pytest.raises(Error) as info:
            session.publish(publisher)
        assert_error(info, ErrorCode.NOT_CONNECTED)
        assert log.names().count("stream_created") == 1
    finally:
        session.close()
        publisher.close()
    assert session.state == "closed"


def test_disconnect_ends_the_streams_first(publisher: Any) -> None:
    log = Log()
    publisher.on("stream_destroyed", log.handler("stream_destroyed"))
    with libpublisher.init_session(
        LOOPBACK, on={"session_disconnected": log.handler("session_disconnected")}
    ) as session:
        session.connect()
        session.publish(publisher)
        session.disconnect()
        log.add("disconnect returned")
        assert log.names() == ["stream_destroyed", "session_disconnected", "disconnect returned"]
        assert log.args("stream_destroyed") == [(Reason.clientDisconnected,)]
        assert publisher.state == "ready"
        # The session can connect and publish again.
        session.connect()
        session.publish(publisher)
        assert publisher.state == "publishing"


def test_callback_form_orders_completions_and_events() -> None:
    log = Log()
    publisher = libpublisher.init_publisher(
        synthetic(), on=log.handlers(libpublisher.PUBLISHER_EVENTS)
    )
    session = libpublisher.init_session(LOOPBACK, on=log.handlers(libpublisher.SESSION_EVENTS))
    try:
        connected = Completion()
        assert session.connect("token", connected) is None  # returns at once
        assert connected.wait() is None
        assert log.names()[-1] == "session_connected"
        # Nobody waits in the callback form: the session's library thread runs them.
        assert connected.calls[0][1] == log.threads("session_connected")[0]
        assert connected.calls[0][1] != threading.get_ident()

        published = Completion()
        session.publish(publisher, lambda error: (log.add("publish done", error), published(error)))
        assert published.wait() is None
        assert wait_until(lambda: "stream_created" in log.names())
        names = log.names()
        assert names.index("publish done") < names.index("stream_created")

        unpublished = Completion()
        session.unpublish(publisher, lambda e: (log.add("unpublish done", e), unpublished(e)))
        assert unpublished.wait() is None
        assert log.names()[-2:] == ["stream_destroyed", "unpublish done"]

        disconnected = Completion()
        session.disconnect(lambda e: (log.add("disconnect done", e), disconnected(e)))
        assert disconnected.wait() is None
        assert log.names()[-2:] == ["session_disconnected", "disconnect done"]
    finally:
        session.close()
        publisher.close()


def test_aio_form_runs_everything_on_the_loop() -> None:
    async def main() -> Tuple[Log, int, Dict[str, Any]]:
        log = Log()
        publisher = await libpublisher.aio.init_publisher(
            synthetic(), on=log.handlers(libpublisher.PUBLISHER_EVENTS)
        )
        session = libpublisher.aio.init_session(
            LOOPBACK, on=log.handlers(libpublisher.SESSION_EVENTS)
        )
        assert isinstance(session, libpublisher.aio.AsyncSession)
        created = asyncio.Event()  # only usable from the loop's own thread
        publisher.on("stream_created", lambda stream_id: created.set())
        async with session:
            with pytest.raises(Error) as info:
                await session.publish(publisher)
            assert_error(info, ErrorCode.NOT_CONNECTED)

            await session.connect()
            log.add("connect returned")
            assert session.state == "connected"
            await session.publish(publisher)
            log.add("publish returned")
            await asyncio.wait_for(created.wait(), 5)
            await asyncio.sleep(0.3)
            received = session.get_receiver_stats(publisher)
            await session.unpublish(publisher)
            log.add("unpublish returned")
            await session.disconnect()
            log.add("disconnect returned")
        assert session.state == "closed"
        publisher.close()
        return log, threading.get_ident(), received

    log, loop_thread, received = asyncio.run(main())
    # Audio levels come ten a second throughout; the order of the rest is the point here.
    assert [n for n in log.names() if n not in ("access_allowed", "audio_level_updated")] == [
        "session_connected",
        "connect returned",
        "publish returned",
        "stream_created",
        "stream_destroyed",
        "unpublish returned",
        "session_disconnected",
        "disconnect returned",
    ]
    with log.lock:
        assert {thread for _, _, thread in log.entries} == {loop_thread}
    assert received["video_frames"] > 0 and received["first_frame_was_keyframe"]


def test_aio_cancelled_await_does_not_undo_the_call() -> None:
    async def main() -> str:
        publisher = await libpublisher.aio.init_publisher(synthetic())
        with libpublisher.aio.init_session(LOOPBACK) as session:
            await session.connect()
            task = asyncio.ensure_future(session.publish(publisher))
            await asyncio.sleep(0)  # the task started the publish and awaits it
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            for _ in range(500):
                if session.get_receiver_stats(publisher) is not None:
                    break
                await asyncio.sleep(0.01)
            state = publisher.state
            await session.unpublish(publisher)
        publisher.close()
        return state

    assert asyncio.run(main()) == "publishing"


def test_aio_session_handlers_stay_on_the_loop_in_blocking_calls() -> None:
    async def main() -> Tuple[List[int], int]:
        threads: List[int] = []
        session = libpublisher.aio.init_session(
            LOOPBACK,
            on={
                "session_connected": lambda: threads.append(threading.get_ident()),
                "session_disconnected": lambda r: threads.append(threading.get_ident()),
            },
        )
        with session:
            # From another thread: the handler still runs on the loop, which keeps running.
            await asyncio.get_running_loop().run_in_executor(None, session.session.connect)
            # From the loop's own thread: the blocked call runs it, rather than deadlock.
            session.session.disconnect()
        return threads, threading.get_ident()

    threads, loop_thread = asyncio.run(main())
    assert threads == [loop_thread, loop_thread]


# ----- errors at once --------------------------------------------------------------------


def test_publish_without_connect_is_1010_at_once(publisher: Any) -> None:
    with libpublisher.init_session(LOOPBACK) as session:
        with pytest.raises(Error) as info:
            session.publish(publisher)
        assert_error(info, ErrorCode.NOT_CONNECTED)
        calls: List[Any] = []
        with pytest.raises(Error) as info:
            session.publish(publisher, calls.append)
        assert_error(info, ErrorCode.NOT_CONNECTED)
        with pytest.raises(Error) as info:
            session.unpublish(publisher, calls.append)
        assert_error(info, ErrorCode.NOT_CONNECTED)
        time.sleep(0.1)
        assert calls == []  # a call refused at once never completes
        assert publisher.state == "ready"


@pytest.mark.parametrize(
    "url, words",
    [
        ("janus+ws://127.0.0.1:8188", "no room"),
        ("ftp://example.com", "unknown scheme"),
        ("loopback", "expected"),
        ("", "expected"),
    ],
)
def test_bad_urls_are_1005_at_once(url: str, words: str) -> None:
    with pytest.raises(Error) as info:
        libpublisher.init_session(url)
    assert_error(info, ErrorCode.INVALID_SESSION_ID)
    assert words in info.value.message


@pytest.mark.parametrize(
    "options, field",
    [
        ({"connect_timeout_ms": 0}, "connect_timeout_ms:"),
        ({"publishTimeoutMs": "soon"}, "publish_timeout_ms:"),
        ({"ice_timeout_ms": 2**70}, "ice_timeout_ms:"),
        ({"colour": "blue"}, "colour:"),
        ({"access_request": None}, "access_request:"),
        ({"connect_timeout_ms": [1]}, "connect_timeout_ms:"),
        ({1: 2}, "options:"),
        (["connect_timeout_ms"], "options:"),
        ({"ice_servers": "turn:h"}, "ice_servers: expected a list"),
        ({"ice_servers": [{"urls": "http://turn.example.net"}]}, "ice_servers[0].urls:"),
        ({"ice_servers": [{"urls": []}]}, "ice_servers[0].urls: must list at least one URL"),
        ({"iceServers": [{"urls": ("stun:h", "turn:h")}]}, "ice_servers[0].username:"),
        ({"ice_servers": [{"urls": "turn:h", "username": "u"}]}, "ice_servers[0].credential:"),
        ({"ice_servers": [{"urls": "stun:h", "password": "p"}]}, "ice_servers[0].password:"),
        ({"ice_servers": [{"urls": "stun:h", 3: "p"}]}, "ice_servers[0]: keys must be strings"),
        ({"ice_servers": [{"urls": {"stun:h"}}]}, "ice_servers[0].urls: expected a string"),
        ({"ice_transport_policy": "none"}, "ice_transport_policy: expected"),
        ({"iceTransportPolicy": None}, "ice_transport_policy: expected"),
    ],
)
def test_bad_session_options_are_1011_naming_the_key(options: Any, field: str) -> None:
    with pytest.raises(Error) as info:
        libpublisher.init_session(LOOPBACK, options)
    assert_error(info, ErrorCode.INVALID_PARAMETER)
    assert info.value.message.startswith(field), info.value.message


def test_good_session_options_in_either_case() -> None:
    options = {"connect_timeout_ms": 2000, "publishTimeoutMs": 3000, "iceTimeoutMs": 4000}
    with libpublisher.init_session(LOOPBACK, options) as session:
        session.connect()
        assert session.state == "connected"


def test_ice_servers_take_lists_tuples_and_mappings() -> None:
    import types

    servers = (
        {"urls": "stun:127.0.0.1:3478"},
        types.MappingProxyType(
            {
                "urls": ["turn:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=tcp"],
                "username": "u",
                "credential": "p",
            }
        ),
        {"urls": ("turns:turn.example.net",), "username": "u", "credential": "p"},
    )
    for options in (
        {"ice_servers": servers, "ice_transport_policy": "relay"},
        {"iceServers": list(servers), "iceTransportPolicy": "all"},
        {"ice_servers": None},
    ):
        libpublisher.init_session(LOOPBACK, options).close()


def test_bad_arguments_are_1011(publisher: Any) -> None:
    with libpublisher.init_session(LOOPBACK) as session:
        calls = [
            lambda: libpublisher.init_session(42),
            lambda: libpublisher.init_session(LOOPBACK, on={"sessionConnected": print}),
            lambda: libpublisher.init_session(LOOPBACK, on={"session_connected": "print"}),
            lambda: session.connect(12345),
            lambda: session.connect(None, "later"),
            lambda: session.publish("publisher"),
            lambda: session.unpublish(None),
            lambda: session.get_receiver_stats(session),
            lambda: session.on("stream_created", print),  # a publisher event
            lambda: session.on("session_connected", 42),
        ]
        for call in calls:
            with pytest.raises(Error) as info:
                call()
            assert_error(info, ErrorCode.INVALID_PARAMETER)
        assert session.state == "disconnected"


def test_connect_twice_is_1015_at_once() -> None:
    with libpublisher.init_session(LOOPBACK) as session:
        first = Completion()
        session.connect(None, first)
        second: List[Any] = []
        with pytest.raises(Error) as info:
            session.connect(None, second.append)  # still connecting, or connected
        assert_error(info, ErrorCode.ILLEGAL_STATE)
        assert first.wait() is None
        with pytest.raises(Error) as info:
            session.connect()
        assert_error(info, ErrorCode.ILLEGAL_STATE)
        time.sleep(0.1)
        assert second == []


def test_publish_twice_is_1015_at_once(publisher: Any, connected: Any) -> None:
    first = Completion()
    connected.publish(publisher, first)
    with pytest.raises(Error) as info:
        connected.publish(publisher)  # under way
    assert_error(info, ErrorCode.ILLEGAL_STATE)
    assert first.wait() is None
    with pytest.raises(Error) as info:
        connected.publish(publisher)  # published
    assert_error(info, ErrorCode.ILLEGAL_STATE)
    # On another session as well.
    with libpublisher.init_session(LOOPBACK) as other:
        other.connect()
        with pytest.raises(Error) as info:
            other.publish(publisher)
        assert_error(info, ErrorCode.ILLEGAL_STATE)
        with pytest.raises(Error) as info:
            other.unpublish(publisher)  # not published on this one
        assert_error(info, ErrorCode.ILLEGAL_STATE)


def test_publishing_a_failed_or_closed_publisher_is_1015(connected: Any) -> None:
    done = Completion()
    failed = libpublisher.init_publisher(
        {"video_source": "video:missing", "audio_source": None}, done
    )
    assert done.wait() is not None
    with pytest.raises(Error) as info:
        connected.publish(failed)
    assert_error(info, ErrorCode.ILLEGAL_STATE)
    failed.close()
    with pytest.raises(Error) as info:
        connected.publish(failed)
    assert_error(info, ErrorCode.ILLEGAL_STATE)


def test_receiver_stats_of_an_unpublished_publisher_is_none(
    publisher: Any, connected: Any
) -> None:
    assert connected.get_receiver_stats(publisher) is None


# ----- close -------------------------------------------------------------------------------


@pytest.mark.parametrize("delay", [0.0, 0.005, 0.02, 0.05, 0.1])
def test_close_during_publish_means_no_callback_afterwards(publisher: Any, delay: float) -> None:
    closed = threading.Event()
    late: List[str] = []
    ran: List[str] = []

    def record(name: str) -> Callable[..., None]:
        def handler(*args: Any) -> None:
            ran.append(name)
            if closed.is_set():
                late.append(name)

        return handler

    session = libpublisher.init_session(
        LOOPBACK, on={name: record(name) for name in libpublisher.SESSION_EVENTS}
    )
    session.connect()
    session.publish(publisher, record("publish done"))
    time.sleep(delay)
    session.close()
    closed.set()
    assert session.state == "closed"
    # The core tears the stream down; the publisher can be published again afterwards.
    assert wait_until(lambda: publisher.state == "ready")
    time.sleep(0.2)
    assert late == []
    with libpublisher.init_session(LOOPBACK) as again:
        again.connect()
        again.publish(publisher)
        assert publisher.state == "publishing"


def test_close_from_another_thread_ends_a_blocked_call(publisher: Any) -> None:
    session = libpublisher.init_session(LOOPBACK)
    session.connect()
    outcome: List[Any] = []

    def run() -> None:
        try:
            session.publish(publisher)
            outcome.append(None)
        except Error as error:
            outcome.append(error)

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.01)
    session.close()
    worker.join(5)
    assert not worker.is_alive()
    # Either it completed before the close, or the close ended the wait with 1015.
    assert outcome == [None] or outcome[0].code == ErrorCode.ILLEGAL_STATE


def test_close_from_inside_a_session_handler() -> None:
    log = Log()
    holder: List[Any] = []

    def on_connected() -> None:
        holder[0].close()
        log.add("closed inside", holder[0].state)

    session = libpublisher.init_session(
        LOOPBACK,
        on={"session_connected": [on_connected, log.handler("second handler")]},
    )
    holder.append(session)
    done = Completion()
    session.connect(None, done)
    assert wait_until(lambda: log.names() == ["closed inside"])
    time.sleep(0.2)
    # The closing handler is the last callback: no second handler; the pending connect
    # completed once, with 1015, inside close().
    assert log.entries[0][1] == ("closed",)
    assert log.names() == ["closed inside"]
    assert done.wait().code == libpublisher.ErrorCode.ILLEGAL_STATE


def test_blocking_inside_a_session_callback_is_refused(publisher: Any) -> None:
    results: List[Any] = []
    unpublished = Completion()
    created = threading.Event()
    publisher.on("stream_created", lambda stream_id: created.set())

    def on_connected() -> None:
        try:
            session.publish(publisher)  # would wait for the thread running this handler
        except Error as error:
            results.append(error)
        # The callback form works from here.
        session.publish(publisher, lambda error: (results.append(error), published.set()))

    published = threading.Event()
    session = libpublisher.init_session(LOOPBACK, on={"session_connected": on_connected})
    with session:
        session.connect()
        assert published.wait(10)
        assert results[0].code == ErrorCode.ILLEGAL_STATE
        assert "callback=" in results[0].message
        assert results[1:] == [None]
        assert created.wait(5)

        def on_created(stream_id: str) -> None:
            try:
                session.unpublish(publisher)  # would wait for this publisher's own thread
            except Error as error:
                results.append(error)
            session.unpublish(publisher, unpublished)

        publisher.on("stream_created", on_created)
        session.unpublish(publisher)
        session.publish(publisher)
        assert unpublished.wait() is None
        assert results[2].code == ErrorCode.ILLEGAL_STATE


def test_callback_form_keeps_an_unreferenced_session_until_done() -> None:
    done = Completion()
    libpublisher.init_session(LOOPBACK).connect(None, done)
    gc.collect()
    assert done.wait() is None


def test_a_collected_session_is_closed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="libpublisher")
    session = libpublisher.init_session(LOOPBACK)
    session.on("session_disconnected", lambda reason, s=session: s.state)  # a cycle
    ident = session.id
    ref = weakref.ref(session)
    del session
    gc.collect()
    assert ref() is None
    assert wait_until(
        lambda: any(r.getMessage() == f"closed session={ident}" for r in caplog.records)
    ), [r.getMessage() for r in caplog.records]


def test_session_handle_basics() -> None:
    assert libpublisher.SESSION_EVENTS == (
        "session_connected",
        "session_disconnected",
        "session_reconnecting",
        "session_reconnected",
    )
    with libpublisher.init_session(LOOPBACK) as session:
        assert isinstance(session, libpublisher.Session)
        assert session.id > 0 and "disconnected" in repr(session)
        for name in libpublisher.SESSION_EVENTS:
            assert session.on(name, print) is print
            session.off(name, print)

        @session.on("session_connected")
        def connected() -> None:
            pass

        assert callable(connected)
        session.off("session_connected")
    assert session.state == "closed"
    session.close()  # twice is harmless
    with pytest.raises(Error) as info:
        session.disconnect()
    assert_error(info, ErrorCode.ILLEGAL_STATE)


def test_publish_unpublish_cycles_do_not_grow_the_thread_count(
    publisher: Any, connected: Any
) -> None:
    def cycle() -> None:
        connected.publish(publisher)
        assert connected.get_receiver_stats(publisher) is not None
        connected.unpublish(publisher)

    cycle()  # the runtime's pools start on first use
    before = thread_count()
    for _ in range(10):
        cycle()
    # Encoder threads are joined at unpublish; allow the runtime a moment to park its pool.
    assert wait_until(lambda: thread_count() <= before, timeout=3), (before, thread_count())


def test_the_stub_lists_every_session_option() -> None:
    import ast
    import pathlib

    from libpublisher import _native

    stub = pathlib.Path(libpublisher.__file__).with_name("_native.pyi")
    tree = ast.parse(stub.read_text())
    options = next(
        node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "SessionOptions"
    )
    keys = [n.target.id for n in options.body if isinstance(n, ast.AnnAssign)]
    assert keys == list(_native.session_option_keys())
