"""One benchmark run of libpublisher (through its Python binding): publish synthetic 720p30
video and a tone to a WHIP endpoint for a few seconds, then print one JSON line with the wall
clock at publish(), at streamCreated, and the CPU seconds this process used while publishing."""

import json
import resource
import sys
import threading
import time

import libpublisher


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(url, token, seconds):
    publisher = libpublisher.init_publisher(
        {"video_source": "synthetic", "audio_source": "synthetic", "resolution": "1280x720",
         "frame_rate": 30}
    )
    created = threading.Event()
    created_at = []

    def on_created(_stream_id):
        created_at.append(time.time())
        created.set()

    publisher.on("stream_created", on_created)
    with libpublisher.init_session(url) as session:
        session.connect(token=token)
        cpu_before = cpu_seconds()
        publish_at = time.time()
        session.publish(publisher)
        created.wait(10)
        time.sleep(seconds)
        cpu = cpu_seconds() - cpu_before
        published = time.time() - publish_at
        frames = publisher.get_stats()["video_frames_sent"]
        session.unpublish(publisher)
        session.disconnect()
    publisher.close()
    print(json.dumps({
        "publish_at": publish_at,
        "created_at": created_at[0] if created_at else None,
        "cpu_s": cpu,
        "published_s": published,
        "frames_sent": frames,
    }), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
