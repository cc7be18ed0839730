"""One benchmark run of an aiortc publisher, the reference: the same synthetic 720p30 moving
pattern and 440 Hz tone, a WHIP POST to the same endpoint, then one JSON line shaped like
publish_ours.py's. "created" is when aiortc's connection reaches `connected` (media can flow),
which is when libpublisher completes publish() and emits streamCreated.

    publish_aiortc.py URL TOKEN SECONDS [CLIP.y4m]

With a Y4M clip (4:2:0, as tests/peers/clips.py writes them) it publishes that, looped at
its own frame rate and size, instead of the pattern (bench_adaptation.py)."""

import asyncio
import fractions
import json
import math
import resource
import sys
import time

import aiohttp
import numpy
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from av import AudioFrame, VideoFrame

WIDTH, HEIGHT, FPS = 1280, 720, 30


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class PatternTrack(MediaStreamTrack):
    """A moving luma ramp in I420, paced at FPS, like libpublisher's synthetic camera."""

    kind = "video"

    def __init__(self):
        super().__init__()
        self.count = 0
        self.start = None
        self.ramp = numpy.tile(numpy.arange(WIDTH, dtype=numpy.uint8), (HEIGHT, 1))

    async def recv(self):
        if self.start is None:
            self.start = time.monotonic()
        due = self.start + self.count / FPS
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        planes = numpy.full((HEIGHT * 3 // 2, WIDTH), 128, dtype=numpy.uint8)
        planes[:HEIGHT] = numpy.roll(self.ramp, self.count * 4, axis=1)
        frame = VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.pts = self.count * (90000 // FPS)
        frame.time_base = fractions.Fraction(1, 90000)
        self.count += 1
        return frame


class ClipTrack(MediaStreamTrack):
    """A Y4M clip's frames, looped, paced at its frame rate."""

    kind = "video"

    def __init__(self, path):
        super().__init__()
        data = open(path, "rb").read()
        header, _, body = data.partition(b"\n")
        fields = {f[:1]: f[1:] for f in header.split()[1:]}
        self.width, self.height = int(fields[b"W"]), int(fields[b"H"])
        num, den = fields[b"F"].split(b":")
        self.fps = int(num) / int(den)
        size = self.width * self.height * 3 // 2
        self.frames = [numpy.frombuffer(chunk[:size], dtype=numpy.uint8)
                       for chunk in body.split(b"FRAME\n")[1:]]
        self.count = 0
        self.start = None

    async def recv(self):
        if self.start is None:
            self.start = time.monotonic()
        due = self.start + self.count / self.fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        planes = self.frames[self.count % len(self.frames)]
        frame = VideoFrame.from_ndarray(
            planes.reshape(self.height * 3 // 2, self.width), format="yuv420p")
        frame.pts = int(self.count * 90000 / self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        self.count += 1
        return frame


class ToneTrack(MediaStreamTrack):
    """A 440 Hz tone in 20 ms frames at 48 kHz, paced."""

    kind = "audio"

    def __init__(self):
        super().__init__()
        self.count = 0
        self.start = None

    async def recv(self):
        if self.start is None:
            self.start = time.monotonic()
        due = self.start + self.count * 0.02
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        n = 960
        t = (numpy.arange(n) + self.count * n) / 48000
        samples = (numpy.sin(2 * math.pi * 440 * t) * 8000).astype(numpy.int16)
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = self.count * n
        frame.time_base = fractions.Fraction(1, 48000)
        self.count += 1
        return frame


async def main(url, token, seconds, clip=None):
    pc = RTCPeerConnection()
    connected = asyncio.Event()
    created_at = []

    @pc.on("connectionstatechange")
    def on_state():
        if pc.connectionState == "connected" and not connected.is_set():
            created_at.append(time.time())
            connected.set()

    video = ClipTrack(clip) if clip else PatternTrack()
    cpu_before = cpu_seconds()
    publish_at = time.time()
    pc.addTrack(ToneTrack())
    pc.addTrack(video)
    await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession() as http:
        headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"}
        async with http.post(url, data=pc.localDescription.sdp, headers=headers) as response:
            if response.status != 201:
                raise SystemExit(f"the WHIP endpoint answered {response.status}")
            answer = await response.text()
            location = response.headers.get("Location")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await asyncio.wait_for(connected.wait(), 10)
        await asyncio.sleep(seconds)
        cpu = cpu_seconds() - cpu_before
        published = time.time() - publish_at
        if location:
            await http.delete(url.split("/whip/")[0] + location)
    await pc.close()
    print(json.dumps({
        "publish_at": publish_at,
        "created_at": created_at[0] if created_at else None,
        "cpu_s": cpu,
        "published_s": published,
        "frames_sent": video.count,
    }), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), *sys.argv[4:5]))
