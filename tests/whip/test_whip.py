"""WHIP (RFC 9725) against an independent receiver: aiortc answers our offers and decodes the
VP8 and Opus we send with its own decoders. Driven through the Rust `publish` example, as a
user runs it; the codes are checked on its one-line error."""

import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "target" / "release" / "examples" / "publish"


def publish(*args, timeout=60):
    return subprocess.run(
        [str(EXAMPLE), "--video", "synthetic", "--audio", "synthetic", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_720p_decodes_at_the_receiver(receiver):
    before = set(receiver.stats())
    seconds, fps = 4, 30
    out = publish("--url", receiver.url(), "--token", receiver.token,
                  "--resolution", "1280x720", "--fps", str(fps), "--seconds", str(seconds))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "summary:" in out.stdout
    new = {k: v for k, v in receiver.stats().items() if k not in before}
    assert len(new) == 1, new
    session = next(iter(new.values()))
    # Every decoded frame has the requested size, and roughly the requested rate arrived
    # (a loaded two-core machine also runs the receiver's Python decoder).
    assert set(session["video_sizes"]) == {"1280x720"}, session
    assert session["video_frames"] >= seconds * fps * 0.5, session
    assert session["audio_rate"] == 48000 and session["audio_frames"] >= seconds * 25, session
    # unpublish DELETEd the resource.
    assert session["state"] in ("deleted", "closed"), session


def test_h264_decodes_at_the_receiver(receiver):
    """With video_codec H264 the offer carries H.264 only; aiortc answers with it and decodes
    every frame with its own (ffmpeg) decoder at the size we sent."""
    before = set(receiver.stats())
    seconds, fps = 3, 30
    out = publish("--url", receiver.url(), "--token", receiver.token, "--video-codec", "H264",
                  "--resolution", "640x480", "--fps", str(fps), "--seconds", str(seconds))
    assert out.returncode == 0, out.stderr[-2000:]
    new = {k: v for k, v in receiver.stats().items() if k not in before}
    assert len(new) == 1, new
    session = next(iter(new.values()))
    assert session["video_codec"] == "H264", session
    assert set(session["video_sizes"]) == {"640x480"}, session
    # Roughly the requested rate was decoded, starting from a keyframe (IDR with SPS/PPS).
    assert session["video_frames"] >= seconds * fps * 0.6, session
    assert session["video_keyframes"] >= 1, session
    assert session["state"] in ("deleted", "closed"), session


def test_a_server_without_our_video_codec_gives_1610(receiver):
    """A server that decodes only VP8 rejects the H.264-only video section of our offer
    (port 0): publishing fails with 1610 and the resource is deleted again. VP8 goes through."""
    before = set(receiver.stats())
    out = publish("--url", receiver.url("vp8only"), "--token", receiver.token,
                  "--video-codec", "H264", "--seconds", "1")
    assert out.returncode != 0
    assert re.search(r"^error 1610 SET_REMOTE_DESCRIPTION_FAILED: .*H264", out.stderr, re.M), \
        out.stderr[-2000:]
    session = next(v for k, v in receiver.stats().items() if k not in before)
    assert session["video_codec"] is None, session
    assert session["state"] in ("deleted", "closed"), session

    before = set(receiver.stats())
    out = publish("--url", receiver.url("vp8only"), "--token", receiver.token,
                  "--video-codec", "VP8", "--resolution", "320x240", "--seconds", "2")
    assert out.returncode == 0, out.stderr[-2000:]
    session = next(v for k, v in receiver.stats().items() if k not in before)
    assert session["video_codec"] == "VP8" and session["video_frames"] > 0, session


@pytest.mark.parametrize(
    "room, token, code, name",
    [
        ("room1", "wrong-token", 1004, "AUTHENTICATION_ERROR"),
        ("missing", None, 1005, "INVALID_SESSION_ID"),
        ("busy", None, 1027, "CONNECTION_LIMIT_EXCEEDED"),
        ("garbage", None, 2001, "UNEXPECTED_SERVER_RESPONSE"),
        ("nolocation", None, 2001, "UNEXPECTED_SERVER_RESPONSE"),
        ("reject", None, 2001, "UNEXPECTED_SERVER_RESPONSE"),
        # The probe passes; the POST of the offer is refused.
        ("postreject", None, 1590, "STREAM_CREATE_FAILED"),
        ("postbusy", None, 1027, "CONNECTION_LIMIT_EXCEEDED"),
    ],
)
def test_server_refusals_give_their_codes(receiver, room, token, code, name):
    out = publish("--url", receiver.url(room), "--token", token or receiver.token, "--seconds", "1")
    assert out.returncode != 0
    assert re.search(rf"^error {code} {name}: ", out.stderr, re.M), out.stderr[-2000:]
    assert (token or receiver.token) not in out.stderr + out.stdout, "the token leaked"


def test_nothing_listening_is_1006():
    out = publish("--url", "http://127.0.0.1:9/whip/room1", "--seconds", "1")
    assert out.returncode != 0
    assert re.search(r"^error 1006 CONNECT_FAILED: ", out.stderr, re.M), out.stderr[-2000:]


def test_malformed_url_is_1005():
    out = publish("--url", "http://", "--seconds", "1")
    assert re.search(r"^error 1005 INVALID_SESSION_ID: ", out.stderr, re.M), out.stderr[-2000:]


@pytest.mark.parametrize("codec", ["VP8", "H264"])
def test_keyframe_requests_are_answered(receiver, codec):
    """A receiver's PLI makes the next frame a keyframe: with a PLI every second for 4 s, more
    keyframes go out than the start keyframe and the periodic one (every 3 s) account for."""
    before = set(receiver.stats())
    out = publish("--url", receiver.url("pli"), "--token", receiver.token, "--video-codec", codec,
                  "--resolution", "640x360", "--seconds", "4")
    assert out.returncode == 0, out.stderr[-2000:]
    keyframes = int(re.search(r"(\d+) keyframes", out.stdout).group(1))
    session = next(v for k, v in receiver.stats().items() if k not in before)
    assert session["video_codec"] == codec, session
    assert session["plis_sent"] >= 2, session
    assert keyframes >= 2 + session["plis_sent"] // 2, (keyframes, session)


def test_the_rtp_clock_follows_the_source_not_the_nominal_rate(receiver, tmp_path):
    """A 15 fps file published with frame_rate 30: the frames' media timestamps advance 1/15 s
    each, so the receiver plays them at the file's speed."""
    width, height, fps = 160, 120, 15
    clip = tmp_path / "clip.y4m"
    with open(clip, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(fps):
            f.write(b"FRAME\n" + bytes([16 + i * 10]) * (width * height) + bytes([128]) * (width * height // 2))
    before = set(receiver.stats())
    out = publish("--url", receiver.url("clock"), "--token", receiver.token, "--video",
                  f"file:{clip}", "--audio", "none", "--resolution", f"{width}x{height}",
                  "--fps", "30", "--seconds", "3")
    assert out.returncode == 0, out.stderr[-2000:]
    session = next(v for k, v in receiver.stats().items() if k not in before)
    frames, span = session["video_frames"], session["video_media_seconds"]
    assert frames >= 20, session
    interval = span / (frames - 1)
    assert abs(interval - 1 / fps) < 0.2 / fps, (interval, session)
