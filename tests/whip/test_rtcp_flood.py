"""RTCP floods from a broken or hostile receiver (the aiortc WHIP receiver's `pliflood` and
`nackflood` rooms), published to from Python:

- a PLI every millisecond: keyframes are capped at one per 0.3 s (plus the periodic one every
  3 s), not one a frame, and video and audio go on;
- a NACK every millisecond for the latest 64 packets: retransmission stays within its share
  of the estimate (a quarter, plus a quarter second of the whole estimate saved up), and video
  and audio go on.

Each case prints its figures (`-s` shows them)."""

import resource
import time

import pytest

import libpublisher
from conftest import session_stats, wait_until

#: How long each flood is measured.
SECONDS = 6.0
#: The publisher's rules (core: session/keyframe.rs, session/retransmit.rs).
KEYFRAME_SPACING = 0.3
PERIODIC_KEYFRAME = 3.0
RESEND_SHARE = 0.25
RESEND_SAVED = 0.25
#: How old the transport counters in the stats may be.
STATS_AGE = 1.0


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def publish(receiver, room, **options):
    publisher = libpublisher.init_publisher({
        "video_source": "synthetic", "audio_source": "synthetic", "resolution": "640x480",
        "frame_rate": 30, **options,
    })
    session = libpublisher.init_session(receiver.url(room))
    session.connect(token=receiver.token)
    session.publish(publisher)
    assert wait_until(lambda: session_stats(receiver, room)["video_frames"] >= 30, 20), \
        session_stats(receiver, room)
    return session, publisher


def decoded_fps(stats, start, end):
    return len([t for t in stats["video_frame_times"] if start <= t <= end]) / (end - start)


@pytest.mark.parametrize("codec", ["VP8", "H264"])
def test_a_pli_every_millisecond_gives_a_keyframe_every_300_ms(receiver, codec):
    room = f"pliflood-{codec}"
    session, publisher = publish(receiver, room, video_codec=codec)
    try:
        before, asked_before = publisher.get_stats(), session_stats(receiver, room)
        started_at, cpu_before = time.time(), cpu_seconds()
        time.sleep(SECONDS)
        ended_at, cpu = time.time(), cpu_seconds() - cpu_before
        after, asked = publisher.get_stats(), session_stats(receiver, room)
    finally:
        session.close()
        publisher.close()
    keyframes = after["video_keyframes_sent"] - before["video_keyframes_sent"]
    frames = after["video_frames_sent"] - before["video_frames_sent"]
    plis = asked["plis_sent"] - asked_before["plis_sent"]
    fps = decoded_fps(asked, started_at + 0.5, ended_at)
    audio = asked["audio_frames"] - asked_before["audio_frames"]
    print(f"\n{room}: {plis} PLIs in {SECONDS} s; {keyframes} keyframes of {frames} frames sent; "
          f"receiver decoded {fps:.1f} fps, {audio} audio frames; publisher CPU {cpu:.1f} s")
    assert plis >= 200 * SECONDS, "the flood did not happen"
    # Every frame a keyframe without the cap (about 180 here).
    assert keyframes <= SECONDS / KEYFRAME_SPACING + SECONDS / PERIODIC_KEYFRAME + 2, keyframes
    # ...and requests are honoured, not dropped.
    assert keyframes >= SECONDS / KEYFRAME_SPACING - 2, keyframes
    assert fps >= 20, fps
    assert audio >= 0.8 * 50 * SECONDS, audio


def test_a_nack_flood_is_answered_within_the_retransmission_budget(receiver):
    session, publisher = publish(receiver, "nackflood")
    try:
        before, asked_before = publisher.get_stats(), session_stats(receiver, "nackflood")
        started_at, cpu_before = time.time(), cpu_seconds()
        # The budget follows the estimate: its highest bounds it.
        highest = before["available_outgoing_bitrate_bps"]
        while time.time() < started_at + SECONDS:
            time.sleep(0.25)
            highest = max(highest, publisher.get_stats()["available_outgoing_bitrate_bps"])
        ended_at, cpu = time.time(), cpu_seconds() - cpu_before
        after, asked = publisher.get_stats(), session_stats(receiver, "nackflood")
    finally:
        session.close()
        publisher.close()
    resent = after["retransmitted_bytes_sent"] - before["retransmitted_bytes_sent"]
    sent = after["bytes_sent"] - before["bytes_sent"]
    nacked = asked["nacked_packets"] - asked_before["nacked_packets"]
    fps = decoded_fps(asked, started_at + 0.5, ended_at)
    audio = asked["audio_frames"] - asked_before["audio_frames"]
    # The budget: a share of the estimate over time, plus what may be saved up (the counters
    # are up to a second old at each end). Answered in full, the flood would have each packet
    # resent up to 4 times: about 4 times what was sent.
    bound = 1.1 * highest / 8 * (RESEND_SHARE * (SECONDS + STATS_AGE) + RESEND_SAVED)
    print(f"\nnackflood: receiver asked for {nacked} packets in {SECONDS} s; we resent "
          f"{resent} bytes ({after['retransmitted_packets_sent'] - before['retransmitted_packets_sent']}"
          f" packets) of {sent} sent, budget {bound:.0f} bytes (estimate up to "
          f"{highest // 1000} kbit/s); receiver decoded {fps:.1f} fps, {audio} audio frames; "
          f"publisher CPU {cpu:.1f} s")
    assert nacked >= 64 * 200 * SECONDS, "the flood did not happen"
    assert 0 < resent <= bound, (resent, bound)
    # Video goes on, if worse: the flood reads as loss, and packets it keeps asking for are
    # given up and skipped.
    assert fps >= 10, fps
    assert audio >= 0.8 * 50 * SECONDS, audio
