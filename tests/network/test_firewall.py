"""A restrictive network, for real: the media server side (the aiortc WHIP receiver and coturn)
runs in a network namespace behind a veth pair whose UDP an nftables rule drops, as a corporate
firewall would; HTTP and TURN over TCP get through. With the default policy (`all`):

- no TURN server: 1553 within the ICE timeout, saying that host candidates were tried and no
  check was answered, and suggesting TURN over TCP/TLS;
- a TURN server over TCP: publishing succeeds through the relay and the receiver decodes;
- that TURN server unreachable too (TCP to it dropped as well): 1553 naming it.

Needs root, iproute2 and nftables (scripts/install-deps installs them); skipped otherwise."""

import pytest

from conftest import publish_failing, publish_until_decoded, synthetic, wait_until
from peers import netns
from peers.receiver import WhipReceiver
from peers.turn import TurnServer

pytestmark = pytest.mark.skipif(netns.available() is not None, reason=str(netns.available()))

ICE_TIMEOUT_MS = 4000
SLACK = 1.0


@pytest.fixture(scope="module")
def network():
    with netns.ServerNetwork() as net:
        net.block("udp")
        receiver = WhipReceiver(host=net.server_ip, netns=net.name)
        turn = TurnServer(listen=net.server_ip, netns=net.name)
        try:
            yield net, receiver, turn
        finally:
            turn.cleanup()
            receiver.close()


@pytest.fixture()
def publisher_options():
    return synthetic("320x240")


def test_udp_blocked_without_turn_is_1553_in_time(network, publisher):
    net, receiver, _ = network
    dropped = net.dropped()
    e, took = publish_failing(receiver, publisher, "noturn", {"ice_timeout_ms": ICE_TIMEOUT_MS})
    assert (e.code, e.name) == (1553, "CREATE_PEER_CONNECTION_FAILED"), e
    assert took < ICE_TIMEOUT_MS / 1000 + SLACK, took
    assert e.message.startswith("no network path to the media server: tried host ("), e.message
    assert "no connectivity check was answered within" in e.message, e.message
    assert e.message.endswith(
        "a firewall may block WebRTC (UDP) — configure a TURN server over TCP/TLS"
    ), e.message
    assert net.dropped() > dropped  # the checks really met the firewall


def test_udp_blocked_publishes_through_turn_over_tcp(network, publisher):
    net, receiver, turn = network
    ended = len(turn.usage())
    options = {"ice_servers": [turn.ice_server("tcp")], "ice_timeout_ms": ICE_TIMEOUT_MS}
    ours = publish_until_decoded(receiver, publisher, "turntcp", options)
    assert len(ours) == 1 and ours[0]["video_frames"] >= 30, ours
    assert "relay" in ours[0]["offer_candidates"], ours
    wait_until(lambda: len(turn.usage()) > ended)
    forwarded = sum(u["sb"] for u in turn.peer_usage()[ended:])
    assert forwarded > 20_000, turn.log()[-3000:]
    assert all("TCP" in reason for reason in turn.closed()[ended:]), turn.closed()


def test_turn_unreachable_too_is_1553_naming_it(network, publisher):
    net, receiver, turn = network
    net.block("tcp", port=turn.port)
    e, took = publish_failing(
        receiver, publisher, "unreachable",
        {"ice_servers": [turn.ice_server("tcp")], "ice_timeout_ms": ICE_TIMEOUT_MS},
    )
    assert e.code == 1553 and took < ICE_TIMEOUT_MS / 1000 + SLACK, (e, took)
    assert e.message.startswith("no network path to the media server: tried host ("), e.message
    assert "relay tcp (0)" in e.message, e.message
    assert f"the TURN server {turn.url('tcp')}" in e.message, e.message
    assert "no connectivity check was answered within" in e.message, e.message
