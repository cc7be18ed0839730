"""A network namespace joined to this one by a veth pair, with nftables rules inside it, for
tests of restrictive networks. Needs root, `ip` (iproute2) and `nft` (Debian nftables).

    with ServerNetwork() as net:          # 10.R.S.1 here <-veth-> 10.R.S.2 in the namespace
        net.block("udp")                  # the namespace drops UDP on its veth, both ways
        net.cut(); net.restore()          # drop everything; remove every rule again
        net.lose(30)                      # drop 30 in 1000 UDP packets into the namespace
        net.limit(800)                    # police UDP into the namespace to 800 kbit/s
        receiver = WhipReceiver(host=net.server_ip, netns=net.name)

Everything lives in the namespace (deleting it removes the veth pair and the rules); only
processes the caller started there need stopping, which the caller does.
"""

import os
import random
import shutil
import subprocess


def available():
    """Why namespaces cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root (ip netns)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def run(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


class ServerNetwork:
    """Namespace `name` holding the server side at `server_ip`; this side is `client_ip`."""

    def __init__(self):
        tag = f"{os.getpid() % 10000:04d}{random.randrange(100):02d}"
        self.name = f"lp-srv-{tag}"
        self.host_if, self.ns_if = f"lpc{tag}", f"lps{tag}"
        octet2, octet3 = random.randrange(100, 250), random.randrange(1, 250)
        self.client_ip = f"10.{octet2}.{octet3}.1"
        self.server_ip = f"10.{octet2}.{octet3}.2"
        self._created = False
        try:
            run("ip", "netns", "add", self.name)
            self._created = True
            run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            run("ip", "link", "set", self.ns_if, "netns", self.name)
            run("ip", "addr", "add", f"{self.client_ip}/24", "dev", self.host_if)
            run("ip", "link", "set", self.host_if, "up")
            self.exec("ip", "addr", "add", f"{self.server_ip}/24", "dev", self.ns_if)
            self.exec("ip", "link", "set", self.ns_if, "up")
            self.exec("ip", "link", "set", "lo", "up")
            self.exec("nft", "add", "table", "inet", "lpfw")
            for chain, hook in (("in", "input"), ("out", "output")):
                self.exec("nft", "add", "chain", "inet", "lpfw", chain,
                          f"{{ type filter hook {hook} priority 0 ; policy accept ; }}")
        except subprocess.CalledProcessError as e:
            self.close()
            raise RuntimeError(f"{' '.join(e.cmd)}: {e.stderr.strip()}") from e

    def exec(self, *args, check=True):
        return run("ip", "netns", "exec", self.name, *args, check=check)

    def block(self, protocol, port=None):
        """Drops `protocol` ("udp"/"tcp") on the namespace's veth in both directions (to and
        from `port` only, when given)."""
        for chain, direction, iface in (("in", "iifname", self.ns_if),
                                        ("out", "oifname", self.ns_if)):
            rule = [direction, iface, "meta", "l4proto", protocol]
            if port is not None:
                rule += ["th", "dport" if chain == "in" else "sport", str(port)]
            self.exec("nft", "add", "rule", "inet", "lpfw", chain, *rule, "counter", "drop")

    def cut(self):
        """Drops everything on the namespace's veth, both ways: the link is down for IP
        (the interfaces stay up, as with a router that stopped forwarding)."""
        for chain, direction in (("in", "iifname"), ("out", "oifname")):
            self.exec("nft", "add", "rule", "inet", "lpfw", chain, direction, self.ns_if,
                      "counter", "drop")

    def lose(self, per_mille):
        """Drops `per_mille` in 1000 UDP packets arriving in the namespace, at random: a lossy
        path towards the server (what it sends back goes through)."""
        self.exec("nft", "add", "rule", "inet", "lpfw", "in", "iifname", self.ns_if,
                  "meta", "l4proto", "udp", "numgen", "random", "mod", "1000", "<",
                  str(per_mille), "counter", "drop")

    def limit(self, kbit_per_s):
        """Polices UDP into the namespace to `kbit_per_s`: what exceeds the rate is dropped,
        as a narrow uplink drops it (nftables' token bucket holds a second of the rate, so a
        burst after a quiet spell gets through)."""
        rate = max(1, kbit_per_s * 1000 // 8 // 1024)
        self.exec("nft", "add", "rule", "inet", "lpfw", "in", "iifname", self.ns_if,
                  "meta", "l4proto", "udp", "limit", "rate", "over", f"{rate}", "kbytes/second",
                  "counter", "drop")

    def restore(self):
        """Removes every rule added by `block`, `cut` and `lose`, both ways at once (one nft
        transaction): the first packet that gets in can be answered."""
        subprocess.run(["ip", "netns", "exec", self.name, "nft", "-f", "-"],
                       input="flush chain inet lpfw in\nflush chain inet lpfw out\n",
                       capture_output=True, text=True, check=True)

    def dropped(self):
        """Packets the rules dropped so far (their counters)."""
        out = self.exec("nft", "list", "table", "inet", "lpfw").stdout
        total = 0
        for line in out.splitlines():
            if "drop" in line and "packets" in line:
                words = line.split()
                total += int(words[words.index("packets") + 1])
        return total

    def close(self):
        if self._created:
            run("ip", "netns", "delete", self.name, check=False)
            self._created = False
        run("ip", "link", "delete", self.host_if, check=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
