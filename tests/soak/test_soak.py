"""Resources hold steady: a short soak of the C API on `loopback://` (tests/bench/soak.py runs
the long one, and its driver tests/bench/soak.c runs here). The driver samples its own RSS,
thread count and open descriptors from /proc/self, and its heap in use from malloc (what malloc
handed out and did not get back: RSS without the allocator's free lists and fragmentation,
which move RSS by megabytes either way with no leak).

Threads and descriptors must come back exactly; the bounds on memory come from measurements
on a 2-core build machine (README, Reliability)."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "bench"))
from soak import soak_cycles, soak_publish  # noqa: E402

MB = 1024  # the samples are in kB

#: Cycles run (session new, connect, init publisher, publish, streamCreated, unpublish,
#: disconnect, free both), and the cycle from which memory has settled: the heap in use between
#: cycles grows from 270 kB after the first to ~600 kB by cycle 100 (caches that fill once:
#: thread caches, the runtime's), then stays (590-640 kB up to cycle 10,000).
CYCLES, SETTLED = 200, 100
#: The heap in use may rise this much above its level at cycle SETTLED over the next 100.
#: Measured: at most +46 kB from cycle 100 to 10,000, +24 kB from 100 to 200. A publisher with
#: its stream holds ~6 MB of heap, so a cycle leaving behind even 1 kB (100 kB in all) fails.
CYCLES_HEAP_GROWTH = 100
#: RSS may rise this much above its level at cycle SETTLED: glibc's arenas move it by up to
#: 5 MB either way with no leak (measured over 10,000 cycles, README).
CYCLES_RSS_GROWTH = 10 * MB

#: Publishers and seconds of the publishing run, and the second from which growth is measured.
PUBLISHERS, SECONDS, FROM = 2, 60, 20
#: While publishing, the heap may rise this much from second FROM to the end. Measured (four
#: runs): +1.1 to +1.2 MB, the NACK responders' histories (1024 packets a stream) still
#: filling; with four publishers it stops after about two minutes and then stays within
#: 0.2 MB over 30 minutes. Keeping one copy of every RTP packet sent (~150 a second for two
#: publishers, ~1 kB each) would add 6 MB, one raw frame of every frame 140 MB.
PUBLISH_HEAP_GROWTH = 3 * MB
#: Everything freed, the heap in use may be this much: measured 0.5-0.6 MB (the caches above);
#: one publisher left behind holds ~6 MB.
FREED_HEAP = 2 * MB


def phase(samples, name):
    return [s for s in samples if s["phase"] == name]


def test_publish_unpublish_cycles_leave_nothing_behind():
    _, samples = soak_cycles("loopback://", "", CYCLES, 10, "320x240", 15, SETTLED)
    base, end = phase(samples, "base")[0], phase(samples, "end")[0]
    runs = phase(samples, "run")
    assert len(runs) == CYCLES // 10
    # Between two cycles nothing is alive: what the library keeps is its runtime, no more.
    for s in runs + [end]:
        assert (s["threads"], s["fds"]) == (base["threads"], base["fds"]), s
    settled = next(s for s in runs if s["cycle"] == SETTLED)
    later = [s for s in runs if s["cycle"] > SETTLED]
    heap = [s["heap_kb"] for s in runs]
    assert max(s["heap_kb"] for s in later) - settled["heap_kb"] <= CYCLES_HEAP_GROWTH, heap
    rss = [s["rss_kb"] for s in runs]
    assert max(s["rss_kb"] for s in later) - settled["rss_kb"] <= CYCLES_RSS_GROWTH, rss


def test_publishing_holds_steady_and_frees_everything():
    _, samples, stats = soak_publish("loopback://", "", PUBLISHERS, SECONDS, 5, "320x240", 15,
                                     FROM)
    base, warm, end = (phase(samples, p)[0] for p in ("base", "warm", "end"))
    runs = phase(samples, "run")
    # Every publisher sent video all along (15 fps; slack for a busy machine).
    assert all(s["video_frames_sent"] >= SECONDS * 15 * 0.8 for s in stats), stats
    # While publishing, no thread or descriptor more than once everything published.
    for s in runs:
        assert s["threads"] <= warm["threads"] and s["fds"] <= warm["fds"], s
    since = min((s for s in runs if s["since_warm"] >= FROM), key=lambda s: s["since_warm"])
    heap = [s["heap_kb"] for s in runs]
    assert runs[-1]["heap_kb"] - since["heap_kb"] <= PUBLISH_HEAP_GROWTH, heap
    # Everything freed: back to what the library keeps for the process's life.
    assert (end["threads"], end["fds"]) == (base["threads"], base["fds"]), (base, end)
    assert end["heap_kb"] <= FREED_HEAP, (base, end)
