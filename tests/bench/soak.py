"""Soak: does the publishing process's memory, thread count or descriptor count grow over time?
Runs the C driver tests/bench/soak.c (built here against target/release/libpublisher.so when
missing or older than its source or the library) in one of two modes, reads the samples it
takes of itself, and prints, for RSS, the heap in use (what malloc handed out and did not get
back, which RSS hides behind the allocator's free lists), threads and open fds: the value
before the library is used (start) and after one publish and unpublish with everything freed
(base), the first sample taken while running (everything publishing, or the first cycle done),
the last, the maximum, the value once everything was freed at the end, and the least-squares
slope after warm-up.

    python3 tests/bench/soak.py publish [--publishers 4] [--minutes 30] [--interval 10]
    python3 tests/bench/soak.py cycles [--cycles 1000] [--every 10] [--reuse]

Both publish synthetic video and a tone to `loopback://` (the embedded receiver, in the same
process: its memory counts too) or, with --whip, to the aiortc WHIP receiver of tests/peers
(needs aiortc: run it with the project's .venv python). `publish` samples every --interval
seconds; its slope is per 10 minutes, computed after --warmup minutes (default: a tenth of the
run, at least 3 minutes, at most half of it: the NACK responders' histories fill for about two).
`cycles` runs CYCLES times: session new, connect, init publisher, publish, wait for
streamCreated, unpublish, disconnect, free both (with --reuse, one publisher for all cycles); it
samples between cycles every --every cycles, with nothing alive; its slope is per 100 cycles,
computed after --warmup cycles (default: a tenth of the run). Video is 320x240 at 15 fps unless
--resolution / --frame-rate say otherwise. The driver runs with glibc's per-thread caches off
(GLIBC_TUNABLES=glibc.malloc.tcache_count=0), which makes the heap in use exact (flat to the kB
over thousands of cycles) where it drifts by tens of kB with what the caches hold; --tcache
keeps them.

Numbers, not assertions: it fails only if publishing fails (tests/soak asserts on a short run).
"""

import argparse
import hashlib
import json
import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DRIVER = ROOT / "target" / "c" / "soak"
LIBRARY = ROOT / "target" / "release" / "libpublisher.so"
METRICS = ("rss_kb", "heap_kb", "threads", "fds")


def build_driver(library=LIBRARY):
    """Compiles the driver against `library` (a libpublisher.so) when it is missing or older
    than its source or the library: target/c/soak, or target/c/soak-HASH for another library."""
    source, library = HERE / "soak.c", pathlib.Path(library).resolve()
    driver = DRIVER
    if library != LIBRARY.resolve():
        driver = DRIVER.with_name("soak-" + hashlib.sha1(bytes(library)).hexdigest()[:8])
    if driver.exists() and driver.stat().st_mtime >= max(source.stat().st_mtime,
                                                         library.stat().st_mtime):
        return driver
    driver.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["gcc", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-D_DEFAULT_SOURCE", "-Wall", "-Wextra",
         "-Werror", f"-I{ROOT / 'include'}", str(source), str(library), "-lpthread",
         f"-Wl,-rpath,{library.parent}", "-o", str(driver)],
        check=True,
    )
    return driver


def driver_env(tcache):
    """The driver's environment: without `tcache`, glibc's per-thread caches are off, so that
    the heap in use counts what the program holds, not also up to a few hundred kB a thread of
    freed blocks kept for reuse (which made it drift by tens of kB with no leak)."""
    env = dict(os.environ)
    if not tcache:
        tunables = [t for t in env.get("GLIBC_TUNABLES", "").split(":") if t]
        env["GLIBC_TUNABLES"] = ":".join(tunables + ["glibc.malloc.tcache_count=0"])
    return env


def run_driver(args, progress=None, timeout=None, library=LIBRARY, tcache=False):
    """Runs the driver with `args`; its samples (dicts) and other JSON lines. `progress(sample)`
    is called as each sample comes. Raises RuntimeError with its output when it fails."""
    proc = subprocess.Popen([str(build_driver(library)), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=driver_env(tcache))
    samples, others, tail = [], [], []
    try:
        for line in proc.stdout:
            tail = (tail + [line.rstrip()])[-20:]
            if line.startswith("{"):
                record = json.loads(line)
                if "phase" in record:
                    samples.append(record)
                    if progress:
                        progress(record)
                else:
                    others.append(record)
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read()
    if proc.returncode != 0 or not tail or tail[-1] != "ok":
        raise RuntimeError(f"the soak driver failed ({proc.returncode}):\n"
                           + "\n".join(tail) + "\n" + stderr[-2000:])
    return samples, others


def slope(points):
    """Least-squares slope of (x, y) points; None with fewer than two distinct x."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def summarize(samples, x_key, x_scale, warmup):
    """For each metric: start (before the library was used), base (after one publish and
    unpublish, everything freed: the library's runtime is up), first, last and max of the
    samples taken while running (`cycles`: from the first cycle, the base sample, on;
    `publish`: from everything publishing on), freed (everything freed at the end), and the
    slope per `x_scale` of x (`t` or `cycle`) over the running samples with x >= `warmup`."""
    by_phase = lambda phase: [s for s in samples if s["phase"] == phase]  # noqa: E731
    start, base, end = by_phase("start")[0], by_phase("base")[0], by_phase("end")[0]
    running = (by_phase("warm") or [base]) + by_phase("run")
    after = [s for s in running if s[x_key] >= warmup]
    summary = {}
    for m in METRICS:
        k = slope([(s[x_key], s[m]) for s in after])
        summary[m] = {
            "start": start[m],
            "base": base[m],
            "first": running[0][m],
            "last": running[-1][m],
            "max": max(s[m] for s in running),
            "freed": end[m],
            "slope": None if k is None else k * x_scale,
        }
    return summary


def print_table(summary, slope_unit):
    columns = ("start", "base", "first", "last", "max", "freed")
    print(f"{'':8}" + "".join(f"{c:>9}" for c in columns) + f"{'slope ' + slope_unit:>18}")
    for m, v in summary.items():
        k = "n/a" if v["slope"] is None else f"{v['slope']:+.1f}"
        print(f"{m:8}" + "".join(f"{v[c]:>9}" for c in columns) + f"{k:>18}")


def soak_publish(url, token, publishers, seconds, interval, resolution, frame_rate, warmup_s,
                 progress=None, library=LIBRARY, tcache=False):
    """Runs the `publish` mode; (summary, samples, per-publisher stats)."""
    samples, others = run_driver(
        ["publish", url, token, publishers, seconds, interval, resolution, frame_rate],
        progress=progress, timeout=seconds + 300, library=library, tcache=tcache)
    began = next(s["t"] for s in samples if s["phase"] == "warm")  # everything publishes
    for s in samples:
        s["since_warm"] = s["t"] - began
    return summarize(samples, "since_warm", 600, warmup_s), samples, others


def soak_cycles(url, token, cycles, every, resolution, frame_rate, warmup_cycles, reuse=False,
                progress=None, library=LIBRARY, tcache=False):
    """Runs the `cycles` mode; (summary, samples)."""
    args = ["cycles", url, token, cycles, every, resolution, frame_rate]
    if reuse:
        args.append("reuse")
    samples, _ = run_driver(args, progress=progress, library=library, tcache=tcache)
    return summarize(samples, "cycle", 100, warmup_cycles), samples


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["publish", "cycles"])
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--interval", type=float, default=10, help="seconds between samples")
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--every", type=int, default=10, help="cycles between samples")
    parser.add_argument("--reuse", action="store_true", help="one publisher for every cycle")
    parser.add_argument("--warmup", type=float, default=None,
                        help="minutes (publish) or cycles (cycles) left out of the slope")
    parser.add_argument("--resolution", default="320x240")
    parser.add_argument("--frame-rate", type=int, default=15)
    parser.add_argument("--whip", action="store_true", help="publish to the aiortc receiver")
    parser.add_argument("--json", default=None, help="also write summary and samples here")
    parser.add_argument("--library", default=str(LIBRARY),
                        help="the libpublisher.so to soak (default: target/release's)")
    parser.add_argument("--tcache", action="store_true",
                        help="keep glibc's per-thread caches (the heap in use then drifts)")
    args = parser.parse_args()

    receiver = None
    url, token = "loopback://", ""
    if args.whip:
        sys.path.insert(0, str(HERE.parent))
        from peers.receiver import WhipReceiver
        receiver = WhipReceiver()
        url, token = receiver.url("soak"), receiver.token

    def progress(s):
        print(f"{s['phase']:5} t={s['t']:8.1f}s cycle={s['cycle']:5} rss={s['rss_kb']} kB "
              f"heap={s['heap_kb']} kB threads={s['threads']} fds={s['fds']}", flush=True)

    try:
        if args.mode == "publish":
            seconds = args.minutes * 60
            warmup = args.warmup
            if warmup is None:  # the NACK histories take about two minutes to fill
                warmup = min(max(3.0, args.minutes / 10), args.minutes / 2)
            summary, samples, others = soak_publish(
                url, token, args.publishers, seconds, args.interval, args.resolution,
                args.frame_rate, warmup * 60, progress, args.library, args.tcache)
            unit = "/10 min"
            run = {"mode": "publish", "publishers": args.publishers, "minutes": args.minutes,
                   "warmup_minutes": warmup, "publisher_stats": others}
        else:
            warmup = args.warmup if args.warmup is not None else args.cycles / 10
            summary, samples = soak_cycles(url, token, args.cycles, args.every, args.resolution,
                                           args.frame_rate, warmup, args.reuse, progress,
                                           args.library, args.tcache)
            unit = "/100 cycles"
            run = {"mode": "cycles", "cycles": args.cycles, "reuse": args.reuse,
                   "warmup_cycles": warmup}
        if receiver is not None:
            run["receiver_sessions"] = len(receiver.stats())
    finally:
        if receiver is not None:
            receiver.close()
    run.update({"url": "whip (aiortc)" if args.whip else url, "resolution": args.resolution,
                "frame_rate": args.frame_rate, "tcache": args.tcache, "summary": summary})
    print()
    print(json.dumps({k: v for k, v in run.items() if k != "summary"}))
    print_table(summary, unit)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({**run, "samples": samples}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
