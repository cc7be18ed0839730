#!/usr/bin/env python3
"""Python driver of the conformance suite.

    python driver_python.py path/to/scenarios.json

Runs every ``init_publisher`` scenario through the installed ``libpublisher`` package and
prints one JSON object to stdout: the language, the version, the error and reason tables,
and for each scenario the outcome's code, name and message and the publisher events received
before the completion (camelCase, as the scenario file spells them).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Dict, List

import libpublisher


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def run_scenario(scenario: Dict[str, Any]) -> Dict[str, Any]:
    options = {snake_case(key): value for key, value in scenario.get("options", {}).items()}
    consent = scenario.get("consent", "allow")
    if consent not in ("allow", "deny"):
        raise ValueError(f"{scenario['name']}: unknown consent {consent!r}")
    allowed = consent == "allow"
    options["access_request"] = lambda request: allowed

    # A blocking call runs the handlers on this thread before it returns or raises, so
    # `events` holds exactly what arrived before the completion.
    events: List[str] = []
    handlers = {
        name: (lambda *args, _name=name: events.append(camel_case(_name)))
        for name in libpublisher.PUBLISHER_EVENTS
    }
    result: Dict[str, Any] = {"scenario": scenario["name"]}
    try:
        publisher = libpublisher.init_publisher(options, on=handlers)
    except libpublisher.Error as error:
        result.update(code=int(error.code), name=error.name, message=error.message)
    else:
        result.update(code=0, name=libpublisher.ErrorCode(0).name, message="")
        result["events"] = list(events)
        publisher.close()
        return result
    result["events"] = list(events)
    return result


def outcome(error: Any) -> Dict[str, Any]:
    if error is None:
        return {"code": 0, "name": "OK", "message": ""}
    return {"code": int(error.code), "name": error.name, "message": error.message}


def refused(call: Any) -> Dict[str, Any]:
    """A call refused at once raises, and its callback never runs."""
    try:
        call(lambda error: (_ for _ in ()).throw(AssertionError("completed")))
    except libpublisher.Error as error:
        return {**outcome(error), "at_once": True}
    return {**outcome(None), "at_once": False}


SYNTHETIC = {"video_source": "synthetic", "audio_source": "synthetic", "resolution": "320x240"}


def consent_code(reply: Any) -> int:
    try:
        publisher = libpublisher.init_publisher({**SYNTHETIC, "access_request": lambda _r: reply})
    except libpublisher.Error as error:
        return int(error.code)
    publisher.close()
    return 0


def host_script() -> Dict[str, Any]:
    """The host-contract script every driver runs (see scenarios.json, ``host``)."""
    out: Dict[str, Any] = {}
    publisher = libpublisher.init_publisher(SYNTHETIC)
    session = libpublisher.init_session("loopback://")
    out["publish_not_connected"] = refused(lambda cb: session.publish(publisher, callback=cb))
    out["receiver_stats_not_published"] = session.get_receiver_stats(publisher)
    try:
        session.connect()
        out["connect"] = outcome(None)
    except libpublisher.Error as error:
        out["connect"] = outcome(error)
    out["connect_twice"] = refused(lambda cb: session.connect(callback=cb))
    out["unpublish_not_published"] = refused(lambda cb: session.unpublish(publisher, callback=cb))
    completions: List[Any] = []
    session.publish(publisher, callback=completions.append)
    session.close()
    out["close_with_publish_pending"] = [outcome(e) for e in completions]
    out["session_state_after_close"] = session.state
    out["session_call_after_close"] = refused(lambda cb: session.connect(callback=cb))
    live_control(publisher, out)
    publisher.close()
    out["publisher_state_after_close"] = publisher.state
    out["switch_after_close"] = refused(
        lambda cb: publisher.set_video_source("synthetic", callback=cb))
    out["cycle_after_close"] = refused(lambda cb: publisher.cycle_video(callback=cb))
    out["mute_after_close"] = attempt(lambda: publisher.publish_video(False))
    out["snapshot_after_close"] = attempt(publisher.snapshot)
    # Python can reply with any value: the core reads it (only True allows).
    replies = {"true": True, "false": False, "1": 1, '"yes"': "yes", "null": None}
    out["consent"] = {key: consent_code(reply) for key, reply in replies.items()}
    out["dynamic"] = out_of_range_arguments()
    return out


#: A file no machine has: every driver switches to it.
MISSING_FILE = "file:/nonexistent/libpublisher-conformance.y4m"


def attempt(call: Any) -> Dict[str, Any]:
    """A call that returns or raises at once."""
    try:
        call()
    except libpublisher.Error as error:
        return outcome(error)
    return outcome(None)


def live_control(publisher: Any, out: Dict[str, Any]) -> None:
    """Live control of a ready publisher (see scenarios.json, ``host``)."""
    out["switch_wrong_string"] = refused(
        lambda cb: publisher.set_video_source("loudspeaker", callback=cb))
    out["switch_screen_as_audio"] = refused(
        lambda cb: publisher.set_audio_source("screen", callback=cb))
    out["switch_missing_file"] = attempt(lambda: publisher.set_video_source(MISSING_FILE))
    out["preferred_resolution_wrong"] = attempt(lambda: publisher.set_preferred_resolution("12"))
    out["preferred_frame_rate_0"] = attempt(lambda: publisher.set_preferred_frame_rate(0))
    out["mute_and_unmute"] = [
        attempt(lambda: publisher.publish_video(False)),
        attempt(lambda: publisher.publish_audio(False)),
        attempt(lambda: publisher.publish_video(True)),
        attempt(lambda: publisher.publish_audio(True)),
    ]


def out_of_range_arguments() -> Dict[str, Any]:
    """Numbers C and Rust cannot even express (their types are unsigned): the same refusal."""
    publisher = libpublisher.init_publisher({"video_source": "custom", "audio_source": "custom"})
    found: Dict[str, Any] = {}
    for name, call in [
        ("width_-1", lambda: publisher.push_video_frame(b"", -1, 2)),
        ("width_2^32", lambda: publisher.push_video_frame(b"", 2**32, 2)),
        ("sample_rate_-8000", lambda: publisher.push_audio_frame(b"\0\0", sample_rate=-8000)),
        ("timestamp_us_-1", lambda: publisher.push_audio_frame(b"\0\0", timestamp_us=-1)),
    ]:
        try:
            call()
            found[name] = outcome(None)
        except libpublisher.Error as error:
            found[name] = outcome(error)
    publisher.close()
    return found


def main(argv: List[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} path/to/scenarios.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        scenarios = json.load(f)
    report = {
        "language": "python",
        "version": libpublisher.__version__,
        "errors": [
            {"code": code.value, "name": code.name}
            for code in sorted(libpublisher.ErrorCode, key=int)
        ],
        "reasons": [
            {"code": reason.value, "name": reason.name}
            for reason in sorted(libpublisher.Reason, key=int)
        ],
        "results": [run_scenario(s) for s in scenarios.get("init_publisher", [])],
        "host": host_script(),
    }
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
