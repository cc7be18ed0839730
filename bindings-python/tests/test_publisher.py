"""init_publisher and the Publisher handle against the real core (synthetic sources)."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from typing import Any, List, Optional

import pytest

import libpublisher
from libpublisher import Error, ErrorCode

from conftest import synthetic, wait_until

STATS_FIELDS = (
    "video_frames_captured",
    "audio_frames_captured",
    "video_frames_sent",
    "video_keyframes_sent",
    "audio_packets_sent",
    "packets_sent",
    "bytes_sent",
    "bitrate_bps",
    "rtt_ms",
    "packets_lost",
    "retransmitted_packets_sent",
    "retransmitted_bytes_sent",
    "target_bitrate_bps",
    "available_outgoing_bitrate_bps",
    "frame_width",
    "frame_height",
    "frames_per_second",
    "quality_limitation_reason",
)
# Stats that are names rather than numbers, with their value when nothing is sent.
NAMED_STATS = {"quality_limitation_reason": "none"}


def unsent_stats() -> dict:
    """The stats of a publisher that sent nothing: zeros, and ``"none"`` for the names."""
    return {key: NAMED_STATS.get(key, 0) for key in STATS_FIELDS}


# ----- success ---------------------------------------------------------------------------


def test_synthetic_ok_blocking_with_events_in_order() -> None:
    log: List[Any] = []

    def consent(request: libpublisher.AccessRequest) -> bool:
        log.append(("consent", request.video, request.audio))
        return True

    publisher = libpublisher.init_publisher(
        synthetic(access_request=consent),
        on={
            "access_allowed": lambda: log.append("access_allowed"),
            "access_denied": lambda e: log.append("access_denied"),
        },
    )
    try:
        log.append("returned")
        assert log == [("consent", "synthetic", "synthetic"), "access_allowed", "returned"]
        assert publisher.state == "ready"
        assert isinstance(publisher.id, int) and publisher.id > 0
    finally:
        publisher.close()
    assert publisher.state == "closed"


def test_stats_count_frames_up_over_time() -> None:
    with libpublisher.init_publisher(synthetic(frame_rate=30)) as publisher:
        first = publisher.get_stats()
        assert set(first) == set(STATS_FIELDS)
        # Not published: nothing sent, estimated or limited.
        expected = unsent_stats()
        assert {k: v for k, v in first.items() if not k.endswith("_captured")} == {
            k: v for k, v in expected.items() if not k.endswith("_captured")
        }
        assert isinstance(first["rtt_ms"], float)
        assert isinstance(first["frames_per_second"], float)
        time.sleep(0.4)
        second = publisher.get_stats()
        # 30 fps video and 10 ms audio frames: 0.4 s is about 12 and 40 more.
        assert second["video_frames_captured"] >= first["video_frames_captured"] + 5
        assert second["audio_frames_captured"] >= first["audio_frames_captured"] + 15
    assert publisher.state == "closed"


def test_video_only_publisher() -> None:
    with libpublisher.init_publisher(
        {"video_source": "synthetic", "audio_source": None, "resolution": "1280x720"}
    ) as publisher:
        assert wait_until(lambda: publisher.get_stats()["video_frames_captured"] >= 2)
        assert publisher.get_stats()["audio_frames_captured"] == 0


def test_blocking_callbacks_run_on_the_calling_thread() -> None:
    threads: List[int] = []

    def run() -> None:
        publisher = libpublisher.init_publisher(
            synthetic(access_request=lambda r: threads.append(threading.get_ident()) or True),
            on={"access_allowed": lambda: threads.append(threading.get_ident())},
        )
        publisher.close()
        threads.append(threading.get_ident())

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(10)
    assert len(threads) == 3 and len(set(threads)) == 1
    assert threads[0] == worker.ident


def test_options_accept_none_and_any_mapping() -> None:
    from types import MappingProxyType

    with pytest.raises(Error) as info:
        libpublisher.init_publisher(MappingProxyType({"frame_rate": 0}))
    assert info.value.message.startswith("frame_rate:")
    # No options: the defaults ("default" camera and microphone) need hardware.
    try:
        libpublisher.init_publisher().close()
    except Error as e:
        assert e.code in (ErrorCode.NO_DEVICES_FOUND, ErrorCode.HARDWARE_UNAVAILABLE)


def test_adaptation_options_are_taken_in_either_spelling() -> None:
    for options in (
        {"degradation_preference": "maintain-framerate", "max_video_bitrate_kbps": 500},
        {"degradationPreference": "maintain-resolution", "maxVideoBitrateKbps": 100000},
        {"degradation_preference": "balanced", "max_video_bitrate_kbps": 0},
        {"audio_fallback": False},
        {"audioFallback": True},
    ):
        libpublisher.init_publisher(synthetic(**options)).close()


# ----- failures --------------------------------------------------------------------------


def test_consent_denied_raises_1500_after_access_denied_event() -> None:
    log: List[Any] = []
    with pytest.raises(Error) as info:
        libpublisher.init_publisher(
            synthetic(access_request=lambda request: False),
            on={
                "access_denied": lambda error: log.append(("access_denied", error)),
                "access_allowed": lambda: log.append("access_allowed"),
            },
        )
    error = info.value
    assert error.code == 1500 and error.code is ErrorCode.USER_MEDIA_ACCESS_DENIED
    assert error.name == "USER_MEDIA_ACCESS_DENIED"
    assert error.message.startswith("Publisher Access Denied:")
    assert len(log) == 1 and log[0][0] == "access_denied"
    event_error = log[0][1]
    assert isinstance(event_error, Error)
    assert (event_error.code, event_error.message) == (error.code, error.message)


def test_default_camera_without_a_camera_is_1581(has_camera: bool) -> None:
    if has_camera:
        pytest.skip("this machine has a camera")
    with pytest.raises(Error) as info:
        libpublisher.init_publisher({"video_source": "default", "audio_source": None})
    assert info.value.code == 1581 and info.value.name == "NO_DEVICES_FOUND"


def test_unknown_device_id_is_1582() -> None:
    events: List[str] = []
    with pytest.raises(Error) as info:
        libpublisher.init_publisher(
            {"video_source": "video:no-such-camera", "audio_source": None},
            on={"access_allowed": lambda: events.append("allowed")},
        )
    assert info.value.code == ErrorCode.DEVICE_NOT_FOUND
    assert "video:no-such-camera" in info.value.message
    assert events == []


@pytest.mark.parametrize(
    "options, field",
    [
        ({"video_source": "synthetic", "resolution": "huge"}, "resolution:"),
        ({"video_source": "synthetic", "resolution": "1281x720"}, "resolution:"),
        ({"audio_source": "loudspeaker"}, "audio_source:"),
        ({"video_source": "webcam"}, "video_source:"),
        ({"video_source": "synthetic", "frame_rate": 0}, "frame_rate:"),
        ({"video_source": "synthetic", "frame_rate": "30"}, "frame_rate:"),
        ({"video_source": "synthetic", "frame_rate": 2**70}, "frame_rate:"),
        ({"video_source": 5}, "video_source:"),
        ({"publish_audio": "yes"}, "publish_audio:"),
        ({"resolution": ["1280", "720"]}, "resolution:"),
        ({"video_codec": "AV2"}, "video_codec:"),
        ({"init_timeout_ms": 0}, "init_timeout_ms:"),
        ({"degradation_preference": "fast"}, "degradation_preference:"),
        ({"degradation_preference": None}, "degradation_preference:"),
        ({"max_video_bitrate_kbps": -1}, "max_video_bitrate_kbps:"),
        ({"max_video_bitrate_kbps": 100001}, "max_video_bitrate_kbps:"),
        ({"max_video_bitrate_kbps": 1.5}, "max_video_bitrate_kbps:"),
        ({"audio_fallback": "yes"}, "audio_fallback:"),
        ({"colour": "blue"}, "colour:"),
        ({"access_request": "yes"}, "access_request:"),
        ({"video_source": None, "audio_source": None}, "video_source/audio_source:"),
    ],
)
def test_invalid_options_are_1011_naming_the_field(options: dict, field: str) -> None:
    calls: List[Any] = []
    with pytest.raises(Error) as info:
        libpublisher.init_publisher(options, callback=calls.append)
    assert info.value.code == ErrorCode.INVALID_PARAMETER
    assert info.value.name == "INVALID_PARAMETER"
    assert info.value.message.startswith(field), info.value.message
    time.sleep(0.05)
    assert calls == []  # invalid settings fail synchronously, with no callback


def test_bad_arguments_are_1011() -> None:
    for call in (
        lambda: libpublisher.init_publisher(["video_source"]),
        lambda: libpublisher.init_publisher({1: "synthetic"}),
        lambda: libpublisher.init_publisher(synthetic(), callback="later"),
        lambda: libpublisher.init_publisher(synthetic(), on={"accessAllowed": print}),
        lambda: libpublisher.init_publisher(synthetic(), on={"access_allowed": "print"}),
    ):
        with pytest.raises(Error) as info:
            call()
        assert info.value.code == 1011


# ----- callback form ---------------------------------------------------------------------


def test_callback_form_returns_at_once_and_completes_later() -> None:
    done = threading.Event()
    log: List[Any] = []

    def completed(error: Optional[Error]) -> None:
        log.append(("done", error, threading.get_ident()))
        done.set()

    publisher = libpublisher.init_publisher(
        synthetic(),
        completed,
        on={"access_allowed": lambda: log.append(("access_allowed", threading.get_ident()))},
    )
    try:
        assert isinstance(publisher, libpublisher.Publisher)
        assert done.wait(5)
        assert [entry[0] for entry in log] == ["access_allowed", "done"]
        assert log[1][1] is None
        # Nobody waits in the callback form: the publisher's library thread runs them.
        assert log[0][-1] == log[1][-1] != threading.get_ident()
        assert publisher.state == "ready"
    finally:
        publisher.close()


def test_callback_form_reports_failure_as_error() -> None:
    done = threading.Event()
    errors: List[Any] = []
    publisher = libpublisher.init_publisher(
        {"video_source": "video:missing", "audio_source": None},
        lambda error: (errors.append(error), done.set()),
    )
    assert done.wait(5)
    assert isinstance(errors[0], Error) and errors[0].code == 1582
    assert publisher.state == "failed"
    publisher.close()


def test_callback_form_keeps_an_unreferenced_publisher_until_done() -> None:
    done = threading.Event()
    results: List[Any] = []
    libpublisher.init_publisher(synthetic(), lambda error: (results.append(error), done.set()))
    gc.collect()
    assert done.wait(5)
    assert results == [None]


# ----- close -----------------------------------------------------------------------------


def test_close_during_init_means_no_callback_afterwards() -> None:
    in_consent = threading.Event()
    calls: List[Any] = []

    def slow_consent(request: Any) -> bool:
        in_consent.set()
        time.sleep(0.3)
        calls.append("consent returned")
        return True

    publisher = libpublisher.init_publisher(
        synthetic(access_request=slow_consent),
        lambda error: calls.append(("done", error)),
        on={"access_allowed": lambda: calls.append("access_allowed")},
    )
    assert in_consent.wait(5)
    publisher.close()
    # close() waited for the running consent callback; the init completed exactly once before
    # close returned (with 1015, or with success if it finished while close was stopping the
    # callbacks); nothing ran after it, not even access_allowed.
    assert calls[0] == "consent returned"
    assert [c[0] for c in calls[1:]] == ["done"]
    assert calls[1][1] is None or calls[1][1].code == libpublisher.ErrorCode.ILLEGAL_STATE
    assert publisher.state == "closed"
    time.sleep(0.5)
    assert len(calls) == 2


def test_nothing_runs_after_close_returns() -> None:
    late: List[Any] = []
    ran: List[Any] = []
    for _ in range(30):
        closed = threading.Event()

        def callback(*args: Any, closed: threading.Event = closed) -> bool:
            ran.append(args)
            if closed.is_set():
                late.append(args)
            return True

        publisher = libpublisher.init_publisher(
            synthetic(access_request=callback), callback, on={"access_allowed": callback}
        )
        publisher.close()
        closed.set()
        assert publisher.state == "closed"
    time.sleep(0.3)
    assert late == []


def test_close_from_inside_an_event_handler() -> None:
    holder: List[libpublisher.Publisher] = []
    ready = threading.Event()
    handled = threading.Event()
    log: List[Any] = []

    def on_allowed() -> None:
        ready.wait(5)
        holder[0].close()
        log.append(("closed inside", holder[0].state))
        handled.set()

    publisher = libpublisher.init_publisher(
        synthetic(),
        lambda error: log.append(("done", error)),
        on={"access_allowed": [on_allowed, lambda: log.append("second handler")]},
    )
    holder.append(publisher)
    ready.set()
    assert handled.wait(5)
    time.sleep(0.3)
    # The closing handler is the last callback: no second handler; the pending init completed
    # once, with 1015, inside close().
    assert [entry[0] for entry in log] == ["done", "closed inside"]
    assert log[0][1].code == libpublisher.ErrorCode.ILLEGAL_STATE
    assert log[1] == ("closed inside", "closed")
    assert publisher.state == "closed"


def test_close_from_inside_the_consent_callback() -> None:
    holder: List[libpublisher.Publisher] = []
    ready = threading.Event()
    log: List[Any] = []

    def consent(request: Any) -> bool:
        ready.wait(5)
        holder[0].close()
        log.append("closed in consent")
        return True

    publisher = libpublisher.init_publisher(
        synthetic(access_request=consent), lambda error: log.append(("done", error))
    )
    holder.append(publisher)
    ready.set()
    # The pending init completed once, with 1015, inside close(); nothing after.
    assert wait_until(lambda: len(log) == 2)
    assert log[0][0] == "done" and log[0][1].code == libpublisher.ErrorCode.ILLEGAL_STATE
    assert log[1] == "closed in consent"
    time.sleep(0.3)
    assert len(log) == 2


def test_close_is_idempotent_and_the_handle_stays_usable() -> None:
    publisher = libpublisher.init_publisher(synthetic())
    publisher.close()
    publisher.close()
    assert publisher.state == "closed"
    stats = publisher.get_stats()
    assert stats == unsent_stats() and isinstance(stats["rtt_ms"], float)
    assert "closed" in repr(publisher)


def test_unreferenced_publisher_is_collected_even_in_a_cycle() -> None:
    publisher = libpublisher.init_publisher(synthetic())
    # A handler that refers to its publisher makes a cycle through the core.
    publisher.on("stream_created", lambda stream_id: publisher.get_stats())
    ref = weakref.ref(publisher)
    del publisher
    gc.collect()
    assert ref() is None


def test_a_collected_publisher_is_closed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="libpublisher")
    publisher = libpublisher.init_publisher(synthetic())
    ident = publisher.id
    del publisher
    gc.collect()
    assert wait_until(
        lambda: any(
            r.getMessage() == f"closed publisher={ident}" for r in caplog.records
        )
    ), [r.getMessage() for r in caplog.records]


# ----- handlers --------------------------------------------------------------------------


def test_on_validates_names_and_handlers() -> None:
    with libpublisher.init_publisher(synthetic()) as publisher:
        for bad in ("accessAllowed", "allowed", ""):
            with pytest.raises(Error) as info:
                publisher.on(bad, print)
            assert info.value.code == 1011 and info.value.message.startswith("event:")
        with pytest.raises(Error) as info:
            publisher.on("access_allowed", 42)
        assert info.value.code == 1011
        for name in libpublisher.PUBLISHER_EVENTS:
            assert publisher.on(name, print) is print
            publisher.off(name, print)


def test_event_names_are_the_cores() -> None:
    assert libpublisher.PUBLISHER_EVENTS == (
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
    )


def test_on_works_as_a_decorator_and_off_removes() -> None:
    done = threading.Event()
    seen: List[str] = []
    publisher = libpublisher.init_publisher(synthetic(), lambda e: done.set())

    @publisher.on("stream_created")
    def created(stream_id: str) -> None:
        seen.append(stream_id)

    assert callable(created)
    publisher.off("stream_created", created)
    publisher.off("stream_created")
    assert done.wait(5)
    publisher.close()


# ----- callbacks that fail -----------------------------------------------------------------


def test_a_raising_handler_does_not_break_the_library(unraisable: Any) -> None:
    log: List[str] = []

    def broken() -> None:
        raise ValueError("handler bug")

    publisher = libpublisher.init_publisher(
        synthetic(), on={"access_allowed": [broken, lambda: log.append("next handler ran")]}
    )
    assert log == ["next handler ran"]
    assert unraisable.types() == [ValueError]
    assert unraisable.seen[0][2] is broken
    publisher.close()
    # The library still works.
    libpublisher.init_publisher(synthetic()).close()


def test_a_raising_consent_callable_denies(unraisable: Any) -> None:
    def consent(request: Any) -> bool:
        raise RuntimeError("consent bug")

    with pytest.raises(Error) as info:
        libpublisher.init_publisher(synthetic(access_request=consent))
    assert info.value.code == 1500
    assert unraisable.types() == [RuntimeError]


def test_an_async_consent_callable_is_refused(unraisable: Any) -> None:
    async def consent(request: Any) -> bool:
        return True

    with pytest.raises(Error) as info:
        libpublisher.init_publisher(synthetic(access_request=consent))
    assert info.value.code == 1500
    assert unraisable.types() == [TypeError]


def test_a_raising_completion_callback_is_reported(unraisable: Any) -> None:
    done = threading.Event()

    def completed(error: Any) -> None:
        done.set()
        raise KeyError("completion bug")

    publisher = libpublisher.init_publisher(synthetic(), completed)
    assert done.wait(5)
    assert wait_until(lambda: unraisable.types() == [KeyError])
    assert publisher.state == "ready"
    publisher.close()


def test_many_publishers_concurrently() -> None:
    results: List[Any] = []
    lock = threading.Lock()

    def run() -> None:
        with libpublisher.init_publisher(synthetic(resolution="160x120")) as publisher:
            with lock:
                results.append(publisher.state)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results == ["ready"] * 6


def test_get_devices_lists_devices() -> None:
    devices = libpublisher.get_devices()
    assert isinstance(devices, list)
    for device in devices:
        assert device.kind in ("audioInput", "videoInput", "screen")
        assert device.device_id.startswith(("audio:", "video:", "screen:"))
        assert isinstance(device.label, str)
        assert device == device and hash(device) == hash(device)


def test_cycle_video_without_a_camera_has_nowhere_to_go(has_camera: bool) -> None:
    if has_camera:
        pytest.skip("this machine has a camera")
    publisher = libpublisher.init_publisher(synthetic(audio_source=None))
    try:
        with pytest.raises(Error) as e:
            publisher.cycle_video()
        assert e.value.code == ErrorCode.NO_DEVICES_FOUND
        assert e.value.message == "cycle_video: no camera is present"
        completions: List[Any] = []
        with pytest.raises(Error):
            publisher.cycle_video(callback=completions.append)
        time.sleep(0.1)
        assert completions == []
    finally:
        publisher.close()
    with pytest.raises(Error) as e:
        publisher.cycle_video()
    assert e.value.code == ErrorCode.ILLEGAL_STATE


def test_a_second_switch_while_one_is_under_way_is_refused_at_once() -> None:
    asked = threading.Event()
    release = threading.Event()

    def access_request(request: Any) -> bool:
        if request.audio is None:  # a switch asks for video alone: hold it
            asked.set()
            release.wait(5)
        return True

    publisher = libpublisher.init_publisher(synthetic(access_request=access_request))
    try:
        completions: List[Any] = []
        publisher.set_video_source("synthetic", callback=completions.append)
        assert asked.wait(5)
        with pytest.raises(Error) as e:
            publisher.set_video_source("synthetic")
        assert e.value.code == ErrorCode.ILLEGAL_STATE
        assert e.value.message == "set_video_source: a switch of source is under way"
        release.set()
        assert wait_until(lambda: completions == [None], 5), completions
        publisher.set_video_source("synthetic")  # the next one goes through
    finally:
        release.set()
        publisher.close()


def test_a_snapshot_before_any_frame_says_so() -> None:
    # A custom source the host has not fed yet has captured nothing.
    publisher = libpublisher.init_publisher({"video_source": "custom", "audio_source": None})
    try:
        started = time.monotonic()
        with pytest.raises(Error) as e:
            publisher.snapshot()
        assert e.value.code == ErrorCode.ILLEGAL_STATE
        assert e.value.message == "snapshot: no video frame captured yet"
        assert 0.9 <= time.monotonic() - started < 3
    finally:
        publisher.close()
