"""Secrets stay out of logs and messages. Every backend runs at the trace log level with real
peers (the aiortc WHIP receiver, coturn, Janus), succeeding and failing, and no bearer token,
TURN username or credential, Janus token or room pin appears in any log line the library
emits (routed to Python's `logging`), in any error message, or in any event's payload.

Each secret is a fresh random string, so a match can only be a leak."""

import logging
import secrets

import pytest

import libpublisher
from conftest import synthetic
from peers import janus
from peers.receiver import WhipReceiver
from peers.turn import TurnServer


def secret(kind):
    return f"{kind}-{secrets.token_hex(8)}"


class Capture(logging.Handler):
    """Every record of the `libpublisher` logger, formatted with its arguments."""

    def __init__(self):
        super().__init__(level=0)
        self.lines = []
        self.trace_records = 0

    def emit(self, record):
        # The handler's own lock is held here.
        self.lines.append(record.getMessage())
        self.trace_records += record.levelno <= libpublisher.TRACE


@pytest.fixture()
def said():
    """What the library says: its log lines at trace level, and the error messages and event
    payloads a test adds with `said.add`."""
    capture = Capture()
    logger = logging.getLogger("libpublisher")
    old_level = logger.level
    logger.addHandler(capture)
    logger.setLevel(libpublisher.TRACE)
    libpublisher.set_log_level(libpublisher.TRACE)
    capture.add = lambda text: capture.lines.append(str(text))
    try:
        yield capture
    finally:
        libpublisher.set_log_level("info")
        logger.removeHandler(capture)
        logger.setLevel(old_level)


def leaks(lines, *values):
    return [(value, line[:300]) for line in lines for value in values if value in line]


def refusal(said, call):
    with pytest.raises(libpublisher.Error) as raised:
        call()
    said.add(raised.value.message)
    said.add(repr(raised.value))
    return raised.value


def publisher_saying(said):
    events = ("stream_created", "stream_destroyed", "media_stopped", "access_denied")
    return libpublisher.init_publisher(
        synthetic("320x240"),
        on={event: (lambda *args, event=event: said.add(f"{event} {args}")) for event in events})


def test_whip_bearer_tokens_and_advertised_turn_credentials_stay_out(said):
    token, wrong = secret("token"), secret("wrong-token")
    with TurnServer(username=secret("user"), password=secret("pass")) as turn:
        link = (f'<{turn.url("udp")}>; rel="ice-server"; username="{turn.username}"; '
                f'credential="{turn.password}"; credential-type="password"')
        receiver = WhipReceiver(token=token, links=[link])
        publisher = publisher_saying(said)
        try:
            # Refused: a wrong token, and none.
            for given in (wrong, None):
                with libpublisher.init_session(receiver.url("refused")) as session:
                    e = refusal(said, lambda: session.connect(token=given))
                    assert e.code == 1004, e
            # Published through the TURN server the endpoint advertised (relay only).
            with libpublisher.init_session(receiver.url("secrets"),
                                           {"ice_transport_policy": "relay"}) as session:
                session.connect(token=token)
                session.publish(publisher)
                receiver.wait_for(lambda s: any(
                    v["room"] == "secrets" and v["video_frames"] >= 10 for v in s.values()))
                said.add(publisher.get_stats())
                session.unpublish(publisher)
        finally:
            publisher.close()
            receiver.close()
        assert len(turn.allocations(turn.username)) >= 1, "the relay was used"
        assert said.trace_records > 0, "trace logging reached Python"
        assert not leaks(said.lines, token, wrong, turn.username, turn.password)


def test_configured_turn_credentials_stay_out_when_right_and_when_wrong(said):
    receiver = WhipReceiver(token=secret("token"))
    with TurnServer(username=secret("user"), password=secret("pass")) as turn:
        wrong = secret("wrong-pass")
        publisher = publisher_saying(said)
        try:
            for transport, credential in (("udp", wrong), ("tcp", turn.password)):
                options = {"ice_servers": [turn.ice_server(transport, password=credential)],
                           "ice_transport_policy": "relay", "ice_timeout_ms": 3000}
                with libpublisher.init_session(receiver.url("turn"), options) as session:
                    session.connect(token=receiver.token)
                    if credential == wrong:
                        e = refusal(said, lambda: session.publish(publisher))
                        assert e.code == 1553, e
                    else:
                        session.publish(publisher)
                        session.unpublish(publisher)
        finally:
            publisher.close()
            receiver.close()
        assert said.trace_records > 0
        assert not leaks(said.lines, receiver.token, turn.username, turn.password, wrong)


@pytest.mark.skipif(janus.available() is not None, reason=str(janus.available()))
def test_janus_tokens_and_room_pins_stay_out(said):
    token, wrong_token = secret("token"), secret("wrong-token")
    pin, wrong_pin = secret("pin"), secret("wrong-pin")
    with janus.Janus(rooms={7100: {"description": "pinned", "pin": pin}}, token=token) as server:
        publisher = publisher_saying(said)
        try:
            with libpublisher.init_session(server.url(7100, pin=pin)) as session:
                e = refusal(said, lambda: session.connect(token=wrong_token))
                assert e.code == 1004, e
            with libpublisher.init_session(server.url(7100, pin=wrong_pin)) as session:
                session.connect(token=token)
                e = refusal(said, lambda: session.publish(publisher))
                assert e.code == 1004, e
            with libpublisher.init_session(server.url(7100, pin=pin)) as session:
                session.connect(token=token)
                session.publish(publisher)
                said.add(publisher.get_stats())
                session.unpublish(publisher)
        finally:
            publisher.close()
        assert said.trace_records > 0
        assert not leaks(said.lines, token, wrong_token, pin, wrong_pin)
