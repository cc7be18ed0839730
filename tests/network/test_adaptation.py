"""Adaptation on a narrow link: the aiortc WHIP receiver runs in a network namespace whose input
nftables polices to 800 kbit/s (what exceeds it is dropped), and we publish high-detail video
(noise at 160x120 scaled to 640x480, new every frame: VP8 needs ~4 Mbit/s for it at 640x480
even at its coarsest quantizer). What is checked is what a host sees while it happens:

- the estimate falls under the link, the sent size steps down, the publisher says why
  (`quality_limitation_reason` "bandwidth") and fires `video_dimensions_changed` from 640x480;
- each degradation preference gives up what it says: "maintain-framerate" keeps the encoded
  frame rate (the size goes; at least 18 of 30 fps), "maintain-resolution" keeps the size
  (the rate goes, to 15 fps or less);
- the receiver decodes the smaller video, and audio keeps decoding;
- a link that narrows to 400 kbit/s and comes back is found again (probing): video is sent and
  decoded at 640x480 again soon after.

The figures of a longer run, per condition and beside an aiortc publisher, come from
tests/bench/bench_adaptation.py. Needs root, iproute2 and nftables (scripts/install-deps
installs them); skipped otherwise."""

import time

import pytest

import libpublisher
from conftest import session_stats, wait_until
from peers import netns

pytestmark = pytest.mark.skipif(netns.available() is not None, reason=str(netns.available()))

#: The link, and how long the publisher has to settle on it.
LINK_KBPS = 800
SETTLE_S = 9
#: The frame rate sent is read over the last this many seconds of that: the stats' own rate
#: is of the last second, and a step up that did not hold (the encoder dropping frames for the
#: second before the step back) read 15.9 fps there.
SENT_OVER_S = 4


def publish_on_narrow_link(network, net, clip, room, preference):
    """Publishes the clip at 640x480@30 with `preference` over the policed link for
    SETTLE_S seconds; the publisher's stats before publishing and at the end, the sizes
    `video_dimensions_changed` told, the receiver's stats, and the frames a second the
    publisher sent over the last SENT_OVER_S seconds."""
    _, receiver = network
    net.limit(LINK_KBPS)
    publisher = libpublisher.init_publisher({
        "video_source": f"file:{clip}", "audio_source": "synthetic",
        "resolution": "640x480", "frame_rate": 30, "degradation_preference": preference,
    })
    sizes = []
    publisher.on("video_dimensions_changed", sizes.append)
    session = libpublisher.init_session(receiver.url(room), {"reconnect_timeout_ms": 20000})
    try:
        before = publisher.get_stats()
        session.connect(token=receiver.token)
        session.publish(publisher)
        started = time.time()
        time.sleep(SETTLE_S - SENT_OVER_S)
        earlier, earlier_at = publisher.get_stats(), time.time()
        time.sleep(SENT_OVER_S)
        stats = publisher.get_stats()
        sent_fps = (stats["video_frames_sent"] - earlier["video_frames_sent"]) / \
            (time.time() - earlier_at)
        received = session_stats(receiver, room)
        print(f"\n{preference}: sent {stats['frame_width']}x{stats['frame_height']} at "
              f"{stats['frames_per_second']:.1f} fps ({sent_fps:.1f} over the last "
              f"{SENT_OVER_S} s), target {stats['target_bitrate_bps'] // 1000}"
              f" kbit/s, estimate {stats['available_outgoing_bitrate_bps'] // 1000} kbit/s, "
              f"{stats['quality_limitation_reason']}; steps {sizes}; receiver decoded "
              f"{received['video_sizes']}, {received['audio_frames']} audio frames in "
              f"{time.time() - started:.1f} s")
        return before, stats, sizes, received, sent_fps
    finally:
        session.close()
        publisher.close()


def test_a_narrow_link_steps_the_size_down_and_says_why(network, net, noise_clip):
    before, stats, sizes, received, _ = publish_on_narrow_link(
        network, net, noise_clip, "narrow-balanced", "balanced")
    # Not published yet: nothing to tell.
    assert before["frame_width"] == 0 and before["target_bitrate_bps"] == 0
    assert before["quality_limitation_reason"] == "none"
    # The estimate stays under the link; what video is asked for is less again.
    assert 0 < stats["available_outgoing_bitrate_bps"] <= LINK_KBPS * 1000 * 1.3, stats
    assert 0 < stats["target_bitrate_bps"] < stats["available_outgoing_bitrate_bps"], stats
    assert stats["quality_limitation_reason"] == "bandwidth", stats
    assert stats["frame_width"] < 640 and stats["frame_height"] < 480, stats
    # Every step was told, from the published size on, each from the size before.
    assert sizes, "no video_dimensions_changed"
    assert (sizes[0]["old_width"], sizes[0]["old_height"]) == (640, 480), sizes
    for earlier, later in zip(sizes, sizes[1:]):
        assert (later["old_width"], later["old_height"]) == \
            (earlier["new_width"], earlier["new_height"]), sizes
    assert (sizes[-1]["new_width"], sizes[-1]["new_height"]) == \
        (stats["frame_width"], stats["frame_height"]), (sizes, stats)
    # The receiver decoded the smaller video, and audio went on (50 packets a second; what the
    # link dropped while the estimate found it is gone).
    smaller = {size for size in received["video_sizes"] if size != "640x480"}
    assert smaller, received["video_sizes"]
    assert received["audio_frames"] >= 50 * SETTLE_S * 0.4, received["audio_frames"]


def test_maintain_framerate_gives_up_size_not_rate(network, net, noise_clip):
    _, stats, sizes, _, sent_fps = publish_on_narrow_link(
        network, net, noise_clip, "narrow-framerate", "maintain-framerate")
    # Usually 27-30; at the smallest size (80x60) rate control still drops some frames of
    # this noise when the estimate is low. maintain-resolution gives 6 here.
    assert sent_fps >= 18, (sent_fps, stats)
    assert stats["frame_width"] < 640, stats
    assert sizes


def test_maintain_resolution_gives_up_rate_not_size(network, net, noise_clip):
    _, stats, sizes, received, _ = publish_on_narrow_link(
        network, net, noise_clip, "narrow-resolution", "maintain-resolution")
    assert (stats["frame_width"], stats["frame_height"]) == (640, 480), stats
    assert stats["frames_per_second"] <= 15, stats
    assert stats["quality_limitation_reason"] == "bandwidth", stats
    assert sizes == [], "the size never changes"
    assert wait_until(lambda: received["video_sizes"].get("640x480", 0) > 0, 1)


#: A step: a clear link, 400 kbit/s from `STEP_AT_S`, clear again from `BACK_AT_S`.
STEP_KBPS = 400
STEP_AT_S = 8
BACK_AT_S = 16
#: How long after the link comes back video must be at full size again (the benchmark's
#: figure is 4.7-8.1 s over six runs; the issue asks for 10 s; a busy machine gets a margin).
BACK_WITHIN_S = 12


def test_a_link_that_narrows_and_comes_back_is_found_again(network, net, noise_clip):
    _, receiver = network
    room = "step-and-back"
    publisher = libpublisher.init_publisher({
        "video_source": f"file:{noise_clip}", "audio_source": "synthetic",
        "resolution": "640x480", "frame_rate": 30,
    })
    sizes = []
    publisher.on("video_dimensions_changed",
                 lambda change: sizes.append((time.time(), change["new_width"],
                                              change["new_height"])))
    session = libpublisher.init_session(receiver.url(room), {"reconnect_timeout_ms": 20000})
    try:
        session.connect(token=receiver.token)
        session.publish(publisher)
        started = time.time()
        time.sleep(STEP_AT_S)
        net.limit(STEP_KBPS)
        time.sleep(BACK_AT_S - STEP_AT_S)
        narrow = publisher.get_stats()
        net.restore()
        back_at = time.time()
        full_before = session_stats(receiver, room)["video_sizes"].get("640x480", 0)
        full = wait_until(
            lambda: sizes and sizes[-1][1:] == (640, 480) and sizes[-1][0] > back_at,
            timeout=BACK_WITHIN_S)
        # The stats tell what the event told, and why, from then on.
        told = publisher.get_stats()
        steps = [(round(at - started, 1), w, h) for at, w, h in sizes]
        assert full, f"not at 640x480 within {BACK_WITHIN_S} s of the link: {steps}"
        assert (told["frame_width"], told["frame_height"]) == (640, 480), told
        assert told["quality_limitation_reason"] == "none", told
        back_after = sizes[-1][0] - back_at
        # The receiver decodes it.
        assert wait_until(lambda: session_stats(receiver, room)["video_sizes"].get("640x480", 0)
                          >= full_before + 15, timeout=5), session_stats(receiver, room)
        print(f"\nat 400 kbit/s: {narrow['frame_width']}x{narrow['frame_height']}, estimate "
              f"{narrow['available_outgoing_bitrate_bps'] // 1000} kbit/s; back at 640x480 "
              f"{back_after:.1f} s after the link; steps {steps}")
        # It had stepped down on the narrow link (the step back up is the thing tested).
        assert narrow["frame_width"] < 640, narrow
        assert narrow["available_outgoing_bitrate_bps"] < STEP_KBPS * 1000 * 2, narrow
        assert publisher.get_stats()["quality_limitation_reason"] == "none"
    finally:
        session.close()
        publisher.close()
