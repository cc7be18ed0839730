"""A WHIP receiver (RFC 9725) built on aiortc, for tests: it answers offers, decodes the
received VP8/H.264/Opus with aiortc's own decoders (PyAV/libvpx/ffmpeg), and reports what it
decoded. It is an independent peer: nothing in it comes from libpublisher.

    python whip_receiver.py [--port 0] [--token SECRET]

Prints `LISTENING <port>` once ready. Endpoints:
- `POST /whip/<room>` (Authorization: Bearer <token>): 201 + Location + SDP answer.
  Rooms named after a fault behave badly on purpose: `garbage` (201 with a body that is not
  SDP), `nolocation` (201 without Location), `busy` (503), `slow` (never answers, not even
  the connect probe), `slowpost` (answers the probe, never the offer),
  `reject` (400).  Any other room name works; `missing` gives 404; `pli` also asks for a
  keyframe (RTCP PLI) every second, as a receiver that keeps losing its reference would.
- `OPTIONS /whip/<room>`: the same auth and room checks, without media (connect probes).
- `DELETE /whip/resource/<id>`: ends the session.
- `GET /stats`: JSON of every session: decoded video frames with their sizes, audio frames.
"""

import argparse
import asyncio
import json
import sys
import uuid

from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

SESSIONS = {}
FAULTS = {"busy": 503, "reject": 400, "missing": 404}


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


async def ask_for_keyframes(pc, ssrc, stats):
    """Sends a PLI every second while connected (aiortc's own PLI path, used on loss)."""
    while pc.connectionState not in ("closed", "failed"):
        await asyncio.sleep(1)
        for receiver in pc.getReceivers():
            if receiver.track and receiver.track.kind == "video" and pc.connectionState == "connected":
                await receiver._send_rtcp_pli(ssrc)
                stats["plis_sent"] += 1


async def consume(track, stats):
    kind = track.kind
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        if kind == "video":
            stats["video_frames"] += 1
            if getattr(frame, "key_frame", False):
                stats["video_keyframes"] += 1
            stats["video_sizes"][f"{frame.width}x{frame.height}"] = (
                stats["video_sizes"].get(f"{frame.width}x{frame.height}", 0) + 1
            )
        else:
            stats["audio_frames"] += 1
            stats["audio_samples"] += frame.samples
            stats["audio_rate"] = frame.sample_rate


def make_app(token):
    async def options(request):
        room = request.match_info["room"]
        denied = check_auth(request, token)
        if denied:
            return denied
        if room in FAULTS:
            return web.Response(status=FAULTS[room])
        if room == "slow":
            await asyncio.sleep(3600)
        return web.Response(status=204)

    async def post(request):
        room = request.match_info["room"]
        denied = check_auth(request, token)
        if denied:
            return denied
        if room in FAULTS:
            return web.Response(status=FAULTS[room], text=f"{room}")
        if room in ("slow", "slowpost"):
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
            "audio_frames": 0,
            "audio_samples": 0,
            "audio_rate": 0,
            "state": "new",
            "plis_sent": 0,
            "video_keyframes": 0,
        }
        SESSIONS[rid] = (pc, stats)

        @pc.on("track")
        def on_track(track):
            asyncio.ensure_future(consume(track, stats))

        @pc.on("connectionstatechange")
        def on_state():
            stats["state"] = pc.connectionState

        if room == "pli":
            ssrc = video_ssrc(offer)
            if ssrc is not None:
                asyncio.ensure_future(ask_for_keyframes(pc, ssrc, stats))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        headers = {"Content-Type": "application/sdp"}
        if room != "nolocation":
            headers["Location"] = f"/whip/resource/{rid}"
        return web.Response(status=201, text=pc.localDescription.sdp, headers=headers)

    async def delete(request):
        rid = request.match_info["rid"]
        entry = SESSIONS.get(rid)
        if entry is None:
            return web.Response(status=404)
        pc, stats = entry
        stats["state"] = "deleted"
        await pc.close()
        return web.Response(status=200)

    async def stats(request):
        return web.json_response({rid: s for rid, (_, s) in SESSIONS.items()})

    app = web.Application()
    app.router.add_route("OPTIONS", "/whip/{room}", options)
    app.router.add_post("/whip/{room}", post)
    app.router.add_delete("/whip/resource/{rid}", delete)
    app.router.add_get("/stats", stats)
    return app


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=None)
    args = parser.parse_args()
    runner = web.AppRunner(make_app(args.token))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"LISTENING {port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
