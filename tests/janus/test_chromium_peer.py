"""Self-tests of the browser test peer (tests/peers/chromium_viewer.py and its page), without
libpublisher: how it fails, which the Janus browser tests rely on to say why (a room without a
publisher, Janus's refusal, no Janus), and its frame-rate arithmetic. Its measurements are
exercised by tests/janus/test_janus_browser.py."""

import time

import pytest

from peers import chromium_viewer, janus
from peers.chromium_viewer import ChromiumViewer, presented_fps

pytestmark = pytest.mark.skipif(
    janus.available() is not None or chromium_viewer.available() is not None,
    reason=str(janus.available() or chromium_viewer.available()))


@pytest.fixture(scope="module")
def server():
    with janus.Janus() as server:
        yield server


def test_a_room_without_a_publisher_times_out(server):
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="no publisher in room 1234 within 1"):
        ChromiumViewer(server.ws_url, 1234, timeout=1.0)
    assert time.monotonic() - started < 10


def test_janus_refusing_the_join_fails_with_its_code(server):
    # Room 2000 takes pin "sesame": Janus checks the pin before the feed.
    with pytest.raises(RuntimeError) as refused:
        ChromiumViewer(server.ws_url, 2000, feed_id=1, pin="not-the-pin", timeout=5.0)
    message = str(refused.value)
    assert message.startswith("Janus refused: 433 Unauthorized (wrong pin)"), message
    # The page's console comes with it.
    assert "console.error: viewer: Janus refused: 433" in message, message


def test_no_janus_fails_quickly():
    with janus.Janus() as gone:
        ws_url = gone.ws_url
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="Janus: "):
        ChromiumViewer(ws_url, 1234, timeout=5.0)
    assert time.monotonic() - started < 15


def test_presented_fps():
    # 30 frames a second for 4 s, one callback each; then 2 s without a frame.
    frames = [(100 + i / 30, i + 1) for i in range(120)]
    assert presented_fps(frames, 104.0, 2) == pytest.approx(30, abs=0.5)
    assert presented_fps(frames, 106.0, 2) == 0
    assert presented_fps(frames, 106.0, 4) == pytest.approx(15, abs=0.5)
    # Two frames presented between callbacks count as two.
    assert presented_fps([(10.0, 1), (10.5, 3), (11.0, 5)], 11.0, 1) == 4
    # A window reaching back before the first frame counts from that frame.
    assert presented_fps([(10.0, 7), (10.5, 8)], 10.5, 1) == 2
