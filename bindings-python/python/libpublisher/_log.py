"""Library log records into Python ``logging`` (logger ``libpublisher`` and its children)."""

from __future__ import annotations

import atexit
import logging
from typing import Optional, Union

from . import _native
from ._errors import Error, ErrorCode

#: Python level used for the core's trace records (the WebRTC stack's chatter).
TRACE = 5
if logging.getLevelName(TRACE) == f"Level {TRACE}":
    logging.addLevelName(TRACE, "TRACE")

logger = logging.getLogger("libpublisher")

# The core's LogLevel numbers (the C API's) to Python levels.
_PY_LEVEL = {1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG, 5: TRACE}


def _logger_for(target: str) -> logging.Logger:
    # "libpublisher::publisher" -> "libpublisher.publisher"; a dependency's records
    # ("webrtc::ice") land under "libpublisher.webrtc.ice", so one logger governs them all.
    parts = [part for part in target.split("::") if part]
    if parts and parts[0] == "libpublisher":
        parts = parts[1:]
    return logging.getLogger(".".join(["libpublisher", *parts]))


def _emit(level: int, target: str, message: str) -> None:
    py_level = _PY_LEVEL.get(level, logging.INFO)
    log = _logger_for(target)
    if log.isEnabledFor(py_level):
        log.handle(log.makeRecord(log.name, py_level, target, 0, message, (), None))


def _native_level(level: Union[int, str, None]) -> int:
    if level is None:
        return 0
    if isinstance(level, str):
        name = level.strip().upper()
        if name in ("OFF", "NONE"):
            return 0
        resolved = logging.getLevelName(name)
        if not isinstance(resolved, int):
            raise Error(ErrorCode.INVALID_PARAMETER, f"level: unknown log level {level!r}")
        level = resolved
    if isinstance(level, bool) or not isinstance(level, int):
        raise Error(
            ErrorCode.INVALID_PARAMETER,
            f"level: expected a logging level or None, got {type(level).__name__}",
        )
    if level >= logging.ERROR:
        return 1
    if level >= logging.WARNING:
        return 2
    if level >= logging.INFO:
        return 3
    if level >= logging.DEBUG:
        return 4
    return 5


def set_log_level(level: Union[int, str, None]) -> None:
    """Sets how much the library itself records: a ``logging`` level (``logging.INFO``,
    ``"DEBUG"``, ``TRACE`` for the WebRTC stack's chatter) or ``None`` for nothing.

    Records then pass through the ``libpublisher`` logger, whose own level and handlers
    decide what is shown. The default is the core's, as in every binding: INFO.
    """
    native = _native_level(level)
    _native.set_log_sink(native, _emit if native else None)


def _install() -> None:
    # The core's default level (INFO), as in every binding; a logger already set below it
    # asks for its own level.
    default = _PY_LEVEL[_native.DEFAULT_LOG_LEVEL]
    try:
        set_log_level(min(logger.getEffectiveLevel() or TRACE, default))
    except Error as e:  # the process already routes the core's records elsewhere
        logger.debug("library logs not routed to logging: %s", e)
        return
    # No records into an interpreter that is shutting down.
    atexit.register(_native.set_log_sink, 0, None)


_install()
