"""The Python conformance driver meets every expectation of tests/conformance/scenarios.json."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

import libpublisher

CONFORMANCE = pathlib.Path(__file__).resolve().parents[2] / "tests" / "conformance"


@pytest.mark.skipif(not CONFORMANCE.is_dir(), reason="run from the repository")
def test_driver_output_meets_every_scenario() -> None:
    scenarios_path = CONFORMANCE / "scenarios.json"
    run = subprocess.run(
        [sys.executable, str(CONFORMANCE / "driver_python.py"), str(scenarios_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)  # exactly one JSON document on stdout
    assert report["language"] == "python"
    assert report["version"] == libpublisher.__version__
    assert report["errors"] == [{"code": c.value, "name": c.name} for c in libpublisher.ErrorCode]
    assert report["reasons"] == [{"code": r.value, "name": r.name} for r in libpublisher.Reason]

    scenarios = json.loads(scenarios_path.read_text())["init_publisher"]
    results = {r["scenario"]: r for r in report["results"]}
    assert list(results) == [s["name"] for s in scenarios]
    for scenario in scenarios:
        expect, got = scenario["expect"], results[scenario["name"]]
        assert (got["code"], got["name"]) == (expect["code"], expect["name"]), got
        assert got["events"] == expect["events"], got
        assert got["message"].startswith(expect.get("messagePrefix", "")), got
