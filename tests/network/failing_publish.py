"""A publish that must fail, for the network tests."""

import time

import pytest

import libpublisher


def publish_failing(receiver, publisher, room, options):
    """Connects a session to `room` with `options` and publishes, which must raise; the error
    and how long publish took. The session stays connected and the publisher ready."""
    with libpublisher.init_session(receiver.url(room), options) as session:
        session.connect(token=receiver.token)
        started = time.monotonic()
        with pytest.raises(libpublisher.Error) as failure:
            session.publish(publisher)
        took = time.monotonic() - started
        assert session.state == "connected"
    assert publisher.state == "ready"
    return failure.value, took
