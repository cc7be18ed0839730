"""Custom sources from Python: the program pushes frames (bytes, numpy arrays, array.array)."""

from __future__ import annotations

import array
import time
from typing import Any, Dict, List

import numpy as np
import pytest

import libpublisher
from libpublisher import Error, ErrorCode

from conftest import synthetic, wait_until


def custom(**extra: Any) -> Dict[str, Any]:
    options: Dict[str, Any] = {
        "video_source": "custom",
        "audio_source": "custom",
        "resolution": "320x240",
        "frame_rate": 30,
    }
    options.update(extra)
    return options


@pytest.fixture()
def publisher():
    p = libpublisher.init_publisher(custom())
    yield p
    p.close()


def code_of(call: Any) -> int:
    with pytest.raises(Error) as failure:
        call()
    return failure.value.code


def test_init_completes_without_a_frame_and_without_consent() -> None:
    asked: List[Any] = []
    started = time.monotonic()
    with libpublisher.init_publisher(custom(access_request=asked.append)) as p:
        assert time.monotonic() - started < 2
        assert p.state == "ready"
        assert asked == []


def test_bytes_and_numpy_frames_are_counted(publisher: libpublisher.Publisher) -> None:
    i420 = bytes([81]) * (320 * 240) + bytes([90]) * (160 * 120) + bytes([240]) * (160 * 120)
    publisher.push_video_frame(i420, 320, 240)
    time.sleep(0.04)
    rgba = np.zeros((48, 64, 4), dtype=np.uint8)
    rgba[..., 1] = 255
    publisher.push_video_frame(rgba, 64, 48, format="rgba", timestamp_us=40_000)
    time.sleep(0.04)
    publisher.push_video_frame(bytearray(rgba.tobytes()), 64, 48, "RGBA")
    # 10 ms each: int16 bytes, a numpy int16 array (stereo), float32, array.array('h').
    publisher.push_audio_frame(b"\x00\x01" * 480)
    publisher.push_audio_frame(np.zeros(960, dtype=np.int16), channels=2)
    publisher.push_audio_frame(np.zeros(480, dtype=np.float32), sample_rate=48000)
    publisher.push_audio_frame(array.array("h", [0] * 160), sample_rate=16000)
    assert wait_until(lambda: publisher.get_stats()["video_frames_captured"] == 3)
    # The switch to stereo and back drops what was pending; the last push is one sample short.
    assert wait_until(lambda: publisher.get_stats()["audio_frames_captured"] >= 3)


@pytest.mark.parametrize(
    "call, field",
    [
        (lambda p: p.push_video_frame(b"\x00" * 10, 320, 240), "data"),
        (lambda p: p.push_video_frame(b"", 0, 240), "width"),
        (lambda p: p.push_video_frame(b"\x00" * (321 * 240 * 3 // 2), 321, 240), "width"),
        (lambda p: p.push_video_frame(b"\x00" * 100, -4, 240), "width"),
        (lambda p: p.push_video_frame(b"\x00" * (4 * 4 * 4), 4, 4, format="nv12"), "format"),
        (lambda p: p.push_video_frame("not bytes", 4, 4), "data"),
        (lambda p: p.push_video_frame(b"\x00" * 64, 4, 4, "rgba", timestamp_us=-1), "timestamp_us"),
        (lambda p: p.push_audio_frame(b""), "samples"),
        (lambda p: p.push_audio_frame(b"\x00" * 3), "samples"),
        (lambda p: p.push_audio_frame(b"\x00" * 6, channels=2), "samples"),
        (lambda p: p.push_audio_frame(b"\x00" * 960, channels=0), "channels"),
        (lambda p: p.push_audio_frame(b"\x00" * 960, channels=3), "channels"),
        (lambda p: p.push_audio_frame(b"\x00" * 960, sample_rate=0), "sample_rate"),
        (lambda p: p.push_audio_frame(np.zeros(480, dtype=np.float64)), "samples"),
        (lambda p: p.push_audio_frame(12), "samples"),
    ],
)
def test_wrong_frames_are_1011_naming_the_argument(
    publisher: libpublisher.Publisher, call: Any, field: str
) -> None:
    with pytest.raises(Error) as failure:
        call(publisher)
    assert failure.value.code == ErrorCode.INVALID_PARAMETER
    assert failure.value.message.startswith(f"{field}:"), failure.value.message


def test_pushes_where_they_cannot_go_are_1015(publisher: libpublisher.Publisher) -> None:
    frame = b"\x10" * (32 * 24 * 3 // 2)
    with libpublisher.init_publisher(synthetic()) as other:
        assert code_of(lambda: other.push_video_frame(frame, 32, 24)) == ErrorCode.ILLEGAL_STATE
        assert code_of(lambda: other.push_audio_frame(b"\x00" * 960)) == ErrorCode.ILLEGAL_STATE
    publisher.close()
    assert code_of(lambda: publisher.push_video_frame(frame, 32, 24)) == ErrorCode.ILLEGAL_STATE
    assert code_of(lambda: publisher.push_audio_frame(b"\x00" * 960)) == ErrorCode.ILLEGAL_STATE


def test_pushed_frames_reach_the_loopback_receiver(publisher: libpublisher.Publisher) -> None:
    frame = np.full((240, 320, 4), (0, 0, 255, 255), dtype=np.uint8)
    publisher.push_video_frame(frame, 320, 240, "rgba")  # publishing starts from it
    with libpublisher.init_session("loopback://") as session:
        session.connect()
        session.publish(publisher)
        tone = (np.sin(np.arange(480) * 2 * np.pi * 440 / 48000) * 8000).astype(np.int16)
        start = time.monotonic()
        for i in range(45):
            publisher.push_video_frame(frame, 320, 240, "rgba")
            for _ in range(3):
                publisher.push_audio_frame(tone)
            time.sleep(max(0.0, start + (i + 1) * 0.03 - time.monotonic()))
        time.sleep(0.3)
        received = session.get_receiver_stats(publisher)
        session.unpublish(publisher)
    assert received is not None
    assert received["video_frames"] >= 30 and received["first_frame_was_keyframe"], received
    assert received["audio_packets"] >= 30, received
