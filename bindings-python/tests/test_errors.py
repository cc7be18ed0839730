"""The error table, the enums and the exception class."""

from __future__ import annotations

import ast
import importlib.metadata
import pathlib
import pickle

from packaging.version import Version

import libpublisher
from libpublisher import Error, ErrorCode, Reason, _native

# The contract's table (DESIGN.md); the core is its source of truth at run time.
CONTRACT = {
    0: "OK",
    1004: "AUTHENTICATION_ERROR",
    1005: "INVALID_SESSION_ID",
    1006: "CONNECT_FAILED",
    1010: "NOT_CONNECTED",
    1011: "INVALID_PARAMETER",
    1015: "ILLEGAL_STATE",
    1021: "CONNECT_TIMEOUT",
    1027: "CONNECTION_LIMIT_EXCEEDED",
    1500: "USER_MEDIA_ACCESS_DENIED",
    1541: "PUBLISH_TIMEOUT",
    1553: "CREATE_PEER_CONNECTION_FAILED",
    1580: "HARDWARE_UNAVAILABLE",
    1581: "NO_DEVICES_FOUND",
    1582: "DEVICE_NOT_FOUND",
    1583: "CONSTRAINTS_NOT_SATISFIED",
    1584: "MEDIA_SOURCE_INVALID",
    1590: "STREAM_CREATE_FAILED",
    1610: "SET_REMOTE_DESCRIPTION_FAILED",
    2000: "INTERNAL_ERROR",
    2001: "UNEXPECTED_SERVER_RESPONSE",
}


def test_error_code_is_the_core_table() -> None:
    assert [(m.value, m.name) for m in ErrorCode] == _native.error_table()
    codes = [code for code, _ in _native.error_table()]
    assert codes == sorted(codes)


def test_core_table_keeps_every_contract_code() -> None:
    table = dict(_native.error_table())
    for code, name in CONTRACT.items():
        assert table.get(code) == name, code
    assert ErrorCode.USER_MEDIA_ACCESS_DENIED == 1500
    assert ErrorCode(1582).name == "DEVICE_NOT_FOUND"


def test_reasons_are_the_core_table() -> None:
    assert [(m.value, m.name) for m in Reason] == _native.reason_table()
    assert [m.name for m in Reason] == [
        "clientDisconnected",
        "forceDisconnected",
        "forceUnpublished",
        "mediaStopped",
        "networkDisconnected",
        "quality",
        "publishVideo",
        "publishAudio",
    ]


def _stub_members(tree: ast.Module, class_name: str) -> list:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return [
                (stmt.value.value, stmt.targets[0].id)
                for stmt in node.body
                if isinstance(stmt, ast.Assign)
            ]
    raise AssertionError(f"{class_name} missing from the stub")


def test_type_stub_matches_the_runtime_enums() -> None:
    stub = pathlib.Path(libpublisher.__file__).with_name("_errors.pyi")
    tree = ast.parse(stub.read_text())
    assert _stub_members(tree, "ErrorCode") == _native.error_table()
    assert _stub_members(tree, "Reason") == _native.reason_table()


def test_error_carries_code_name_and_message() -> None:
    e = Error(1500, "Publisher Access Denied: no")
    assert e.code is ErrorCode.USER_MEDIA_ACCESS_DENIED
    assert e.name == "USER_MEDIA_ACCESS_DENIED"
    assert e.message == "Publisher Access Denied: no"
    assert str(e) == "Publisher Access Denied: no (1500 USER_MEDIA_ACCESS_DENIED)"
    assert isinstance(e, Exception)


def test_error_survives_pickling() -> None:
    e = pickle.loads(pickle.dumps(Error(1011, "resolution: bad")))
    assert (e.code, e.name, e.message) == (1011, "INVALID_PARAMETER", "resolution: bad")


def test_unknown_code_keeps_its_number() -> None:
    e = Error(4242, "from the future")
    assert e.code == 4242 and e.name == "UNKNOWN"


def test_version_is_the_core_version() -> None:
    assert libpublisher.__version__ == _native.__version__
    assert libpublisher.__version__.count(".") == 2
    # The installed distribution's version (the wheel's metadata, from Cargo.toml) is the same,
    # in PEP 440's spelling (maturin writes a semver 0.2.0-rc.1 as 0.2.0rc1).
    assert Version(importlib.metadata.version("libpublisher")) == Version(libpublisher.__version__)
