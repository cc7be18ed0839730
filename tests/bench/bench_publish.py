"""Benchmark: libpublisher against an aiortc publisher, side by side, publishing the same
synthetic 720p30 video and tone to the same aiortc WHIP receiver (tests/peers), one process
tree. Each round runs both publishers one after the other (alternating who goes first), each
in its own process so its CPU time is its own. Reports medians and ratios (ours / aiortc):

- publish → connected: from the publish call to the receiver's connection being up (ICE and
  DTLS), as the receiver sees it, for both alike;
- publish → created: from the publish call to streamCreated (ours) / `connected` (aiortc);
- publish → first decoded frame: to the receiver decoding the first video frame;
- CPU seconds per published second at 720p30, and frames decoded per second.

    .venv/bin/python tests/bench/bench_publish.py [--rounds 5] [--seconds 5] [--json PATH]

Numbers, not assertions: a run fails only if a publisher fails to publish.
"""

import argparse
import json
import pathlib
import statistics
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from peers.receiver import WhipReceiver  # noqa: E402

PUBLISHERS = {"libpublisher": "publish_ours.py", "aiortc": "publish_aiortc.py"}


def run_one(receiver, name, room, seconds):
    script = HERE / PUBLISHERS[name]
    out = subprocess.run(
        [sys.executable, str(script), receiver.url(room), receiver.token, str(seconds)],
        capture_output=True, text=True, timeout=60 + seconds,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"{name} failed ({out.returncode}): {out.stderr.strip()[-800:]}")
    run = json.loads(lines[-1])
    session = next(s for s in receiver.stats().values() if s["room"] == room)
    first = session.get("first_video_at")
    connected = session.get("connected_at")
    return {
        "to_connected_ms": (connected - run["publish_at"]) * 1000 if connected else None,
        "to_created_ms": (run["created_at"] - run["publish_at"]) * 1000,
        "to_first_frame_ms": (first - run["publish_at"]) * 1000 if first else None,
        "cpu_per_published_s": run["cpu_s"] / run["published_s"],
        "decoded_fps": session["video_frames"] / run["published_s"],
        "sizes": session["video_sizes"],
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()

    receiver = WhipReceiver()
    runs = {name: [] for name in PUBLISHERS}
    try:
        for i in range(args.rounds):
            order = list(PUBLISHERS) if i % 2 == 0 else list(reversed(PUBLISHERS))
            for name in order:
                result = run_one(receiver, name, f"bench-{name}-{i}", args.seconds)
                runs[name].append(result)
                print(f"round {i + 1} {name:12} "
                      f"connected {result['to_connected_ms'] or float('nan'):7.1f} ms, "
                      f"created {result['to_created_ms']:7.1f} ms, "
                      f"first frame {result['to_first_frame_ms'] or float('nan'):7.1f} ms, "
                      f"CPU {result['cpu_per_published_s']:.3f} s/s, "
                      f"decoded {result['decoded_fps']:.1f} fps", flush=True)
    finally:
        receiver.close()

    metrics = ["to_connected_ms", "to_created_ms", "to_first_frame_ms", "cpu_per_published_s",
               "decoded_fps"]
    medians = {
        name: {m: statistics.median(r[m] for r in rs if r[m] is not None) for m in metrics}
        for name, rs in runs.items()
    }
    print(f"\nmedians of {args.rounds} rounds, {args.seconds:g} s each, 1280x720 at 30 fps")
    print(f"{'':24}{'libpublisher':>14}{'aiortc':>12}{'ratio':>9}")
    for m in metrics:
        ours, theirs = medians["libpublisher"][m], medians["aiortc"][m]
        print(f"{m:24}{ours:14.3f}{theirs:12.3f}{ours / theirs:9.2f}")
    if args.json:
        path = pathlib.Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"medians": medians, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
