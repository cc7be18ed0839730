"""The operating system refuses the microphone (EACCES): init_publisher fails with 1500
`Publisher Access Denied: …` after an `accessDenied` event, from Rust, C, Python and Node.

Real refusal, no mock: each driver runs as the unprivileged user `nobody`, whose ALSA default
capture device is a `file` PCM reading a file only root may read, so ALSA's open fails with
EACCES exactly as it does for a user outside the `audio` group. Needs root (to drop to
`nobody`), as the CI machine has.
"""

import json
import os
import pathlib
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "tests" / "conformance"
SCENARIO = {
    "name": "os_denies_the_microphone",
    "options": {"videoSource": None, "audioSource": "default"},
    "consent": "allow",
}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="dropping to `nobody` needs root")


@pytest.fixture(scope="module")
def locked():
    # Not under pytest's tmp_path: that lives in a directory only root may enter.
    base = pathlib.Path(tempfile.mkdtemp(prefix="lp-eacces-"))
    os.chmod(base, 0o755)
    secret = base / "secret.raw"
    secret.write_bytes(bytes(96000))
    os.chmod(secret, 0o600)  # root's alone
    home = base / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(
        "pcm.!default {\n  type file\n  slave.pcm \"null\"\n  file \"/dev/null\"\n"
        f"  infile \"{secret}\"\n  format \"raw\"\n}}\n"
    )
    nobody = pwd.getpwnam("nobody")
    for path in (home, home / ".asoundrc"):
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    scenarios = base / "scenarios.json"
    scenarios.write_text(json.dumps({"init_publisher": [SCENARIO]}))
    os.chmod(scenarios, 0o644)
    yield {"home": home, "scenarios": scenarios}
    shutil.rmtree(base, ignore_errors=True)


def as_nobody(locked, cmd, extra_env=None):
    env = {"HOME": str(locked["home"]), "PATH": "/usr/bin:/bin", **(extra_env or {})}
    out = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "env", "-i",
         *[f"{k}={v}" for k, v in env.items()], *cmd],
        capture_output=True, text=True, timeout=60, cwd="/tmp",
    )
    assert out.returncode == 0, f"{cmd} failed ({out.returncode}):\n{out.stderr[-2000:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def site_packages():
    """Where the test venv installed libpublisher, for the system Python that `nobody` can run
    (the venv's interpreter lives under root's home)."""
    return sysconfig.get_paths()["purelib"]


DRIVERS = {
    "rust": lambda l: as_nobody(l, [str(ROOT / "target/release/examples/conformance_driver"),
                                    str(l["scenarios"])])["results"][0],
    "c": lambda l: as_nobody(l, [str(ROOT / "target/c/driver_c"), "--scenario", SCENARIO["name"],
                                 "--consent", "allow", "--set", "audioSource=default",
                                 "--set", "videoSource=null"]),
    "python": lambda l: as_nobody(l, ["/usr/bin/python3", str(CONFORMANCE / "driver_python.py"),
                                      str(l["scenarios"])],
                                  {"PYTHONPATH": site_packages()})["results"][0],
    "node": lambda l: as_nobody(l, [shutil.which("node") or "node",
                                    str(CONFORMANCE / "driver_node.mjs"),
                                    str(l["scenarios"])])["results"][0],
}


@pytest.mark.parametrize("language", list(DRIVERS))
def test_the_os_refusing_the_microphone_is_1500_after_access_denied(locked, language):
    got = DRIVERS[language](locked)
    assert (got["code"], got["name"]) == (1500, "USER_MEDIA_ACCESS_DENIED"), got
    assert got["message"].startswith("Publisher Access Denied: the system refused access"), got
    assert "Permission denied" in got["message"], got
    assert got["events"] == ["accessDenied"], got
