"""Adaptation on a narrow link: the aiortc WHIP receiver runs in a network namespace whose input
nftables polices to 800 kbit/s (what exceeds it is dropped), and we publish high-detail video
(noise at 160x120 scaled to 640x480, new every frame: VP8 needs ~4 Mbit/s for it at 640x480
even at its coarsest quantizer). What is checked is what a host sees while it happens:

- the estimate falls under the link, the sent size steps down, the publisher says why
  (`quality_limitation_reason` "bandwidth") and fires `video_dimensions_changed` from 640x480;
- each degradation preference gives up what it says: "maintain-framerate" keeps the encoded
  frame rate (the size goes; at least 18 of 30 fps), "maintain-resolution" keeps the size
  (the rate goes, to 15 fps or less);
- the receiver decodes the smaller video, and audio keeps decoding.

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


def publish_on_narrow_link(network, net, clip, room, preference):
    """Publishes the clip at 640x480@30 with `preference` over the policed link for
    SETTLE_S seconds; the publisher's stats, the sizes `video_dimensions_changed` told, and
    the receiver's stats."""
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
        time.sleep(SETTLE_S)
        stats = publisher.get_stats()
        received = session_stats(receiver, room)
        print(f"\n{preference}: sent {stats['frame_width']}x{stats['frame_height']} at "
              f"{stats['frames_per_second']:.1f} fps, target {stats['target_bitrate_bps'] // 1000}"
              f" kbit/s, estimate {stats['available_outgoing_bitrate_bps'] // 1000} kbit/s, "
              f"{stats['quality_limitation_reason']}; steps {sizes}; receiver decoded "
              f"{received['video_sizes']}, {received['audio_frames']} audio frames in "
              f"{time.time() - started:.1f} s")
        return before, stats, sizes, received
    finally:
        session.close()
        publisher.close()


def test_a_narrow_link_steps_the_size_down_and_says_why(network, net, noise_clip):
    before, stats, sizes, received = publish_on_narrow_link(
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
    _, stats, sizes, _ = publish_on_narrow_link(
        network, net, noise_clip, "narrow-framerate", "maintain-framerate")
    # Usually 27-30; at the smallest size (80x60) rate control still drops some frames of
    # this noise when the estimate is low. maintain-resolution gives 6 here.
    assert stats["frames_per_second"] >= 18, stats
    assert stats["frame_width"] < 640, stats
    assert sizes


def test_maintain_resolution_gives_up_rate_not_size(network, net, noise_clip):
    _, stats, sizes, received = publish_on_narrow_link(
        network, net, noise_clip, "narrow-resolution", "maintain-resolution")
    assert (stats["frame_width"], stats["frame_height"]) == (640, 480), stats
    assert stats["frames_per_second"] <= 15, stats
    assert stats["quality_limitation_reason"] == "bandwidth", stats
    assert sizes == [], "the size never changes"
    assert wait_until(lambda: received["video_sizes"].get("640x480", 0) > 0, 1)
