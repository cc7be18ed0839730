"""WHIP from C and Node against the aiortc receiver: what each sends decodes there, and a
rejected token gives the same code and name as in Rust and Python."""

import pytest

from conftest import WHIP_PROGRAMS, new_sessions, run_whip_program as run


@pytest.mark.parametrize("language", list(WHIP_PROGRAMS))
def test_720p_decodes_at_the_receiver(receiver, language):
    """1280x720 at 30 fps for 3 s: every decoded frame has that size, and roughly the rate
    arrives (at least half: the two-core machine also runs the receiver's Python decoder)."""
    before = set(receiver.stats())
    seconds, fps = 3, 30
    result = run(language, receiver.url(language), receiver.token, seconds)
    assert result == "ok", result
    ours = new_sessions(receiver.stats(), before)
    assert len(ours) == 1, ours
    assert set(ours[0]["video_sizes"]) == {"1280x720"}, ours
    assert ours[0]["video_frames"] >= seconds * fps * 0.5, ours
    assert ours[0]["audio_frames"] >= seconds * 25, ours
    assert ours[0]["state"] in ("deleted", "closed"), ours


@pytest.mark.parametrize("language", list(WHIP_PROGRAMS))
def test_rejected_token_is_1004(receiver, language):
    result = run(language, receiver.url(language), "not-the-token", 1)
    assert result.startswith("error 1004 AUTHENTICATION_ERROR: "), result
