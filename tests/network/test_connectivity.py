"""Losing connectivity after publishing, for real: the aiortc WHIP receiver runs in a network
namespace behind a veth pair, and nftables rules cut its media path (UDP) or the whole link
mid-stream; elsewhere the receiver process is killed. What the host sees:

- a path that comes back within the reconnect timeout: `sessionReconnecting`, then
  `sessionReconnected`, and nothing destructive; media decodes again at the receiver. Through
  an ICE restart (WHIP PATCH, RFC 9725 section 4.4.2) where the server restarts ICE, by ICE
  finding the old path again where it does not;
- a path that does not come back: `streamDestroyed` (`networkDisconnected`); then, when the
  server does not answer either, `sessionDisconnected` (`networkDisconnected`), and when it
  does, `sessionReconnected` with the session still connected (the guide: losing the
  publisher "more often than not" loses the session, "but that's not always the case");
- every event once, in that order, and the publisher's stats still say what the stream sent.

A server blackholed before `connect` gives 1021 within the connect timeout; one blackholed
between `connect` and `publish` gives 1541 within the publish timeout.

The killed receiver and a path back in time are also seen from Rust (the `publish` example),
C (lost.c) and Node (lost.mjs), each in its own process.

Needs root, iproute2 and nftables (scripts/install-deps installs them); skipped otherwise."""

import contextlib
import os
import pathlib
import threading
import time

import pytest

import libpublisher
from conftest import read_until, start_lines, synthetic, wait_until
from peers import netns

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(netns.available() is not None, reason=str(netns.available()))

# ICE calls a path quiet after 3 s without an answer; the tests give the rest some slack.
QUIET_AFTER = 3.0
SLACK = 4.0


class Events:
    """The session's and the publisher's events in the order they arrived."""

    def __init__(self):
        self.names = []
        self.changed = threading.Condition()

    def add(self, name):
        with self.changed:
            self.names.append(name)
            self.changed.notify_all()

    def wait_for(self, name, timeout):
        with self.changed:
            self.changed.wait_for(lambda: name in self.names, timeout)
            return name in self.names

    def wait_for_count(self, name, count, timeout):
        with self.changed:
            self.changed.wait_for(lambda: self.names.count(name) >= count, timeout)
            return self.names.count(name) == count

    def publisher_handlers(self):
        return {
            "stream_created": lambda _id: self.add("streamCreated"),
            "stream_destroyed": lambda reason: self.add(f"streamDestroyed:{reason.name}"),
        }

    def watch(self, session):
        session.on("session_reconnecting", lambda: self.add("sessionReconnecting"))
        session.on("session_reconnected", lambda: self.add("sessionReconnected"))
        session.on(
            "session_disconnected", lambda reason: self.add(f"sessionDisconnected:{reason.name}")
        )


@contextlib.contextmanager
def publishing(receiver, room, events, **options):
    """A session (`options`) and a synthetic publisher publishing to `room` until the receiver
    decoded 15 frames; both closed at the end."""
    publisher = libpublisher.init_publisher(
        synthetic("320x240", frame_rate=30), on=events.publisher_handlers()
    )
    session = libpublisher.init_session(receiver.url(room), options)
    try:
        events.watch(session)
        session.connect(token=receiver.token)
        session.publish(publisher)
        assert wait_frames(receiver, room, 15)
        yield session, publisher
    finally:
        session.close()
        publisher.close()


def frames(receiver, room):
    stats = [s for s in receiver.stats().values() if s["room"] == room]
    assert len(stats) == 1, stats
    return stats[0]


def wait_frames(receiver, room, at_least, timeout=20.0):
    return wait_until(lambda: frames(receiver, room)["video_frames"] >= at_least, timeout)


def test_a_path_back_in_time_reconnects_through_an_ice_restart(network, net):
    _, receiver = network
    events = Events()
    with publishing(receiver, "restart", events,
                    reconnect_timeout_ms=20000) as (session, publisher):
        net.block("udp")  # the media path goes; HTTP still reaches the server
        assert events.wait_for("sessionReconnecting", QUIET_AFTER + SLACK), events.names
        restarted = receiver.wait_for(
            lambda s: any(x["room"] == "restart" and x["ice_restarts"] > 0 for x in s.values()),
            timeout=SLACK,
        )
        assert frames(receiver, "restart")["ice_restarts"] >= 1, restarted
        before = frames(receiver, "restart")["video_frames"]
        net.restore()
        assert events.wait_for("sessionReconnected", 10), events.names
        assert events.names == ["streamCreated", "sessionReconnecting", "sessionReconnected"]
        # Media flows again over the new pair and decodes (once aiortc's jitter buffer gave
        # up on the packets lost in the outage and took the keyframe sent on reconnecting).
        assert wait_frames(receiver, "restart", before + 30), frames(receiver, "restart")
        assert (session.state, publisher.state) == ("connected", "publishing")
        session.unpublish(publisher)
        assert events.names[-1] == "streamDestroyed:clientDisconnected", events.names


def test_without_ice_restarts_the_old_path_comes_back(network, net):
    _, receiver = network
    events = Events()
    with publishing(receiver, "norestart", events,
                    reconnect_timeout_ms=20000) as (session, publisher):
        net.block("udp")
        assert events.wait_for("sessionReconnecting", QUIET_AFTER + SLACK), events.names
        # The restart is asked for and refused (405) before the path comes back.
        assert wait_until(lambda: frames(receiver, "norestart")["ice_restarts_refused"] >= 1,
                          SLACK), frames(receiver, "norestart")
        before = frames(receiver, "norestart")["video_frames"]
        net.restore()
        assert events.wait_for("sessionReconnected", 10), events.names
        assert events.names == ["streamCreated", "sessionReconnecting", "sessionReconnected"]
        assert frames(receiver, "norestart")["ice_restarts"] == 0
        assert wait_frames(receiver, "norestart", before + 30), frames(receiver, "norestart")
        assert (session.state, publisher.state) == ("connected", "publishing")


def test_a_link_cut_for_good_ends_the_stream_then_the_session(network, net):
    _, receiver = network
    events = Events()
    with publishing(receiver, "cut", events,
                    reconnect_timeout_ms=3000, connect_timeout_ms=2000) as (session, publisher):
        sent_before_cut = publisher.get_stats()
        net.cut()  # nothing gets through: neither media nor HTTP
        took = time.monotonic()
        assert events.wait_for("sessionDisconnected:networkDisconnected",
                               QUIET_AFTER + 3 + 2 + SLACK), events.names
        took = time.monotonic() - took
        time.sleep(1)  # nothing else may follow: time for an event that must not come
        assert events.names == [
            "streamCreated",
            "sessionReconnecting",
            "streamDestroyed:networkDisconnected",
            "sessionDisconnected:networkDisconnected",
        ], events.names
        assert took >= 3, took  # not before the reconnect timeout
        assert (session.state, publisher.state) == ("disconnected", "ready")
        # The final stats: what the stream sent, not zeros.
        final = publisher.get_stats()
        assert final["video_frames_sent"] >= sent_before_cut["video_frames_sent"] > 0, final
        assert final["packets_sent"] > max(sent_before_cut["packets_sent"], 0), final
        assert final["bytes_sent"] > 0 and final["bitrate_bps"] == 0, final
        with pytest.raises(libpublisher.Error) as e:
            session.publish(publisher)
        assert e.value.code == 1010


def test_a_lost_media_path_with_the_server_there_ends_only_the_stream(network, net):
    _, receiver = network
    events = Events()
    with publishing(receiver, "udpgone", events,
                    reconnect_timeout_ms=3000) as (session, publisher):
        net.block("udp")
        assert events.wait_for("sessionReconnected", QUIET_AFTER + 3 + SLACK), events.names
        time.sleep(1)  # nothing else may follow: time for an event that must not come
        assert events.names == [
            "streamCreated",
            "sessionReconnecting",
            "streamDestroyed:networkDisconnected",
            "sessionReconnected",
        ], events.names
        assert (session.state, publisher.state) == ("connected", "ready")
        assert publisher.get_stats()["video_frames_sent"] > 0
        # The session is usable: once the path is back, publishing works again.
        net.restore()
        session.publish(publisher)
        assert events.wait_for_count("streamCreated", 2, 5), events.names


def test_a_blackholed_server_is_1021_within_the_connect_timeout(network, net):
    _, receiver = network
    net.cut()  # packets to the server vanish: no refusal, no answer
    with libpublisher.init_session(receiver.url("blackhole"), {"connect_timeout_ms": 1500}) as s:
        started = time.monotonic()
        with pytest.raises(libpublisher.Error) as e:
            s.connect(token=receiver.token)
        took = time.monotonic() - started
        assert s.state == "disconnected"
    assert (e.value.code, e.value.name) == (1021, "CONNECT_TIMEOUT"), e.value
    assert 1.4 <= took < 1.5 + SLACK, took


def test_a_server_blackholed_after_connect_is_1541_within_the_publish_timeout(network, net):
    _, receiver = network
    events = Events()
    publisher = libpublisher.init_publisher(
        synthetic("320x240", audio_source=None), on=events.publisher_handlers()
    )
    options = {"publish_timeout_ms": 2000}
    with libpublisher.init_session(receiver.url("blackholepost"), options) as session:
        session.connect(token=receiver.token)
        net.cut()
        started = time.monotonic()
        with pytest.raises(libpublisher.Error) as e:
            session.publish(publisher)
        took = time.monotonic() - started
        assert (e.value.code, e.value.name) == (1541, "PUBLISH_TIMEOUT"), e.value
        assert 1.9 <= took < 2 + SLACK, took
        # Nothing was announced, nothing destroyed; the publisher can be published again.
        assert events.names == [] and publisher.state == "ready"
        net.restore()
        session.publish(publisher)
        assert events.wait_for("streamCreated", 5), events.names
    publisher.close()


def test_unpublishing_while_reconnecting_ends_the_reconnection(network, net):
    _, receiver = network
    events = Events()
    with publishing(receiver, "unpub", events,
                    reconnect_timeout_ms=20000) as (session, publisher):
        net.block("udp")
        assert events.wait_for("sessionReconnecting", QUIET_AFTER + SLACK), events.names
        session.unpublish(publisher)
        assert events.wait_for("sessionReconnected", 5), events.names
        time.sleep(1)  # nothing else may follow: time for an event that must not come
        assert events.names == [
            "streamCreated",
            "sessionReconnecting",
            "streamDestroyed:clientDisconnected",
            "sessionReconnected",
        ], events.names
        assert (session.state, publisher.state) == ("connected", "ready")


def test_a_killed_receiver_ends_the_stream_then_the_session(start_receiver):
    receiver = start_receiver()
    events = Events()
    with publishing(receiver, "killed", events,
                    reconnect_timeout_ms=2000) as (session, publisher):
        receiver.close()  # SIGKILL: no DELETE, no goodbye
        assert events.wait_for("sessionDisconnected:networkDisconnected",
                               QUIET_AFTER + 2 + SLACK), events.names
        time.sleep(1)  # nothing else may follow: time for an event that must not come
        assert events.names == [
            "streamCreated",
            "sessionReconnecting",
            "streamDestroyed:networkDisconnected",
            "sessionDisconnected:networkDisconnected",
        ], events.names
        assert (session.state, publisher.state) == ("disconnected", "ready")


#: Programs that publish, print PUBLISHING (Rust: "publishing after"), then one line per event.
PROGRAMS = {
    "rust": [str(ROOT / "target" / "release" / "examples" / "publish"), "--video", "synthetic",
             "--audio", "synthetic", "--resolution", "320x240", "--seconds", "60",
             "--reconnect-timeout-ms", "{timeout}", "--url", "{url}", "--token", "{token}"],
    "c": [str(ROOT / "target" / "c" / "network_lost"), "{url}", "{token}", "{timeout}"],
    "node": [os.environ.get("NODE", "node"), str(ROOT / "tests" / "network" / "lost.mjs"),
             "{url}", "{token}", "{timeout}"],
}


def start_program(language, url, token, timeout_ms):
    """Starts a program; returns it and a queue of its output lines (None at the end)."""
    return start_lines([a.format(url=url, token=token, timeout=timeout_ms)
                        for a in PROGRAMS[language]])


def event_lines(lines):
    """Event lines of any of the programs, as "name reason"."""
    events = []
    for line in lines:
        if line.startswith("event "):  # C, Node: "event streamDestroyed networkDisconnected"
            events.append(line[len("event "):].strip())
        elif line.startswith("event: "):  # Rust: "event: streamDestroyed (networkDisconnected)"
            events.append(line[len("event: "):].replace("(", "").replace(")", "").strip())
    return [e for e in events if not e.startswith(("accessAllowed", "streamCreated",
                                                   "sessionConnected"))]


@pytest.mark.parametrize("language", list(PROGRAMS))
def test_a_killed_receiver_from_every_language(language, start_receiver):
    receiver = start_receiver()
    program, lines = start_program(language, receiver.url(f"killed-{language}"),
                                   receiver.token, 2000)
    seen = []
    try:
        assert read_until(lines, seen, lambda l: l.startswith(("PUBLISHING", "publishing after")),
                          20), seen
        assert wait_frames(receiver, f"killed-{language}", 15), seen
        receiver.close()
        program.wait(timeout=QUIET_AFTER + 2 + 2 * SLACK + 10)
        read_until(lines, seen, lambda l: False, 2)  # the rest, up to the end
    finally:
        program.kill()
        receiver.close()
    assert event_lines(seen) == [
        "sessionReconnecting",
        "streamDestroyed networkDisconnected",
        "sessionDisconnected networkDisconnected",
    ], seen
    if language != "rust":
        final = [line for line in seen if line.startswith("final ")]
        assert len(final) == 1, seen
        counts = dict(kv.split("=") for kv in final[0].split()[1:])
        assert int(counts["video_frames_sent"]) > 0 and int(counts["packets_sent"]) > 0, final
    else:
        assert program.returncode == 1, seen  # the stream ended on its own
        assert any(line.startswith("summary:") for line in seen), seen


@pytest.mark.parametrize("language", list(PROGRAMS))
def test_a_path_back_in_time_from_every_language(network, net, language):
    _, receiver = network
    room = f"back-{language}"
    program, lines = start_program(language, receiver.url(room), receiver.token, 20000)
    seen = []
    try:
        assert read_until(lines, seen, lambda l: l.startswith(("PUBLISHING", "publishing after")),
                          20), seen
        assert wait_frames(receiver, room, 15), seen
        net.block("udp")
        assert read_until(lines, seen, lambda l: "sessionReconnecting" in l,
                          QUIET_AFTER + SLACK), seen
        net.restore()
        assert read_until(lines, seen, lambda l: "sessionReconnected" in l, 10), seen
        before = frames(receiver, room)["video_frames"]
        assert wait_frames(receiver, room, before + 30), frames(receiver, room)
        assert program.poll() is None, seen  # still publishing
    finally:
        program.kill()
    assert event_lines(seen) == ["sessionReconnecting", "sessionReconnected"], seen
