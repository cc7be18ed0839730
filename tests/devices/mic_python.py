"""Captures the default microphone through the Python binding, reports its audio levels, and
publishes it to a WHIP URL for a few seconds; prints one JSON line. Run with the virtual
microphone's environment (tests/peers/virtual_mic.py)."""

import json
import sys
import time

import libpublisher


def main(url, token, seconds):
    events, levels = [], []
    publisher = libpublisher.init_publisher(
        {"video_source": None, "audio_source": "default"},
        on={
            "access_allowed": lambda: events.append("accessAllowed"),
            "stream_created": lambda _id: events.append("streamCreated"),
            "stream_destroyed": lambda reason: events.append(f"streamDestroyed:{reason.name}"),
            "media_stopped": lambda kind: events.append(f"mediaStopped:{kind}"),
            "audio_level_updated": levels.append,
        },
    )
    # A second of levels before publishing: the test counts how many came in it.
    time.sleep(1.0)
    before_publish = len(levels)
    with libpublisher.init_session(url) as session:
        session.connect(token=token)
        session.publish(publisher)
        time.sleep(seconds)  # publishes for the time asked
        stats = publisher.get_stats()
        session.unpublish(publisher)
        session.disconnect()
    publisher.close()
    print(json.dumps({
        "events": events,
        "levels_before_publish": before_publish,
        "levels": len(levels),
        "mean_level": sum(levels) / len(levels) if levels else 0.0,
        "audio_packets_sent": stats["audio_packets_sent"],
    }), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
