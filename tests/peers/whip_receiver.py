"""A WHIP receiver (RFC 9725) built on aiortc, for tests: it answers offers, decodes the
received VP8/H.264/Opus with aiortc's own decoders (PyAV/libvpx/ffmpeg), and reports what it
decoded. It is an independent peer: nothing in it comes from libpublisher.

    python whip_receiver.py [--port 0] [--token SECRET] [--host 127.0.0.1] [--link LINK]...

Prints `LISTENING <port>` once ready. Endpoints:
- `POST /whip/<room>` (Authorization: Bearer <token>): 201 + Location + SDP answer.
  Rooms named after a fault behave badly on purpose: `garbage` (201 with a body that is not
  SDP), `nolocation` (201 without Location), `busy` (503), `slow` (never answers, not even
  the connect probe), `slowpost` (answers the probe, never the offer), `postreject` and
  `postbusy` (answer the probe, refuse the offer with 422 / 503),
  `reject` (400).  Any other room name works; `missing` gives 404; `pli` also asks for a
  keyframe (RTCP PLI) every second, as a receiver that keeps losing its reference would;
  `pliflood…` (any room whose name starts so) asks for one every millisecond, and
  `nackflood…` every millisecond NACKs the latest 64 video packets it received (RTCP floods:
  a broken or hostile receiver);
  `vp8only` is a server that decodes no other video codec: it rejects (port 0) a video
  section that does not offer VP8 and answers the rest; `elsewhere` names its resource on
  another origin (`http://localhost:<port>/…`, the same server under another host name).
- `OPTIONS /whip/<room>`: the same auth and room checks, without media (connect probes).
  With `--link`, both OPTIONS and POST answers carry those `Link` headers (ICE servers);
  with `--links-with-answer-only` too, only the POST answers do.
- `PATCH /whip/resource/<id>` (`application/trickle-ice-sdpfrag`, `If-Match: "*"`): an ICE
  restart (RFC 9725 section 4.4.2): 200 with the receiver's new credentials and candidates.
  In the room `norestart` the answer is 405, as from a server without ICE restarts.
- `DELETE /whip/resource/<id>`: ends the session.
- `GET /stats`: JSON of every session: decoded video frames with their sizes and the
  wall-clock times (`time.time()`) of the latest 1800 (`video_frame_times`), the NACKs the
  receiver sent and the packets they listed (`nacks_sent`, `nacked_packets`), audio frames,
  the video codec the answer settled on (`video_codec`: "VP8", "H264" or null), the mean
  Y, U and V of every 10th decoded video frame (`video_yuv`, the latest 100) and of its left
  and right parts (`video_halves`, the latest: [[Y, U, V] left, [Y, U, V] right]), the types of
  the candidates the offer carried (`offer_candidates`: "host", "srflx", "relay" ...), the
  codec, feedback and SSRC-group lines of the offer's and the answer's video sections
  (`offer_video_lines`, `answer_video_lines`), and the
  ICE restarts done (`ice_restarts`) or refused (`ice_restarts_refused`, room `norestart`).
- `GET /held`: how many offers the `slow`/`slowpost` rooms received and hold unanswered
  (`{"posts": N}`), so that a test knows an offer is under way.

aiortc has no ICE restart of its own; `restart_ice` below restarts its ICE agent (aioice) in
place: new credentials, the offerer's new candidates, the checks run again, DTLS and SRTP go
on over the new pair.
"""

import argparse
import asyncio
import json
import logging
import os
import sys
import time
import uuid

from aiohttp import web
from aioice import Candidate
from aioice.utils import random_string
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc import jitterbuffer
from aiortc.mediastreams import MediaStreamError
from aiortc.utils import uint16_add
import numpy

SESSIONS = {}
#: Offers received by the rooms that never answer them.
HELD = {"posts": 0}
FAULTS = {"busy": 503, "reject": 400, "missing": 404}
# Rooms that pass the connect probe and refuse the offer itself.
POST_FAULTS = {"postreject": 422, "postbusy": 503}


#: Decoded video frame times kept per session (a minute at 30 fps).
FRAME_TIMES_KEPT = 1800


def count_nacks(send_rtcp_nack):
    """Wraps aiortc's `RTCRtpReceiver._send_rtcp_nack` to count the NACKs each receiver sends
    (in the stats of its session, `_lp_stats`, set when the session starts)."""

    async def wrapped(self, media_ssrc, lost):
        stats = getattr(self, "_lp_stats", None)
        if stats is not None:
            stats["nacks_sent"] += 1
            stats["nacked_packets"] += len(lost)
        await send_rtcp_nack(self, media_ssrc, lost)

    return wrapped


RTCRtpReceiver._send_rtcp_nack = count_nacks(RTCRtpReceiver._send_rtcp_nack)


def check_auth(request, token):
    if token is None:
        return None
    header = request.headers.get("Authorization", "")
    if header != f"Bearer {token}":
        return web.Response(status=401, text="bad token")
    return None


def video_ssrc(offer):
    """The SSRC of the offer's video section."""
    in_video = False
    for line in offer.splitlines():
        if line.startswith("m="):
            in_video = line.startswith("m=video")
        elif in_video and line.startswith("a=ssrc:"):
            return int(line.split(":")[1].split()[0])
    return None


def rms_level(frame):
    """RMS of a decoded audio frame (aiortc decodes Opus to signed 16-bit), 0..1."""
    samples = frame.to_ndarray().astype("float64") / 32768.0
    return float((samples ** 2).mean() ** 0.5) if samples.size else 0.0


def answered_video_codec(answer):
    """The video codec an answer settled on: the encoding name of its video section's first
    payload type (aiortc answers with the common codecs in the offer's order), or None."""
    in_video, first_pt, names = False, None, {}
    for line in answer.splitlines():
        if line.startswith("m="):
            in_video = line.startswith("m=video")
            if in_video:
                fields = line.split()
                first_pt = fields[3] if len(fields) > 3 and fields[1] != "0" else None
        elif in_video and line.startswith("a=rtpmap:"):
            pt, encoding = line[len("a=rtpmap:"):].split(" ", 1)
            names[pt] = encoding.split("/")[0]
    return names.get(first_pt)


def video_codec_lines(sdp):
    """The codec, feedback and SSRC-group lines of an SDP's video section (`a=rtpmap`,
    `a=fmtp`, `a=rtcp-fb`, `a=ssrc-group`): what NACK and RTX need."""
    in_video, lines = False, []
    for line in sdp.splitlines():
        if line.startswith("m="):
            in_video = line.startswith("m=video")
        elif in_video and line.startswith(("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:", "a=ssrc-group:")):
            lines.append(line)
    return lines


def candidate_types(sdp):
    """The type of each `a=candidate` line of an SDP, in order (RFC 8839: `typ TYPE`)."""
    types = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            fields = line.split()
            if "typ" in fields[:-1]:
                types.append(fields[fields.index("typ") + 1])
    return types


def sdp_sections(sdp):
    """The session-level lines and the list of media sections (each a list of lines)."""
    session, sections = [], []
    for line in sdp.splitlines():
        if line.startswith("m="):
            sections.append([line])
        elif line:
            (sections[-1] if sections else session).append(line)
    return session, sections


def sdp_join(session, sections):
    return "\r\n".join(session + [line for section in sections for line in section]) + "\r\n"


def offers_codec(section, name):
    return any(
        line.startswith("a=rtpmap:") and line.split(" ", 1)[1].split("/")[0].lower() == name.lower()
        for line in section
    )


async def answer_vp8_only(pc, offer):
    """Answers as a server without any video codec but VP8: a video section offering no VP8
    is rejected (RFC 3264 section 6: port 0, and out of the BUNDLE group); aiortc answers the
    others."""
    session, sections = sdp_sections(offer)
    rejected = {}
    for i, section in enumerate(sections):
        if section[0].startswith("m=video") and not offers_codec(section, "VP8"):
            mid = next((l[len("a=mid:"):] for l in section if l.startswith("a=mid:")), None)
            fields = section[0].split()
            rejected[i] = [f"m=video 0 {fields[2]} {fields[3]}", "c=IN IP4 0.0.0.0"] + (
                [f"a=mid:{mid}"] if mid is not None else []
            )
    kept = [s for i, s in enumerate(sections) if i not in rejected]
    mids = {l[len("a=mid:"):] for i in rejected for l in rejected[i] if l.startswith("a=mid:")}

    def unbundle(lines):
        return [
            " ".join(w for w in l.split() if w not in mids) if l.startswith("a=group:BUNDLE") else l
            for l in lines
        ]

    await pc.setRemoteDescription(
        RTCSessionDescription(sdp=sdp_join(unbundle(session), kept), type="offer")
    )
    await pc.setLocalDescription(await pc.createAnswer())
    a_session, a_sections = sdp_sections(pc.localDescription.sdp)
    for i in sorted(rejected):
        a_sections.insert(i, rejected[i])
    return sdp_join(a_session, a_sections)


async def ask_for_keyframes(pc, ssrc, stats):
    """Sends a PLI every second while connected (aiortc's own PLI path, used on loss)."""
    while pc.connectionState not in ("closed", "failed"):
        await asyncio.sleep(1)
        for receiver in pc.getReceivers():
            if receiver.track and receiver.track.kind == "video" and pc.connectionState == "connected":
                await receiver._send_rtcp_pli(ssrc)
                stats["plis_sent"] += 1


def note_newest(handle_rtp_packet):
    """Wraps aiortc's `RTCRtpReceiver._handle_rtp_packet` to keep the newest sequence number
    received on each SSRC (`_lp_newest`), for the NACK flood."""

    async def wrapped(self, packet, arrival_time_ms):
        newest = getattr(self, "_lp_newest", None)
        if newest is None:
            newest = self._lp_newest = {}
        newest[packet.ssrc] = packet.sequence_number
        if JITTER_LOG.isEnabledFor(logging.DEBUG):
            # Every copy that arrives on a known retransmission stream, before aiortc counts
            # it, unwraps it or drops it (one under 2 bytes goes without a word).
            rtx = getattr(self, "_RTCRtpReceiver__rtx_ssrc", {})
            if packet.ssrc in rtx:
                original = (int.from_bytes(packet.payload[:2], "big")
                            if len(packet.payload) >= 2 else None)
                JITTER_LOG.debug("copy %d of %s, %d bytes", packet.sequence_number, original,
                                 len(packet.payload))
        await handle_rtp_packet(self, packet, arrival_time_ms)

    return wrapped


RTCRtpReceiver._handle_rtp_packet = note_newest(RTCRtpReceiver._handle_rtp_packet)


async def flood_rtcp(pc, ssrc, stats, what):
    """Every millisecond while connected: a PLI (`what` "pli"), or a NACK for the latest 64
    video packets received ("nack"), each counted in the stats (`plis_sent`,
    `nacks_sent`)."""
    while pc.connectionState not in ("closed", "failed"):
        await asyncio.sleep(0.001)
        if pc.connectionState != "connected":
            continue
        for receiver in pc.getReceivers():
            if not (receiver.track and receiver.track.kind == "video"):
                continue
            if what == "pli":
                await receiver._send_rtcp_pli(ssrc)
                stats["plis_sent"] += 1
            else:
                newest = getattr(receiver, "_lp_newest", {}).get(ssrc)
                if newest is not None:
                    # Ascending, and not across the wrap: aiortc packs no other list.
                    lost = [newest - i for i in range(min(63, newest), -1, -1)]
                    await receiver._send_rtcp_nack(ssrc, lost)


def mean_yuv(frame):
    """The mean Y, U and V of a decoded video frame: which colour the sender sent."""
    planes = frame.to_ndarray(format="yuv420p")  # Y rows, then U, then V (w/2 x h/2 each)
    h = frame.height
    return [
        round(float(plane.mean()), 1)
        for plane in (planes[:h], planes[h : h + h // 4], planes[h + h // 4 :])
    ]


def halves_yuv(frame):
    """The mean Y, U and V of the left and of the right part of a decoded frame (each its
    outer 40 %, clear of the middle): where the sender's colours lie."""
    frame = frame.reformat(format="yuv420p")

    def samples(plane):
        rows = numpy.frombuffer(bytes(plane), numpy.uint8).reshape(-1, plane.line_size)
        return rows[: plane.height, : plane.width]

    y, u, v = (samples(plane) for plane in frame.planes)

    def part(plane, left):
        width = plane.shape[1]
        edge = int(width * 0.4)
        cols = plane[:, :edge] if left else plane[:, width - edge :]
        return round(float(cols.mean()), 1)

    return [[part(p, left) for p in (y, u, v)] for left in (True, False)]


#: What aiortc's video jitter buffers did, all sessions of this receiver together: `resets`,
#: a packet far behind where the buffer is (it starts over from that packet, and waits for
#: what follows it), and `overflows`, a packet 512 ahead of a gap it waited for (it drops
#: the frames before and asks for a keyframe). Reported in every session's stats as
#: `video_jitter_buffer`.
JITTER_BUFFER = {"resets": 0, "overflows": 0}
_jitter_add = jitterbuffer.JitterBuffer.add


def _counted_add(self, packet):
    if self._is_video and JITTER_LOG.isEnabledFor(logging.DEBUG):
        # Packets that come after a later one (repairs, mostly), with where the buffer is.
        highest = getattr(self, "_lp_highest", None)
        if highest is not None and uint16_add(highest, -packet.sequence_number) < 0x8000:
            JITTER_LOG.debug("behind %d, waiting from %s", packet.sequence_number, self._origin)
        else:
            self._lp_highest = packet.sequence_number
    if self._is_video and self._origin is not None:
        delta = uint16_add(packet.sequence_number, -self._origin)
        misorder = uint16_add(self._origin, -packet.sequence_number)
        if misorder < delta and misorder >= jitterbuffer.MAX_MISORDER:
            JITTER_BUFFER["resets"] += 1
        elif misorder < delta:
            JITTER_LOG.debug("late %d, waiting from %d", packet.sequence_number, self._origin)
        elif delta >= self.capacity:
            JITTER_BUFFER["overflows"] += 1
            if JITTER_LOG.isEnabledFor(logging.DEBUG):
                holes = [uint16_add(self._origin, i) for i in range(self.capacity)
                         if self._packets[uint16_add(self._origin, i) % self.capacity] is None]
                JITTER_LOG.debug("overflow at %d, waiting from %d, first missing %s",
                                 packet.sequence_number, self._origin, holes[:8])
    return _jitter_add(self, packet)


#: Where WHIP_RECEIVER_JITTER_LOG's file gets which packets a video jitter buffer waited for
#: when it overflowed (our skips ahead overflow it too, by design), every copy that arrived
#: on a retransmission stream, packets that came after a later one (repairs) and those that
#: came after it had moved past them (duplicate copies, mostly); `main` routes aiortc's own
#: drops there too.
#: Off unless the variable names a file.
JITTER_LOG = logging.getLogger("whip_receiver.jitter")
JITTER_LOG.setLevel(logging.WARNING)
JITTER_LOG.propagate = False


jitterbuffer.JitterBuffer.add = _counted_add


async def consume(track, stats):
    kind = track.kind
    first_pts = None
    audio_end = None
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        if kind == "video":
            if stats["video_frames"] == 0:
                stats["first_video_at"] = time.time()
                first_pts = frame.pts
            if frame.pts is not None and first_pts is not None:
                # Media time the decoded frames span, from their RTP timestamps.
                stats["video_media_seconds"] = float((frame.pts - first_pts) * frame.time_base)
            stats["video_frames"] += 1
            stats["video_frame_times"] = (
                stats["video_frame_times"] + [round(time.time(), 4)]
            )[-FRAME_TIMES_KEPT:]
            if getattr(frame, "key_frame", False):
                stats["video_keyframes"] += 1
            size = f"{frame.width}x{frame.height}"
            stats["video_sizes"][size] = stats["video_sizes"].get(size, 0) + 1
            changes = stats["video_size_changes"]
            if not changes or changes[-1][1] != size:
                # When the decoded size changed: (time, "WxH"), the last 100.
                stats["video_size_changes"] = (changes + [(round(time.time(), 4), size)])[-100:]
            if stats["video_frames"] % 10 == 1:
                stats["video_yuv"] = (stats["video_yuv"] + [mean_yuv(frame)])[-100:]
                stats["video_halves"] = halves_yuv(frame)
        else:
            if audio_end is not None and frame.pts is not None and frame.sample_rate:
                # Timestamps count samples: what lies between the last frame's end and this
                # one's start never decoded.
                skipped = frame.pts - audio_end
                if skipped > frame.samples // 2:
                    gap = [round(time.time(), 3), round(1000 * skipped / frame.sample_rate)]
                    stats["audio_gaps"] = (stats["audio_gaps"] + [gap])[-100:]
            if frame.pts is not None:
                audio_end = frame.pts + frame.samples
            stats["audio_frames"] += 1
            stats["audio_samples"] += frame.samples
            stats["audio_rate"] = frame.sample_rate
            stats["audio_level"] = rms_level(frame)


def parse_fragment(fragment):
    """ICE username fragment, password and candidates of an SDP fragment (RFC 8840)."""
    ufrag = pwd = None
    candidates = []
    for line in fragment.splitlines():
        line = line.strip()
        if line.startswith("a=ice-ufrag:"):
            ufrag = line[len("a=ice-ufrag:"):]
        elif line.startswith("a=ice-pwd:"):
            pwd = line[len("a=ice-pwd:"):]
        elif line.startswith("a=candidate:"):
            candidates.append(Candidate.from_sdp(line[len("a=candidate:"):]))
    return ufrag, pwd, candidates


async def restart_ice(pc, ufrag, pwd, candidates):
    """Restarts the ICE agent of `pc` (bundled: one for every section) in place with the
    remote side's new credentials and candidates; returns the new local fragment."""
    ice = pc.getTransceivers()[0].receiver.transport.transport
    conn = ice._connection

    async def recv():
        # aioice refuses to receive while no pair is nominated, which is so during the
        # restart's checks; the datagrams go to the same queue all along.
        item = await conn._queue.get()
        if item is None:
            raise ConnectionError("Connection lost while receiving data")
        return item[0]

    ice._recv = recv
    if conn._query_consent_task is not None:
        conn._query_consent_task.cancel()
        conn._query_consent_task = None
    for pair in conn._check_list:
        if pair.task is not None:
            pair.task.cancel()
    conn._local_username, conn._local_password = random_string(4), random_string(22)
    conn.remote_username, conn.remote_password = ufrag, pwd
    conn._check_list = []
    conn._check_list_done = False
    conn._check_list_state = asyncio.Queue()
    conn._nominated = {}
    conn._nominating = set()
    conn._remote_candidates = []
    conn._remote_candidates_end = False
    conn._early_checks.clear()
    conn._early_checks_done = False
    for candidate in candidates:
        await conn.add_remote_candidate(candidate)
    await conn.add_remote_candidate(None)

    async def checks():
        try:
            await conn.connect()
        except ConnectionError:
            pass  # the offerer may restart again

    asyncio.ensure_future(checks())
    lines = [f"a=ice-ufrag:{conn.local_username}", f"a=ice-pwd:{conn.local_password}"]
    lines += [f"a=candidate:{c.to_sdp()}" for c in conn.local_candidates]
    lines.append("a=end-of-candidates")
    return "\r\n".join(lines) + "\r\n"


def link_headers(links):
    """`Link` headers for the ICE servers the endpoint advertises (RFC 9725 section 4.6)."""
    from multidict import CIMultiDict

    return CIMultiDict(("Link", link) for link in links)


def make_app(token, links=(), probe_links=True):
    async def options(request):
        room = request.match_info["room"]
        denied = check_auth(request, token)
        if denied:
            return denied
        if room in FAULTS:
            return web.Response(status=FAULTS[room])
        if room == "slow":
            await asyncio.sleep(3600)
        return web.Response(status=204, headers=link_headers(links if probe_links else ()))

    async def post(request):
        room = request.match_info["room"]
        denied = check_auth(request, token)
        if denied:
            return denied
        if room in FAULTS:
            return web.Response(status=FAULTS[room], text=f"{room}")
        if room in POST_FAULTS:
            return web.Response(status=POST_FAULTS[room], text=f"{room}")
        if room in ("slow", "slowpost"):
            HELD["posts"] += 1
            await asyncio.sleep(3600)
        offer = await request.text()
        if room == "garbage":
            return web.Response(
                status=201,
                text="this is not SDP",
                content_type="application/sdp",
                headers={"Location": "/whip/resource/garbage"},
            )
        pc = RTCPeerConnection()
        rid = uuid.uuid4().hex[:12]
        stats = {
            "room": room,
            "video_frames": 0,
            "video_sizes": {},
            "video_size_changes": [],
            "video_frame_times": [],
            "nacks_sent": 0,
            "nacked_packets": 0,
            "audio_frames": 0,
            "audio_gaps": [],
            "audio_samples": 0,
            "audio_rate": 0,
            # Mean [Y, U, V] of every 10th decoded video frame, the latest 100.
            "video_yuv": [],
            "video_halves": None,
            # RMS of the latest decoded audio frame, 0..1 (a full-scale sine is 0.707).
            "audio_level": 0.0,
            # Whether the publisher DELETEd its resource (state may read "closed" after).
            "deleted": False,
            "state": "new",
            "plis_sent": 0,
            "video_keyframes": 0,
            "video_codec": None,
            "offer_candidates": candidate_types(offer),
            # Wall-clock times (time.time()) for benchmarks on the same machine.
            "offer_at": time.time(),
            "first_video_at": None,
            "connected_at": None,
            "video_media_seconds": 0.0,
            "ice_restarts": 0,
            "ice_restarts_refused": 0,
        }
        SESSIONS[rid] = (pc, stats)

        @pc.on("track")
        def on_track(track):
            asyncio.ensure_future(consume(track, stats))

        @pc.on("connectionstatechange")
        def on_state():
            stats["state"] = pc.connectionState
            if pc.connectionState == "connected" and stats["connected_at"] is None:
                stats["connected_at"] = time.time()

        if room == "pli":
            ssrc = video_ssrc(offer)
            if ssrc is not None:
                asyncio.ensure_future(ask_for_keyframes(pc, ssrc, stats))
        if room.startswith(("pliflood", "nackflood")):
            ssrc = video_ssrc(offer)
            if ssrc is not None:
                what = "pli" if room.startswith("pli") else "nack"
                asyncio.ensure_future(flood_rtcp(pc, ssrc, stats, what))
        if room == "vp8only":
            answer = await answer_vp8_only(pc, offer)
        else:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            answer = pc.localDescription.sdp
        stats["video_codec"] = answered_video_codec(answer)
        stats["offer_video_lines"] = video_codec_lines(offer)
        stats["answer_video_lines"] = video_codec_lines(answer)
        for receiver in pc.getReceivers():
            receiver._lp_stats = stats
        headers = link_headers(links)
        headers["Content-Type"] = "application/sdp"
        if room == "elsewhere":
            # The same server under another host name: a resource on another origin.
            port = request.transport.get_extra_info("sockname")[1]
            headers["Location"] = f"http://localhost:{port}/whip/resource/{rid}"
        elif room != "nolocation":
            headers["Location"] = f"/whip/resource/{rid}"
        return web.Response(status=201, text=answer, headers=headers)

    async def delete(request):
        rid = request.match_info["rid"]
        entry = SESSIONS.get(rid)
        if entry is None:
            return web.Response(status=404)
        pc, stats = entry
        stats["state"] = "deleted"
        stats["deleted"] = True
        await pc.close()
        return web.Response(status=200)

    async def patch(request):
        rid = request.match_info["rid"]
        denied = check_auth(request, token)
        if denied:
            return denied
        entry = SESSIONS.get(rid)
        if entry is None or entry[1]["deleted"]:
            return web.Response(status=404)
        pc, stats = entry
        if stats["room"] == "norestart":
            stats["ice_restarts_refused"] += 1
            return web.Response(status=405, headers={"Allow": "DELETE"})
        if request.content_type != "application/trickle-ice-sdpfrag":
            return web.Response(status=415)
        if request.headers.get("If-Match") != '"*"':
            return web.Response(status=428, text="an ICE restart needs If-Match: \"*\"")
        ufrag, pwd, candidates = parse_fragment(await request.text())
        if not ufrag or not pwd:
            return web.Response(status=400, text="no ICE credentials")
        answer = await restart_ice(pc, ufrag, pwd, candidates)
        stats["ice_restarts"] += 1
        return web.Response(
            status=200,
            text=answer,
            headers={
                "Content-Type": "application/trickle-ice-sdpfrag",
                "ETag": f'"{rid}-{stats["ice_restarts"]}"',
            },
        )

    async def stats(request):
        return web.json_response(
            {rid: {**s, "video_jitter_buffer": JITTER_BUFFER} for rid, (_, s) in SESSIONS.items()}
        )

    async def held(request):
        return web.json_response(HELD)

    app = web.Application()
    app.router.add_route("OPTIONS", "/whip/{room}", options)
    app.router.add_post("/whip/{room}", post)
    app.router.add_delete("/whip/resource/{rid}", delete)
    app.router.add_patch("/whip/resource/{rid}", patch)
    app.router.add_get("/stats", stats)
    app.router.add_get("/held", held)
    return app


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=None)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--link", action="append", default=[],
                        help='a Link header to advertise, e.g. \'<turn:h:3478>; rel="ice-server"\'')
    parser.add_argument("--links-with-answer-only", action="store_true",
                        help="advertise the links in the 201 answer only, not to OPTIONS")
    args = parser.parse_args()
    if os.environ.get("WHIP_RECEIVER_DEBUG"):
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    if path := os.environ.get("WHIP_RECEIVER_JITTER_LOG"):
        # With the jitter buffers' log, the packets aiortc counts in its reports and then drops
        # before its jitter buffer (an RTX packet of an unknown SSRC, a payload it cannot
        # parse). Wall-clock time, as in the benchmark's `--log`.
        handler = logging.FileHandler(path)
        handler.addFilter(
            lambda record: record.name == JITTER_LOG.name or ") x " in record.getMessage())
        handler.setFormatter(logging.Formatter("%(created).2f %(message)s"))
        for log in (JITTER_LOG, logging.getLogger("aiortc.rtcrtpreceiver")):
            log.addHandler(handler)
            log.setLevel(logging.DEBUG)
    runner = web.AppRunner(make_app(args.token, args.link, not args.links_with_answer_only))
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"LISTENING {port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
