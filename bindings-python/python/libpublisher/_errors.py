"""The error table of the public contract, built at import from the core's own table."""

from __future__ import annotations

from enum import IntEnum
from typing import Optional, Union

from . import _native

# Generated rather than written out, so that a code can never mean two things in two
# languages; _errors.pyi spells the members out for type checkers (a test keeps it in sync).
ErrorCode = IntEnum(  # type: ignore[misc]
    "ErrorCode",
    [(name, code) for code, name in _native.error_table()],
    module="libpublisher",
    qualname="ErrorCode",
)
ErrorCode.__doc__ = "Stable error codes; the member names are the stable names."

Reason = IntEnum(  # type: ignore[misc]
    "Reason",
    [(name, code) for code, name in _native.reason_table()],
    module="libpublisher",
    qualname="Reason",
)
Reason.__doc__ = "Why a stream was destroyed, a session disconnected, or video went off or on."


class Error(Exception):
    """A libpublisher failure: a stable ``code`` (an :class:`ErrorCode`), its stable ``name``
    and a ``message`` for people."""

    code: Union[ErrorCode, int]
    name: str
    message: str

    def __init__(self, code: int, message: str = "", name: Optional[str] = None) -> None:
        try:
            code = ErrorCode(code)
        except ValueError:
            code = int(code)
        if name is None:
            name = code.name if isinstance(code, ErrorCode) else "UNKNOWN"
        super().__init__(int(code), message, name)
        self.code = code
        self.name = name
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} ({int(self.code)} {self.name})"


Error.__module__ = "libpublisher"
