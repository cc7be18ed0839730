"""WHIP from C and Node against the aiortc receiver: what each sends decodes there, and a
rejected token gives the same code and name as in Rust and Python."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from peers.receiver import WhipReceiver  # noqa: E402

PROGRAMS = {
    "c": [str(ROOT / "target" / "c" / "whip_publish")],
    "node": [os.environ.get("NODE", "node"), str(ROOT / "tests" / "whip" / "publish.mjs")],
}


@pytest.fixture(scope="module")
def receiver():
    r = WhipReceiver()
    yield r
    r.close()


def run(language, url, token, seconds):
    out = subprocess.run(PROGRAMS[language] + [url, token, str(seconds)],
                         capture_output=True, text=True, timeout=60)
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-2000:]


@pytest.mark.parametrize("language", list(PROGRAMS))
def test_720p_decodes_at_the_receiver(receiver, language):
    """1280x720 at 30 fps for 3 s: every decoded frame has that size, and roughly the rate
    arrives (at least half: the two-core machine also runs the receiver's Python decoder)."""
    before = set(receiver.stats())
    seconds, fps = 3, 30
    result = run(language, receiver.url(language), receiver.token, seconds)
    assert result == "ok", result
    ours = [v for k, v in receiver.stats().items() if k not in before]
    assert len(ours) == 1, ours
    assert set(ours[0]["video_sizes"]) == {"1280x720"}, ours
    assert ours[0]["video_frames"] >= seconds * fps * 0.5, ours
    assert ours[0]["audio_frames"] >= seconds * 25, ours
    assert ours[0]["state"] in ("deleted", "closed"), ours


@pytest.mark.parametrize("language", list(PROGRAMS))
def test_rejected_token_is_1004(receiver, language):
    result = run(language, receiver.url(language), "not-the-token", 1)
    assert result.startswith("error 1004 AUTHENTICATION_ERROR: "), result
