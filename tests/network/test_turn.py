"""ICE servers, TURN and the relay policy against a real TURN server (coturn, tests/peers/turn.py)
and the aiortc WHIP receiver: with `ice_transport_policy: relay`, publishing over TURN/UDP and
TURN/TCP decodes at the receiver and really goes through the relay; wrong credentials, an
unreachable TURN server or a relay that may not reach the media server give 1553
CREATE_PEER_CONNECTION_FAILED within the ICE timeout, naming what was tried, and leave
nothing behind. C and Node run the TURN/TCP scenario too, and TURN over TLS (`turns:`) with a
certificate they trust; an untrusted one is 1553 naming TLS."""

import time

import pytest

import libpublisher
from conftest import (WHIP_PROGRAMS, new_sessions, publish_failing, publish_until_decoded,
                      run_whip_program, wait_until)
from peers.turn import TurnServer, free_port

#: Slack on top of the ICE timeout for the HTTP exchange and teardown on a busy 2-core machine.
SLACK = 1.0


@pytest.fixture(scope="module")
def turn():
    with TurnServer() as t:
        yield t


def relay_options(*servers, timeout_ms=5000):
    return {
        "ice_servers": list(servers),
        "ice_transport_policy": "relay",
        "ice_timeout_ms": timeout_ms,
    }


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_relay_policy_publishes_through_turn(receiver, turn, publisher, transport):
    allocations = len(turn.allocations())
    ended = len(turn.usage())
    ours = publish_until_decoded(receiver, publisher, f"turn-{transport}",
                                 relay_options(turn.ice_server(transport)))
    assert len(ours) == 1, ours
    ours = ours[0]
    assert ours["video_frames"] >= 30 and ours["audio_frames"] > 0, ours
    assert set(ours["video_sizes"]) == {"640x480"}, ours
    # The offer carried relayed candidates only, so nothing else could carry the media ...
    assert ours["offer_candidates"] and set(ours["offer_candidates"]) == {"relay"}, ours
    # ... and coturn says it allocated a relay for our user and forwarded the media.
    assert len(turn.allocations()) > allocations, turn.log()[-3000:]
    assert wait_until(lambda: len(turn.usage()) > ended), turn.log()[-3000:]
    forwarded = turn.peer_usage()[ended]
    assert turn.usage()[ended]["rb"] > 20_000 and forwarded["sb"] > 20_000, forwarded
    closed = turn.closed()[ended]
    if transport == "tcp":
        assert "TCP" in closed, closed
    else:
        assert "TCP" not in closed, closed


def test_wrong_credentials_fail_with_1553_in_time_and_leave_nothing_behind(
    receiver, turn, publisher
):
    before = set(receiver.stats())
    allocations = len(turn.allocations())
    session = libpublisher.init_session(
        receiver.url("wrongcreds"),
        relay_options(turn.ice_server("udp", password="not-the-password"), timeout_ms=3000),
    )
    try:
        session.connect(token=receiver.token)
        started = time.monotonic()
        with pytest.raises(libpublisher.Error) as failure:
            session.publish(publisher)
        took = time.monotonic() - started
        e = failure.value
        assert (e.code, e.name) == (1553, "CREATE_PEER_CONNECTION_FAILED"), e
        assert took < 3.0 + SLACK, took
        assert e.message.startswith(
            "no network path to the media server: tried relay udp (0); "
            f"the TURN server {turn.url('udp')} refused the allocation (401 Unauthorized)"
        ), e.message
        assert "check the TURN username and credential" in e.message, e.message
        # Nothing is left: no allocation, nothing offered to the server, the publisher is
        # ready and the session still connected; publishing again fails the same way.
        assert len(turn.allocations()) == allocations
        assert set(receiver.stats()) == before
        assert publisher.state == "ready" and session.state == "connected"
        with pytest.raises(libpublisher.Error) as again:
            session.publish(publisher)
        assert again.value.code == 1553
    finally:
        session.close()
    # The same publisher publishes at once with the right credentials.
    ours = publish_until_decoded(receiver, publisher, "aftercreds",
                                 relay_options(turn.ice_server("udp")))
    assert len(ours) == 1 and ours[0]["video_frames"] >= 30, ours


def test_unreachable_turn_over_tcp_is_1553_naming_it(receiver, publisher):
    port = free_port()  # nothing listens there
    server = {"urls": f"turn:127.0.0.1:{port}?transport=tcp", "username": "u", "credential": "p"}
    e, took = publish_failing(receiver, publisher, "noturn", relay_options(server, timeout_ms=3000))
    assert e.code == 1553 and took < 3.0 + SLACK, (e, took)
    assert e.message.startswith("no network path to the media server: tried relay tcp (0)"), e
    assert f"cannot connect over TCP to 127.0.0.1:{port}" in e.message, e.message


def test_relay_policy_without_a_turn_server_is_1553_at_once(receiver, publisher):
    options = {"ice_servers": [{"urls": "stun:127.0.0.1:3478"}], "iceTransportPolicy": "relay"}
    e, took = publish_failing(receiver, publisher, "nothing", options)
    assert took < 1.0, took
    assert e.code == 1553
    assert "ice_transport_policy is relay, but no TURN server is configured" in e.message


def test_a_relay_that_cannot_reach_the_server_fails_the_checks_in_time(receiver, publisher):
    """coturn refuses permissions for every peer: the allocation works, no check gets through;
    1553 after the ICE timeout says so."""
    with TurnServer(extra_args=["--denied-peer-ip", "0.0.0.0-255.255.255.255"]) as fenced:
        before = set(receiver.stats())
        e, took = publish_failing(
            receiver, publisher, "fenced", relay_options(fenced.ice_server("tcp"), timeout_ms=3000)
        )
        assert len(fenced.allocations()) >= 1
    assert e.code == 1553 and took < 3.0 + SLACK, (e, took)
    assert e.message.startswith("no network path to the media server: tried relay tcp (1);"), e
    assert "no connectivity check was answered within" in e.message, e.message
    # The server's side was released (WHIP DELETE) with the connection.
    ours = new_sessions(receiver.stats(), before)
    assert len(ours) == 1 and ours[0]["deleted"], ours


def test_loopback_sessions_use_the_ice_servers_too(turn, publisher):
    allocations = len(turn.allocations())
    with libpublisher.init_session("loopback://", relay_options(turn.ice_server("tcp"))) as s:
        s.connect()
        s.publish(publisher)
        assert wait_until(lambda: s.get_receiver_stats(publisher)["video_frames"] >= 10)
        s.unpublish(publisher)
    assert len(turn.allocations()) > allocations


def run(language, url, token, env):
    return run_whip_program(language, url, token, 2, env=env)


@pytest.mark.parametrize("language", list(WHIP_PROGRAMS))
def test_relay_over_tcp_from_c_and_node(receiver, turn, language):
    before = set(receiver.stats())
    ended = len(turn.usage())
    env = {
        "LP_ICE_SERVER": turn.url("tcp"),
        "LP_ICE_USERNAME": turn.username,
        "LP_ICE_CREDENTIAL": turn.password,
        "LP_ICE_TRANSPORT_POLICY": "relay",
    }
    result = run(language, receiver.url(f"turn-{language}"), receiver.token, env)
    assert result == "ok", result
    ours = new_sessions(receiver.stats(), before)
    assert len(ours) == 1, ours
    assert ours[0]["video_frames"] >= 30 and set(ours[0]["offer_candidates"]) == {"relay"}, ours
    assert wait_until(lambda: len(turn.usage()) > ended), turn.log()[-3000:]
    assert "TCP" in turn.closed()[ended], turn.closed()


@pytest.mark.parametrize("language", list(WHIP_PROGRAMS))
def test_wrong_credentials_from_c_and_node(receiver, turn, language):
    env = {
        "LP_ICE_SERVER": turn.url("tcp"),
        "LP_ICE_USERNAME": turn.username,
        "LP_ICE_CREDENTIAL": "not-the-password",
        "LP_ICE_TRANSPORT_POLICY": "relay",
        "LP_ICE_TIMEOUT_MS": "3000",
    }
    result = run(language, receiver.url(f"wrong-{language}"), receiver.token, env)
    assert result.startswith(
        "error 1553 CREATE_PEER_CONNECTION_FAILED: no network path to the media server: "
        "tried relay tcp (0); "
    ), result
    assert "(401 Unauthorized)" in result, result


@pytest.mark.parametrize("language", list(WHIP_PROGRAMS))
def test_bad_ice_settings_are_1011_from_c_and_node(receiver, language):
    result = run(language, receiver.url("bad"), receiver.token,
                 {"LP_ICE_SERVER": "turn:127.0.0.1:3478"})
    assert result.startswith("error 1011 INVALID_PARAMETER: ice_servers"), result
    assert "needs a username and a credential" in result, result
    result = run(language, receiver.url("bad"), receiver.token,
                 {"LP_ICE_TRANSPORT_POLICY": "nearby"})
    assert result.startswith("error 1011 INVALID_PARAMETER: ice_transport_policy"), result


@pytest.fixture(scope="module")
def tls_turn():
    with TurnServer(tls=True) as t:
        yield t


@pytest.mark.parametrize("language", list(WHIP_PROGRAMS))
def test_relay_over_tls_with_a_trusted_certificate(receiver, tls_turn, language):
    """`turns:` from a fresh C or Node process, which trusts the test CA (SSL_CERT_FILE)."""
    before = set(receiver.stats())
    ended = len(tls_turn.usage())
    env = {
        "LP_ICE_SERVER": tls_turn.url("tls"),
        "LP_ICE_USERNAME": tls_turn.username,
        "LP_ICE_CREDENTIAL": tls_turn.password,
        "LP_ICE_TRANSPORT_POLICY": "relay",
        "SSL_CERT_FILE": str(tls_turn.ca_file),
    }
    result = run(language, receiver.url(f"turns-{language}"), receiver.token, env)
    assert result == "ok", result
    ours = new_sessions(receiver.stats(), before)
    assert len(ours) == 1, ours
    assert ours[0]["video_frames"] >= 30 and set(ours[0]["offer_candidates"]) == {"relay"}, ours
    assert wait_until(lambda: len(tls_turn.usage()) > ended), tls_turn.log()[-3000:]
    assert tls_turn.peer_usage()[ended]["sb"] > 20_000
    # The allocation's session was TLS ("new, ..., username=<...>, ..., method=TLSv1.x").
    assert any(f"username=<{tls_turn.username}>" in line and "method=TLSv" in line
               for line in tls_turn.log().splitlines()), tls_turn.log()[-3000:]


def test_turns_with_an_untrusted_certificate_is_1553_naming_tls(receiver, tls_turn, publisher):
    """This process trusts only the system's roots, not the test CA."""
    e, took = publish_failing(
        receiver, publisher, "untrusted", relay_options(tls_turn.ice_server("tls"), timeout_ms=3000)
    )
    assert e.code == 1553 and took < 3.0 + SLACK, (e, took)
    assert e.message.startswith("no network path to the media server: tried relay tls (0)"), e
    assert f"TLS with 127.0.0.1:{tls_turn.tls_port} failed" in e.message, e.message


def test_the_servers_a_whip_endpoint_advertises_are_used(turn, publisher, start_receiver):
    """No ICE server configured, the relay policy: the TURN server the endpoint names in its
    `Link` header (with credentials) carries the media; configured servers come first, so a
    broken configured one does not stop the advertised one from working."""
    link = (f'<{turn.url("tcp")}>; rel="ice-server"; username="{turn.username}"; '
            f'credential="{turn.password}"; credential-type="password"')
    advertiser = start_receiver(links=[link])
    allocations = len(turn.allocations())
    broken = {"urls": turn.url("udp"), "username": turn.username, "credential": "wrong"}
    for options in ({"ice_transport_policy": "relay"}, relay_options(broken)):
        ours = publish_until_decoded(advertiser, publisher, "advertised", options)
        assert len(ours) == 1 and ours[0]["video_frames"] >= 30, ours
        assert set(ours[0]["offer_candidates"]) == {"relay"}, ours
    assert len(turn.allocations()) >= allocations + 2


def test_servers_advertised_with_the_answer_serve_the_next_publish(turn, publisher,
                                                                   start_receiver):
    """An endpoint that names its TURN server only in the 201 answer (not to the connect
    probe): the offer already went out without it, so the first stream goes direct; the
    session keeps the server, and the next publish offers relayed candidates through it."""
    link = (f'<{turn.url("tcp")}>; rel="ice-server"; username="{turn.username}"; '
            f'credential="{turn.password}"; credential-type="password"')
    advertiser = start_receiver(links=[link], links_with_answer_only=True)
    with libpublisher.init_session(advertiser.url("answerlinks")) as session:
        session.connect(token=advertiser.token)
        offers = []
        for _ in range(2):
            before = set(advertiser.stats())
            session.publish(publisher)
            stats = advertiser.wait_for(lambda s: any(
                v["video_frames"] >= 10 for v in new_sessions(s, before)))
            session.unpublish(publisher)
            (ours,) = new_sessions(stats, before)
            assert ours["video_frames"] >= 10, ours
            offers.append(set(ours["offer_candidates"]))
    assert "relay" not in offers[0], offers
    assert "relay" in offers[1], offers
