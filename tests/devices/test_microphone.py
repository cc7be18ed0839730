"""Microphone capture through cpal's real ALSA path, from a paced virtual microphone (a private
PulseAudio server with a tone playing, tests/peers/virtual_mic.py), into the aiortc receiver,
which decodes it. No camera exists on the test machines; camera capture is covered by the
unit tests of its mode choice and error mapping."""

import json
import pathlib
import re
import subprocess
import sys

import pytest

from peers.virtual_mic import TONE_AMPLITUDE, VirtualMicrophone

ROOT = pathlib.Path(__file__).resolve().parents[2]

PUBLISH = ROOT / "target" / "release" / "examples" / "publish"
TONE_RMS = TONE_AMPLITUDE / 2 ** 0.5


@pytest.fixture()
def mic():
    with VirtualMicrophone() as m:
        yield m


def session_of(receiver, room):
    return next(s for s in receiver.stats().values() if s["room"] == room)


def test_the_virtual_microphone_is_listed_and_captured_from_rust(receiver, mic):
    out = subprocess.run(
        [str(PUBLISH), "--url", receiver.url("mic-rust"), "--token", receiver.token,
         "--video", "none", "--audio", "default", "--seconds", "3"],
        env=mic.env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "audioInput audio:default" in out.stdout, out.stdout
    assert "note: no audioInput present" not in out.stdout
    levels = [float(x) for x in re.findall(r"audio level ([0-9.]+)", out.stdout)]
    assert levels and abs(levels[-1] - TONE_RMS) < 0.03, out.stdout
    ours = session_of(receiver, "mic-rust")
    # 3 s of 20 ms Opus frames is 150; the device starts a little late.
    assert ours["audio_frames"] >= 100, ours
    assert abs(ours["audio_level"] - TONE_RMS) < 0.03, ours


def test_levels_and_capture_from_python(receiver, mic):
    out = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "devices" / "mic_python.py"),
         receiver.url("mic-python"), receiver.token, "2"],
        env=mic.env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["events"] == ["accessAllowed", "streamCreated",
                                "streamDestroyed:clientDisconnected"], result
    # About ten a second, before publishing too (a hardware-setup screen).
    assert 6 <= result["levels_before_publish"] <= 12, result
    assert abs(result["mean_level"] - TONE_RMS) < 0.03, result
    ours = session_of(receiver, "mic-python")
    assert ours["audio_frames"] >= 60 and abs(ours["audio_level"] - TONE_RMS) < 0.03, ours


def test_a_sound_server_that_dies_stops_the_media_and_the_stream(receiver, mic):
    """The device goes away while publishing: mediaStopped, then streamDestroyed with reason
    mediaStopped; the session stays connected."""
    proc = subprocess.Popen(
        [str(PUBLISH), "--url", receiver.url("mic-dies"), "--token", receiver.token,
         "--video", "none", "--audio", "default", "--seconds", "8"],
        env=mic.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("[  2s]"):
            mic.kill_server()
            break
    rest, err = proc.communicate(timeout=60)
    lines += rest.splitlines()
    events = [l.split(": ", 1)[1].strip() for l in lines if l.startswith("event: ")]
    assert events == ["accessAllowed", "sessionConnected", "streamCreated", "mediaStopped",
                      "streamDestroyed (mediaStopped)",
                      "sessionDisconnected (clientDisconnected)"], (events, err[-1500:])
    # The session stayed connected until the example disconnected it; the server was told.
    assert any(l.startswith("the stream ended") for l in lines), lines
    assert proc.returncode == 1
    assert session_of(receiver, "mic-dies")["deleted"]


MIC_SCENARIOS = [
    {"name": "default_microphone", "options": {"videoSource": None, "audioSource": "default"},
     "consent": "allow", "expect": (0, "OK", ["accessAllowed"])},
    {"name": "microphone_by_id", "options": {"videoSource": None, "audioSource": "audio:pulse"},
     "consent": "allow", "expect": (0, "OK", ["accessAllowed"])},
    {"name": "microphone_consent_denied",
     "options": {"videoSource": None, "audioSource": "default"},
     "consent": "deny", "expect": (1500, "USER_MEDIA_ACCESS_DENIED", ["accessDenied"])},
    {"name": "unknown_microphone", "options": {"videoSource": None, "audioSource": "audio:gone"},
     "consent": "allow", "expect": (1582, "DEVICE_NOT_FOUND", [])},
]


def run_driver(cmd, env):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert out.returncode == 0, f"{cmd} failed ({out.returncode}):\n{out.stderr[-2000:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_microphone_paths_give_the_same_outcome_in_every_language(mic, tmp_path):
    """Capture from the virtual microphone, by default and by id, consent denied, and an id
    that is not there: the same codes and events from Rust, C, Python and Node."""
    scenarios = tmp_path / "scenarios.json"
    scenarios.write_text(json.dumps({"init_publisher": [
        {k: v for k, v in s.items() if k != "expect"} for s in MIC_SCENARIOS]}))
    conformance = ROOT / "tests" / "conformance"
    outcomes = {
        "rust": run_driver([str(ROOT / "target/release/examples/conformance_driver"),
                            str(scenarios)], mic.env)["results"],
        "python": run_driver([sys.executable, str(conformance / "driver_python.py"),
                              str(scenarios)], mic.env)["results"],
        "node": run_driver(["node", str(conformance / "driver_node.mjs"), str(scenarios)],
                           mic.env)["results"],
        "c": [run_driver([str(ROOT / "target/c/driver_c"), "--scenario", s["name"], "--consent",
                          s["consent"], "--set", "videoSource=null", "--set",
                          f"audioSource={s['options']['audioSource']}"], mic.env)
              for s in MIC_SCENARIOS],
    }
    for language, results in outcomes.items():
        for scenario, got in zip(MIC_SCENARIOS, results):
            assert got["scenario"] == scenario["name"]
            code, name, events = scenario["expect"]
            assert (got["code"], got["name"], got["events"]) == (code, name, events), \
                (language, got)


def test_a_dying_microphone_reaches_python_as_media_stopped(receiver, mic):
    """The same device death through the Python binding: mediaStopped, streamDestroyed
    (mediaStopped), the session still connected, and the dead publisher cannot publish (1015)."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "devices" / "mic_dies_python.py"),
         receiver.url("mic-dies-python"), receiver.token],
        env=mic.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout.readline().strip() == "PUBLISHING"
    mic.kill_server()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["events"] == ["streamCreated", "mediaStopped:audio",
                                "streamDestroyed:mediaStopped", "sessionDisconnected"], result
    assert result["session_state"] == "connected", result
    assert result["publish_again"] == "1015 ILLEGAL_STATE", result
