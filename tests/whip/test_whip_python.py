"""WHIP from the Python binding against the aiortc receiver: media decodes, and the timeouts
a host configures give their codes in time."""

import pathlib
import time

import pytest

import libpublisher
from conftest import synthetic, wait_until


def test_720p_from_python_decodes_at_the_receiver(receiver):
    """1280x720 at 30 fps for 3 s: every decoded frame has that size, and roughly the rate
    arrives (at least half: the two-core machine also runs the receiver's Python decoder)."""
    seconds, fps = 3, 30
    publisher = libpublisher.init_publisher(synthetic("1280x720", frame_rate=fps))
    before = set(receiver.stats())
    created = []
    publisher.on("stream_created", created.append)
    with libpublisher.init_session(receiver.url("python")) as session:
        session.connect(token=receiver.token)
        session.publish(publisher)
        # The measured interval: the rate is checked against what `seconds` of it carried.
        time.sleep(seconds)
        session.unpublish(publisher)
        session.disconnect()
    publisher.close()
    stats = receiver.stats()
    ours = next(v for k, v in stats.items() if k not in before)
    assert set(ours["video_sizes"]) == {"1280x720"}, ours
    assert ours["video_frames"] >= seconds * fps * 0.5, ours
    assert ours["audio_frames"] >= seconds * 25, ours
    assert created and created[0] in stats, (created, list(stats))


def test_stats_carry_the_round_trip_from_the_receivers_reports(receiver, publisher):
    """aiortc answers our sender reports in its receiver reports; RTT on loopback is a few ms."""
    with libpublisher.init_session(receiver.url("rtt")) as session:
        session.connect(token=receiver.token)
        session.publish(publisher)
        wait_until(lambda: publisher.get_stats()["rtt_ms"] > 0, timeout=8, interval=0.25)
        stats = publisher.get_stats()
        session.unpublish(publisher)
        session.disconnect()
    assert 0 < stats["rtt_ms"] < 100, stats
    assert stats["packets_lost"] == 0 and stats["packets_sent"] > 0, stats


def test_connect_timeout_is_1021_within_the_configured_time(receiver):
    session = libpublisher.init_session(receiver.url("slow"), {"connect_timeout_ms": 500})
    started = time.monotonic()
    with pytest.raises(libpublisher.Error) as failure:
        session.connect(token=receiver.token)
    assert failure.value.code == 1021 and failure.value.name == "CONNECT_TIMEOUT"
    assert time.monotonic() - started < 3
    session.close()


def test_publish_timeout_is_1541_and_the_publisher_can_publish_again(receiver, publisher):
    session = libpublisher.init_session(receiver.url("slowpost"), {"publish_timeout_ms": 500})
    session.connect(token=receiver.token)
    with pytest.raises(libpublisher.Error) as failure:
        session.publish(publisher)
    assert failure.value.code == 1541 and failure.value.name == "PUBLISH_TIMEOUT"
    assert publisher.state == "ready"
    session.close()


def udp_sockets():
    """UDP sockets of this process (the sending peer's are UDP; HTTP is TCP)."""
    inodes = set()
    for fd in pathlib.Path("/proc/self/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    count = 0
    for table in ("/proc/self/net/udp", "/proc/self/net/udp6"):
        with open(table) as f:
            count += sum(1 for line in list(f)[1:] if line.split()[9] in inodes)
    return count


@pytest.mark.parametrize("ending", ["close", "disconnect"])
def test_ending_the_session_stops_a_publish_in_flight_at_once(receiver, publisher, ending):
    """The server never answers the offer; the session is closed or disconnected meanwhile:
    the publish gives up at once (not at its 20 s timeout), its sockets close, and the
    publisher can be published again. A disconnected session reports the publish as cut
    short (1015); a closed one completes it with 1015 before close() returns, then calls
    nothing back."""
    session = libpublisher.init_session(receiver.url("slowpost"), {"publish_timeout_ms": 20000})
    session.connect(token=receiver.token)
    before = udp_sockets()
    held = receiver.held_posts()
    outcomes = []
    session.publish(publisher, callback=outcomes.append)
    # The offer is out, its peer connection open, and the server holds the POST.
    assert wait_until(lambda: udp_sockets() > before, timeout=5, interval=0.02)
    assert wait_until(lambda: receiver.held_posts() > held, timeout=5, interval=0.02)
    started = time.monotonic()
    if ending == "close":
        session.close()
        assert [(e.code, e.message) for e in outcomes] == [
            (1015, "the session was closed before publish completed")
        ]
    else:
        session.disconnect()
    wait_until(lambda: udp_sockets() <= before and publisher.state == "ready",
               timeout=started + 3 - time.monotonic(), interval=0.02)
    assert udp_sockets() == before and publisher.state == "ready", (udp_sockets(), before)
    assert time.monotonic() - started < 3
    if ending == "disconnect":
        wait_until(lambda: outcomes, timeout=3, interval=0.02)
        assert len(outcomes) == 1 and outcomes[0].code == 1015, outcomes
        session.close()
    else:
        time.sleep(0.5)  # time for a callback that must not come
        assert len(outcomes) == 1
    # Published again elsewhere, it works.
    with libpublisher.init_session(receiver.url("again")) as other:
        other.connect(token=receiver.token)
        other.publish(publisher)
        assert publisher.state == "publishing"
