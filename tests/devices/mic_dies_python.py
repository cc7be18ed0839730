"""Publishes the default microphone from Python and reports what happens when the device
dies: prints PUBLISHING once media flows, then one JSON line with the publisher's events and
the session's state after the stream ended. Run with the virtual microphone's environment."""

import json
import sys
import threading

import libpublisher


def main(url, token):
    events = []
    ended = threading.Event()

    def destroyed(reason):
        events.append(f"streamDestroyed:{reason.name}")
        ended.set()

    publisher = libpublisher.init_publisher(
        {"video_source": None, "audio_source": "default"},
        on={
            "stream_created": lambda _id: events.append("streamCreated"),
            "media_stopped": lambda kind: events.append(f"mediaStopped:{kind}"),
            "stream_destroyed": destroyed,
        },
    )
    session = libpublisher.init_session(url)
    session.on("session_disconnected", lambda reason: events.append("sessionDisconnected"))
    session.connect(token=token)
    session.publish(publisher)
    print("PUBLISHING", flush=True)
    ended.wait(15)
    state_after = session.state
    try:
        session.publish(publisher)
        again = "published"
    except libpublisher.Error as e:
        again = f"{e.code} {e.name}"
    session.disconnect()
    session.close()
    publisher.close()
    print(json.dumps({"events": events, "session_state": state_after, "publish_again": again}),
          flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
