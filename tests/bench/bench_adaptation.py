"""Benchmark: publishing high-detail video over impaired links into the aiortc WHIP receiver in a
network namespace whose input nftables polices or drops (tests/peers/netns.py). The source is
noise at 160x120 scaled to 640x480, new every frame (tests/peers/clips.py): only real
adaptation gets it through a narrow link. An aiortc publisher (publish_aiortc.py, in its own
process) publishes the same clip and tone over the same links, after ours, as the reference.

Per condition it prints what a viewer sees, from the frames the receiver decoded:
- decoded fps over the last 15 s of the run;
- audio the receiver never decoded, after the first 3 s (milliseconds);
- total freeze time after the first 3 s (gaps between decoded frames over 250 ms), and the
  longest gap;
- for a step, how long after it video decoded at 10 fps (a 1 s window), and how long after
  the link came back; and how long after that the decoded size was 640x480 again.

    sudo .venv/bin/python tests/bench/bench_adaptation.py [--only NAME ...] [--seconds 20]
        [--repeat N] [--publishers libpublisher aiortc] [--json PATH] [--log]

With --repeat N each condition runs N times (the publishers taking turns) and each figure is
printed as its median, with the least and the most after it: one run says little, since the
policer's bucket and the receiver's jitter buffer make each run's freezes different.

Needs root, iproute2 and nftables. Numbers, not assertions.
"""

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from peers import clips, netns  # noqa: E402
from peers.receiver import WhipReceiver  # noqa: E402

#: Conditions: (name, options for our publisher, schedule of (second, impairment)[, seconds]).
#: An impairment is ("limit", kbit/s), ("lose", per mille), ("cut",) or None (a clear link).
#: Without its own length a condition runs --seconds.
CONDITIONS = [
    # A clear link: what the publisher, the receiver and this machine manage at all.
    ("clear", {}, [(0, None)]),
    ("800k", {}, [(0, ("limit", 800))]),
    # A minute of it: the estimate grows past a policer's rate on its bucket's credit and falls
    # again every 4 to 20 s; 24 s show the start and at most one of those.
    ("800k-60s", {}, [(0, ("limit", 800))], 60),
    ("800k-maintain-framerate", {"degradation_preference": "maintain-framerate"},
     [(0, ("limit", 800))]),
    ("loss-3%", {}, [(0, ("lose", 30))]),
    # 14 s after the link comes back shows whether video is back to full size within 10 s.
    ("step-400k", {}, [(0, None), (8, ("limit", 400)), (18, None)], 32),
    ("outage-1s", {}, [(0, None), (8, ("cut",)), (9, None)]),
    # Video stops after ~6 s and is tried again 5 s later (then 10 s, 20 s): 20 s after the
    # link comes back shows it return.
    ("150k", {}, [(0, ("limit", 150)), (14, None)], 34),
]


def impair(net, impairment):
    net.restore()
    if impairment is None:
        return
    kind, *args = impairment
    getattr(net, kind)(*args)


def frames_in(times, start, end):
    return [t for t in times if start <= t < end]


def freezes(times, start, end, over=0.25):
    points = [start] + frames_in(times, start, end) + [end]
    gaps = [b - a for a, b in zip(points, points[1:])]
    return sum(g for g in gaps if g > over), max(gaps)


def first_time_at_rate(times, start, end, fps=10):
    """How long after `start` a 1 s window first held `fps` decoded frames."""
    window = frames_in(times, start, end)
    for i, t in enumerate(window):
        if len([u for u in window[i:] if u < t + 1.0]) >= fps:
            return round(t - start, 2)
    return None


def run_ours(receiver, room, clip, seconds, options, schedule, net):
    """Publishes with libpublisher; (started, ended, marks, stats, fallback events with
    their wall times)."""
    import libpublisher

    publisher = libpublisher.init_publisher({
        "video_source": f"file:{clip}", "audio_source": "synthetic",
        "resolution": "640x480", "frame_rate": 30, **options,
    })
    events = []
    for event in ("video_disable_warning", "video_disable_warning_lifted", "video_disabled",
                  "video_enabled"):
        publisher.on(event, lambda *_, event=event: events.append((time.time(), event)))
    session = libpublisher.init_session(receiver.url(room), {"reconnect_timeout_ms": 30000})

    def start():
        publishing_at = time.time()
        session.publish(publisher)
        return publishing_at

    try:
        session.connect(token=receiver.token)
        return play(schedule, seconds, net, start, lambda: publisher.get_stats()) + (events,)
    finally:
        session.close()
        publisher.close()


def run_aiortc(receiver, room, clip, seconds, schedule, net):
    """Publishes the same clip and a tone with aiortc, in its own process; as `run_ours`."""
    process = subprocess.Popen(
        [sys.executable, str(HERE / "publish_aiortc.py"), receiver.url(room), receiver.token,
         str(seconds + 2), str(clip)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def start():
        # From when the receiver sees it connected: the interpreter takes a second to start.
        deadline = time.time() + 20
        while time.time() < deadline:
            session = next((s for s in receiver.stats().values() if s["room"] == room), None)
            if session and session.get("connected_at"):
                return session["connected_at"]
            if process.poll() is not None:
                raise SystemExit(f"the aiortc publisher failed: {process.stderr.read()[-800:]}")
            time.sleep(0.05)
        process.kill()
        raise SystemExit("the aiortc publisher did not connect within 20 s")

    try:
        return play(schedule, seconds, net, start, lambda: None) + ([],)
    finally:
        process.terminate()
        process.wait(timeout=30)


def back_to_full_size(changes, back_at, full="640x480"):
    """Seconds after `back_at` until the decoded size was full again (0: it never left it
    after), None if it never was."""
    before = [size for at, size in changes if at <= back_at]
    after = [(at, size) for at, size in changes if at > back_at]
    if before and before[-1] == full and not after:
        return 0.0
    for at, size in after:
        if size == full:
            return round(at - back_at, 2)
    return None


def play(schedule, seconds, net, start, stats):
    """Starts publishing (`start` returns when it began) and impairs the link on schedule."""
    started = start()
    print(f"  {started:.2f} publishing", flush=True)
    marks = []
    for at, impairment in schedule:
        delay = started + at - time.time()
        if delay > 0:
            time.sleep(delay)
        impair(net, impairment)
        marks.append((time.time(), impairment))
    time.sleep(max(0.0, started + seconds - time.time()))
    ended = time.time()
    net.restore()
    return started, ended, marks, stats()


def measure(receiver, room, started, ended, marks):
    session = next(s for s in receiver.stats().values() if s["room"] == room)
    times = session["video_frame_times"]
    frozen, longest = freezes(times, started + 3, ended)
    result = {
        "decoded_fps_last_15s": round(len(frames_in(times, ended - 15, ended)) / 15, 1),
        "freeze_s_after_3s": round(frozen, 2),
        "longest_gap_s": round(longest, 2),
        # Gaps over 0.5 s: (seconds after the start, length).
        "gaps": [(round(a - started, 1), round(b - a, 1))
                 for a, b in zip(times, times[1:]) if b - a > 0.5 and a >= started],
        "sizes": session["video_sizes"],
        "audio_frames": session["audio_frames"],
        # aiortc's video jitter buffer: resets and overflows so far, every condition's together.
        "jitter_buffer_so_far": session.get("video_jitter_buffer"),
        "audio_lost_ms_after_3s": sum(
            ms for at, ms in session["audio_gaps"] if started + 3 <= at <= ended),
    }
    if len(marks) > 1:
        step_at = marks[1][0]
        result["step_to_10fps_s"] = first_time_at_rate(times, step_at, ended)
        if len(marks) > 2:
            back_at = marks[2][0]
            result["back_to_10fps_s"] = first_time_at_rate(times, back_at, ended)
            result["back_to_full_size_s"] = back_to_full_size(
                session["video_size_changes"], back_at)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--seconds", type=float, default=24)
    parser.add_argument("--json")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--publishers", nargs="*", default=["libpublisher", "aiortc"],
                        choices=["libpublisher", "aiortc"])
    parser.add_argument("--log", action="store_true", help="print our adaptation's log")
    args = parser.parse_args()
    if args.log:
        import logging

        import libpublisher

        t0 = time.time()

        class Adaptation(logging.Filter):
            def filter(self, record):
                return any(w in record.getMessage() for w in (
                    "estimate", "steps", "receiver report", "REMB", "NACKed", "video ", "fallback",
                    "resending", "stream ", "gave up", "keyframe", "PLI", "skips", "delivered", "copies lost", "outage", "stayed", "waited", "asked", "copies:", "probe", "resent)",
                    "as copy"))

        handler = logging.StreamHandler(sys.stdout)
        handler.addFilter(Adaptation())
        handler.setFormatter(logging.Formatter("  %(created).2f %(message)s"))
        logging.getLogger("libpublisher").addHandler(handler)
        logging.getLogger("libpublisher").setLevel(libpublisher.TRACE)
        libpublisher.set_log_level(libpublisher.TRACE)
        del t0
    if (why := netns.available()) is not None:
        raise SystemExit(why)
    results = {}
    with tempfile.TemporaryDirectory() as tmp, netns.ServerNetwork() as net:
        clip = clips.write_noise_y4m(pathlib.Path(tmp) / "noise.y4m")
        receiver = WhipReceiver(host=net.server_ip, netns=net.name)
        try:
            for name, options, schedule, *length in CONDITIONS:
                if args.only and name not in args.only:
                    continue
                seconds = length[0] if length else args.seconds
                runs = {who: [] for who in args.publishers}
                for round_ in range(args.repeat):
                    for who in args.publishers:
                        room = f"{name}-{who}-{round_}"
                        if who == "libpublisher":
                            started, ended, marks, stats, events = run_ours(
                                receiver, room, clip, seconds, options, schedule, net)
                        else:
                            started, ended, marks, stats, events = run_aiortc(
                                receiver, room, clip, seconds, schedule, net)
                        result = measure(receiver, room, started, ended, marks)
                        if events:
                            result["fallback"] = [(round(at - started, 1), name)
                                                  for at, name in events]
                        result["publisher_stats"] = stats
                        results[room] = result
                        runs[who].append(result)
                        print(f"{name:26} {who:12} " + json.dumps(
                            {k: v for k, v in result.items() if k != "publisher_stats"}),
                            flush=True)
                if args.repeat > 1:
                    for who, these in runs.items():
                        print(f"{name:26} {who:12} {summary(these)}", flush=True)
        finally:
            receiver.close()
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2))


def summary(runs):
    """Each figure of several runs as `median (least–most)`."""
    figures = ["decoded_fps_last_15s", "freeze_s_after_3s", "longest_gap_s",
               "audio_lost_ms_after_3s", "step_to_10fps_s", "back_to_10fps_s",
               "back_to_full_size_s"]
    parts = []
    for figure in figures:
        values = [run[figure] for run in runs if run.get(figure) is not None]
        if values:
            parts.append(f"{figure} {statistics.median(values):g} "
                         f"({min(values):g}–{max(values):g})")
    return f"{len(runs)} runs: " + ", ".join(parts)


if __name__ == "__main__":
    main()
