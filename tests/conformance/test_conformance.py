"""The same init_publisher scenarios, run from Rust, C, Python and Node, give the same codes,
names and events, and every language sees the core's error table unchanged.

The drivers must have been built (scripts/test builds them); a missing driver is a failure.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = ROOT / "tests" / "conformance"
SCENARIOS_FILE = HERE / "scenarios.json"
SCENARIOS = json.loads(SCENARIOS_FILE.read_text())["init_publisher"]
TIMEOUT = 120


def runs_in(language):
    """The scenarios `language` can express (`notIn` names those that cannot, with why)."""
    return [s for s in SCENARIOS if language not in s.get("notIn", {})]


def run_json(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)
    assert out.returncode == 0, f"{cmd} failed ({out.returncode}):\n{out.stderr[-2000:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def c_driver():
    """The C driver runs one scenario per process (C has no JSON parser to read the file)."""
    exe = str(ROOT / "target" / "c" / "driver_c")
    table = run_json([exe, "--table"])
    host = run_json([exe, "--host"])["host"]
    host.pop("_")
    results = []
    for s in runs_in("c"):
        args = [exe, "--scenario", s["name"], "--consent", s["consent"]]
        for key, value in s["options"].items():
            text = "null" if value is None else json.dumps(value).strip('"')
            args += ["--set", f"{key}={text}"]
        results.append(run_json(args))
    return {**table, "results": results, "host": host}


DRIVERS = {
    "rust": lambda: run_json(
        [str(ROOT / "target" / "release" / "examples" / "conformance_driver"), str(SCENARIOS_FILE)]
    ),
    "c": c_driver,
    "python": lambda: run_json([sys.executable, str(HERE / "driver_python.py"), str(SCENARIOS_FILE)]),
    "node": lambda: run_json([os.environ.get("NODE", "node"), str(HERE / "driver_node.mjs"), str(SCENARIOS_FILE)]),
}


@pytest.fixture(scope="module")
def outputs():
    return {language: run() for language, run in DRIVERS.items()}


def test_every_language_reports_itself(outputs):
    for language, out in outputs.items():
        assert out["language"] == language
        assert out["version"] == outputs["rust"]["version"]


@pytest.mark.parametrize("language", ["c", "python", "node"])
def test_error_table_is_the_core_table(outputs, language):
    core = outputs["rust"]
    assert len(core["errors"]) >= 21 and core["errors"][0] == {"code": 0, "name": "OK"}
    assert outputs[language]["errors"] == core["errors"]
    assert outputs[language]["reasons"] == core["reasons"]


@pytest.mark.parametrize("language", list(DRIVERS))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_scenario_outcome(outputs, language, scenario):
    if language in scenario.get("notIn", {}):
        pytest.skip(scenario["notIn"][language])
    results = {r["scenario"]: r for r in outputs[language]["results"]}
    got = results[scenario["name"]]
    expect = scenario["expect"]
    assert (got["code"], got["name"]) == (expect["code"], expect["name"]), got["message"]
    assert got["events"] == expect["events"]
    prefix = expect.get("messagePrefix")
    if prefix:
        assert got["message"].startswith(prefix), got["message"]


@pytest.mark.parametrize("language", ["c", "python", "node"])
def test_messages_match_rust(outputs, language):
    """Messages come from the core, so they are the same text in every language."""
    ran = {s["name"] for s in runs_in(language)}
    rust = {r["scenario"]: r["message"] for r in outputs["rust"]["results"] if r["scenario"] in ran}
    other = {r["scenario"]: r["message"] for r in outputs[language]["results"]}
    assert other == rust


# The host contract (src: core/src/host): calls refused at once, close with a call pending,
# closed handles, missing receiver stats, consent replies. Every language runs the same script
# (each driver's host_script) and must report what Rust reports.
HOST = json.loads(SCENARIOS_FILE.read_text())["host"]


def test_host_script_matches_the_contract(outputs):
    got = outputs["rust"]["host"]
    for key, expected in HOST["expect"].items():
        assert got[key] == expected, key


@pytest.mark.parametrize("language", ["c", "python", "node"])
def test_host_script_gives_the_same_outcome_in_every_language(outputs, language):
    rust = outputs["rust"]["host"]
    other = outputs[language]["host"]
    assert set(other) - {"dynamic"} == set(rust)
    for key in rust:
        if key == "consent":
            continue
        assert other[key] == rust[key], key
    # Consent replies: every language that can give a reply reads it as Rust does; the
    # replies only dynamic languages can give (1, "yes", null) deny there alike.
    for reply, code in other["consent"].items():
        assert code == HOST["consent"][reply], (language, reply)
    for reply, code in rust["consent"].items():
        assert other["consent"][reply] == code, (language, reply)


def test_out_of_range_numbers_are_refused_alike_in_python_and_node(outputs):
    """Only the dynamic languages can pass a negative or too large number where the core
    takes an unsigned one; both get the core's refusal, word for word."""
    expected = HOST["dynamic"]
    assert outputs["python"]["host"]["dynamic"] == expected
    assert outputs["node"]["host"]["dynamic"] == expected
