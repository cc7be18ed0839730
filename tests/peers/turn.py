"""Starts a real TURN server (coturn's `turnserver`, Debian package `coturn`) on 127.0.0.1 for
the tests, with one static long-term-credential user, and stops it.

    with TurnServer() as turn:
        options = {"ice_servers": [turn.ice_server("tcp")], "ice_transport_policy": "relay"}

The server listens on one free port for TURN over UDP and TCP (no TLS, no DTLS), relays from
127.0.0.1 (loopback peers allowed, as everything here runs on this machine), reads no
configuration file and writes its log and pid file into a temporary directory. `log()` is the
log so far; `allocations()`, `usage()` and `closed()` read what coturn says about a user's
allocations, which is how a test knows media really went through the relay (and over which
transport). `extra_args` go to `turnserver` as they are (e.g. `--denied-peer-ip`).

With `tls=True` it also listens for TURN over TLS (`turns:`) on `tls_port`, with a certificate
for 127.0.0.1 and localhost issued by a throwaway CA (`ca_file`, made with `openssl`), which a
client trusts through `SSL_CERT_FILE`.
"""

import pathlib
import re
import shutil
import socket
import subprocess
import tempfile
import time

from peers.process import stop_group

REALM = "libpublisher.test"


def free_port(kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM)):
    """A port on 127.0.0.1 that is free for every socket kind in `kinds` right now."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, kinds[0]) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ok = True
        for kind in kinds[1:]:
            with socket.socket(socket.AF_INET, kind) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
        if ok:
            return port
    raise RuntimeError("no free port")


def free_range(count):
    """`count` consecutive UDP ports on 127.0.0.1 that are free right now (relay ports)."""
    for _ in range(100):
        start = free_port((socket.SOCK_DGRAM,))
        if start + count > 65535:
            continue
        sockets = []
        try:
            for port in range(start, start + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return start, start + count - 1
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free port range")


class TurnServer:
    """A running `turnserver` with user `username`:`password` in realm `libpublisher.test`."""

    def __init__(self, username="lp-user", password="lp-secret", listen="127.0.0.1",
                 netns=None, relays=40, extra_args=(), tls=False):
        if shutil.which("turnserver") is None:
            raise RuntimeError("turnserver is not installed (Debian package coturn)")
        self.username, self.password = username, password
        self.host = listen
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="lp-turn-"))
        self.log_path = self.dir / "turn.log"
        self.pid_path = self.dir / "turn.pid"
        self.port = free_port() if netns is None else 3478
        min_port, max_port = free_range(relays) if netns is None else (49160, 49160 + relays)
        tls_args = ["--no-tls"]
        self.tls_port = self.ca_file = None
        if tls:
            self.tls_port = free_port((socket.SOCK_STREAM,))
            self.ca_file, cert, key = self._certificates(listen)
            tls_args = ["--cert", str(cert), "--pkey", str(key),
                        "--tls-listening-port", str(self.tls_port)]
        args = [
            "turnserver", "-n",
            "--listening-ip", listen, "--relay-ip", listen,
            "--listening-port", str(self.port),
            "--min-port", str(min_port), "--max-port", str(max_port),
            "--user", f"{username}:{password}", "--realm", REALM, "--lt-cred-mech",
            *tls_args, "--no-dtls", "--no-cli",
            "--allow-loopback-peers",
            "--userdb", str(self.dir / "turndb"),
            "--log-file", str(self.log_path), "--simple-log", "--no-stdout-log",
            "--pidfile", str(self.pid_path),
            "--verbose",
            *extra_args,
        ]
        if netns is not None:
            args = ["ip", "netns", "exec", netns] + args
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self._wait_ready(netns)

    def _certificates(self, ip):
        """A CA and a server certificate for `ip` and localhost (ECDSA P-256)."""
        d = self.dir
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        steps = [
            ["openssl", "req", "-x509", *ec, "-keyout", d / "ca.key", "-out", d / "ca.pem",
             "-days", "2", "-subj", "/CN=libpublisher test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ["openssl", "req", *ec, "-keyout", d / "server.key", "-out", d / "server.csr",
             "-subj", "/CN=localhost"],
            ["openssl", "x509", "-req", "-in", d / "server.csr", "-CA", d / "ca.pem",
             "-CAkey", d / "ca.key", "-CAcreateserial", "-out", d / "server.pem", "-days", "2",
             "-extfile", d / "san.cnf"],
        ]
        (d / "san.cnf").write_text(
            f"subjectAltName=IP:{ip},DNS:localhost\nbasicConstraints=CA:FALSE\n"
            "extendedKeyUsage=serverAuth\n"
        )
        for step in steps:
            subprocess.run([str(a) for a in step], check=True, capture_output=True)
        return d / "ca.pem", d / "server.pem", d / "server.key"

    def _wait_ready(self, netns):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")
                raise RuntimeError(f"turnserver exited ({self.proc.returncode}): {err}\n{self.log()}")
            if "Total General servers" in self.log() and self._listening(netns):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"turnserver did not start:\n{self.log()}")

    def _listening(self, netns):
        if netns is not None:
            out = subprocess.run(["ip", "netns", "exec", netns, "ss", "-ltn"],
                                 capture_output=True, text=True).stdout
            return f":{self.port} " in out
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def url(self, transport="udp"):
        """The TURN URL: `turn:127.0.0.1:PORT` (UDP), `...?transport=tcp`, or for "tls"
        `turns:127.0.0.1:TLS_PORT`."""
        if transport == "udp":
            return f"turn:{self.host}:{self.port}"
        if transport == "tls":
            return f"turns:{self.host}:{self.tls_port}"
        return f"turn:{self.host}:{self.port}?transport={transport}"

    def ice_server(self, transport="udp", password=None):
        """An `ice_servers` entry for this server (a wrong password if given)."""
        return {
            "urls": self.url(transport),
            "username": self.username,
            "credential": self.password if password is None else password,
        }

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def allocations(self, username=None):
        """Log lines of successful ALLOCATE requests for `username` (ours by default)."""
        user = username or self.username
        return [
            line for line in self.log().splitlines()
            if f"user <{user}>:" in line and "ALLOCATE processed, success" in line
        ]

    def _session_lines(self, marker, username):
        user = username or self.username
        return [
            line for line in self.log().splitlines()
            if marker in line and (f"username=<{user}>" in line or f"user <{user}>" in line)
        ]

    def usage(self, username=None):
        """coturn's usage report of each ended allocation of `username` (ours by default):
        what it received from and sent to the client, `{"rp", "rb", "sp", "sb"}` (packets and
        bytes)."""
        return [
            {k: int(v) for k, v in re.findall(r"\b(rp|rb|sp|sb)=(\d+)", line)}
            for line in self._session_lines(" usage: ", username)
            if " peer usage: " not in line
        ]

    def peer_usage(self, username=None):
        """Like `usage`, on the peer side: `sb` is what the relay sent on to the peers (the
        media server), `rb` what it received from them."""
        return [
            {k: int(v) for k, v in re.findall(r"\b(rp|rb|sp|sb)=(\d+)", line)}
            for line in self._session_lines(" peer usage: ", username)
        ]

    def closed(self, username=None):
        """Why each ended allocation of `username` was closed: e.g. "allocation timeout" (UDP,
        after a release) or "TCP connection closed by client (callback)"."""
        return [
            line.split("reason: ", 1)[1].strip()
            for line in self._session_lines("closed (2nd stage)", username)
            if "reason: " in line
        ]

    def wait_for_log(self, predicate, timeout=10.0):
        """Polls until `predicate(self)` is true; returns whether it became true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.1)
        return predicate(self)

    def stop(self):
        # The server runs in its own session; end it (and `ip netns exec`) by its group.
        stop_group(self.proc)
        if self.proc.stderr:
            self.proc.stderr.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
