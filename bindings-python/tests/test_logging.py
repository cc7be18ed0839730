"""Library records reach Python logging under the "libpublisher" logger."""

from __future__ import annotations

import logging
import time

import pytest

import libpublisher

from conftest import synthetic, wait_until


def test_library_records_reach_the_libpublisher_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="libpublisher")
    publisher = libpublisher.init_publisher(synthetic())
    ident = publisher.id
    publisher.close()

    def find(message: str) -> logging.LogRecord:
        return next(r for r in caplog.records if r.getMessage() == message)

    assert wait_until(lambda: any(r.getMessage() == f"closed publisher={ident}" for r in caplog.records))
    acquired = find(f"sources acquired publisher={ident}")
    assert acquired.name == "libpublisher.publisher"
    assert acquired.levelno == logging.INFO
    assert acquired.pathname == "libpublisher::publisher"
    closed = find(f"closed publisher={ident}")
    assert closed.levelno == logging.DEBUG


def test_logger_level_filters_records(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="libpublisher")
    publisher = libpublisher.init_publisher(synthetic())
    ident = publisher.id
    publisher.close()
    time.sleep(0.5)  # records are forwarded by a thread of their own
    assert [r for r in caplog.records if f"publisher={ident}" in r.getMessage()] == []


def test_set_log_level_none_stops_records(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="libpublisher")
    try:
        libpublisher.set_log_level(None)
        publisher = libpublisher.init_publisher(synthetic())
        ident = publisher.id
        publisher.close()
    finally:
        libpublisher.set_log_level(logging.DEBUG)
    probe = libpublisher.init_publisher(synthetic())
    probe_id = probe.id
    probe.close()
    assert wait_until(lambda: any(f"publisher={probe_id}" in r.getMessage() for r in caplog.records))
    assert not any(f"publisher={ident}" in r.getMessage() for r in caplog.records)


def test_set_log_level_accepts_names_and_rejects_nonsense() -> None:
    try:
        libpublisher.set_log_level("info")
        libpublisher.set_log_level(libpublisher.TRACE)
        with pytest.raises(libpublisher.Error) as info:
            libpublisher.set_log_level("chatty")
        assert info.value.code == 1011
    finally:
        libpublisher.set_log_level(logging.DEBUG)
