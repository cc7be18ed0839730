"""A Janus VideoRoom subscriber built on aiortc, for tests: it watches one publisher of a room
and decodes what Janus forwards (VP8/H.264/Opus with aiortc's own decoders), an independent
peer as tests/peers/whip_receiver.py is for WHIP. Usable from synchronous test code: its
asyncio loop runs in a thread of its own.

    with JanusViewer(janus.ws_url, 1234) as viewer:          # tests/peers/janus.py
        stats = viewer.wait_for_frames(30, timeout=10)
        assert viewer.fps_last(2) > 20 and stats["audio_rms"] > 0.01

Without `feed_id` the viewer asks the room for its participants (`listparticipants`) until one
publishes, and watches the first. It joins as a subscriber
(`{"request": "join", "ptype": "subscriber", "room": N, "streams": [{"feed": ID}]}`, with the
room's `pin`), answers Janus's offer and sends `start` with the answer. `stats()` is what it
decoded so far; `switch_substream(n)` asks Janus for another simulcast layer of the video.

`JanusClient` is the Janus API over WebSocket that the viewer speaks, in asyncio: tests use it
to publish from aiortc, or to read Janus's refusals (`JanusError.code`), e.g.

    async with JanusClient(janus.ws_url) as client:
        handle = await client.attach()
        data, jsep = await client.message(handle, {"request": "join", "ptype": "publisher",
                                                   "room": 1234})

`keepalive` goes out every 25 s (Janus ends a session after 60 s without a request). The
`token` and `api_secret` given are put into every request.
"""

import asyncio
import collections
import threading
import time
import uuid

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

#: Decoded video frames whose time and size are kept (a minute at 30 fps).
FRAMES_KEPT = 1800
#: Decoded audio frames whose level is kept (5 s of 20 ms frames).
AUDIO_KEPT = 250


class JanusError(Exception):
    """A refusal: of the Janus core (`{"janus": "error"}`, e.g. 403, 458) or of the plugin
    (`error_code` in its data, e.g. 426, 432, 433)."""

    def __init__(self, code, reason, reply=None):
        super().__init__(f"{code} {reason}")
        self.code, self.reason, self.reply = code, reason, reply


class JanusClient:
    """One Janus session over one WebSocket (`ws_url`, protocol `janus-protocol`)."""

    def __init__(self, ws_url, token=None, api_secret=None, keepalive=25.0):
        self.ws_url, self.token, self.api_secret = ws_url, token, api_secret
        self.keepalive = keepalive
        self.session_id = None
        #: Messages no request waited for (webrtcup, media, hangup, plugin events ...), then
        #: `{"janus": "closed"}` once the WebSocket ended.
        self.events = []
        self._pending = {}
        self._event_added = None
        self._http = self._ws = self._reader = self._keeper = None

    async def open(self, create=True):
        """Connects; with `create`, also creates the session (raises JanusError if refused)."""
        self._event_added = asyncio.Condition()
        self._http = aiohttp.ClientSession()
        try:
            self._ws = await self._http.ws_connect(self.ws_url, protocols=("janus-protocol",),
                                                   autoping=True)
        except BaseException:
            await self._http.close()
            raise
        self._reader = asyncio.ensure_future(self._read())
        if create:
            try:
                await self.create()
            except BaseException:
                await self.close()
                raise
        return self

    async def create(self):
        reply = await self.request({"janus": "create"})
        self.session_id = reply["data"]["id"]
        self._keeper = asyncio.ensure_future(self._keep_alive())
        return self.session_id

    async def _read(self):
        try:
            async for message in self._ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                reply = message.json()
                waiter = self._pending.get(reply.get("transaction"))
                if waiter is not None:
                    future, ack_is_reply = waiter
                    # A plugin message's `ack` only says it was received: its reply follows.
                    if (reply.get("janus") != "ack" or ack_is_reply) and not future.done():
                        future.set_result(reply)
                else:
                    async with self._event_added:
                        self.events.append(reply)
                        self._event_added.notify_all()
        finally:
            for future, _ in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("the Janus WebSocket closed"))
            self._pending.clear()
            async with self._event_added:
                self.events.append({"janus": "closed"})
                self._event_added.notify_all()

    async def _keep_alive(self):
        while True:
            await asyncio.sleep(self.keepalive)
            try:
                await self.request({"janus": "keepalive"})
            except (ConnectionError, JanusError, asyncio.TimeoutError):
                return

    async def request(self, payload, timeout=10.0):
        """Sends a Janus API request (transaction, session, token and secret added) and
        returns its reply: the first one for most requests; for a plugin `message`, the
        `success` or `event` after Janus's `ack`. Raises JanusError on `{"janus": "error"}`."""
        if self._reader is None or self._reader.done():
            raise ConnectionError("the Janus WebSocket is closed")
        request = dict(payload)
        transaction = uuid.uuid4().hex
        request["transaction"] = transaction
        if self.session_id is not None and "session_id" not in request and \
                request["janus"] not in ("create", "info"):
            request["session_id"] = self.session_id
        if self.token is not None:
            request.setdefault("token", self.token)
        if self.api_secret is not None:
            request.setdefault("apisecret", self.api_secret)
        future = asyncio.get_running_loop().create_future()
        ack_is_reply = request["janus"] != "message"
        self._pending[transaction] = (future, ack_is_reply)
        try:
            await self._ws.send_json(request)
            reply = await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(transaction, None)
        if reply.get("janus") == "error":
            error = reply.get("error", {})
            raise JanusError(error.get("code"), error.get("reason"), reply)
        return reply

    async def attach(self, plugin="janus.plugin.videoroom"):
        """Attaches to `plugin`; the handle id."""
        reply = await self.request({"janus": "attach", "plugin": plugin})
        return reply["data"]["id"]

    async def message(self, handle, body, jsep=None, timeout=10.0):
        """Sends `body` (and `jsep`) to the plugin on `handle`; the plugin's data and jsep.
        Raises JanusError when the plugin answers with an `error_code`."""
        request = {"janus": "message", "handle_id": handle, "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        reply = await self.request(request, timeout)
        data = reply.get("plugindata", {}).get("data", {})
        if "error_code" in data:
            raise JanusError(data["error_code"], data.get("error"), reply)
        return data, reply.get("jsep")

    async def wait_event(self, predicate, timeout=10.0):
        """The first unsolicited message (in `events`) satisfying `predicate`."""
        async def find():
            async with self._event_added:
                seen = 0
                while True:
                    for event in self.events[seen:]:
                        if predicate(event):
                            return event
                    seen = len(self.events)
                    await self._event_added.wait()

        return await asyncio.wait_for(find(), timeout)

    async def close(self):
        """Destroys the session (if the server still answers) and closes the WebSocket."""
        if self._keeper is not None:
            self._keeper.cancel()
        if self.session_id is not None and self._reader is not None and not self._reader.done():
            try:
                await self.request({"janus": "destroy"}, timeout=2)
            except (ConnectionError, JanusError, asyncio.TimeoutError):
                pass
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 2)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
        if self._http is not None:
            await self._http.close()

    async def __aenter__(self):
        return await self.open()

    async def __aexit__(self, *exc):
        await self.close()


def rms_level(frame):
    """RMS of a decoded audio frame (aiortc decodes Opus to signed 16-bit), 0..1."""
    samples = frame.to_ndarray().astype("float64") / 32768.0
    return float((samples ** 2).mean() ** 0.5) if samples.size else 0.0


class JanusViewer:
    """A subscriber to `feed_id` (or the room's first publisher) of VideoRoom `room`."""

    def __init__(self, ws_url, room, feed_id=None, pin=None, token=None, api_secret=None,
                 timeout=15.0):
        self.ws_url, self.room, self.feed_id, self.pin = ws_url, room, feed_id, pin
        self.client = JanusClient(ws_url, token=token, api_secret=api_secret)
        self.pc = None
        self.handle = None
        #: The subscription's streams as Janus described them ({"type", "mid", ...}).
        self.streams = []
        self._lock = threading.Lock()
        self._video_times = collections.deque(maxlen=FRAMES_KEPT)
        self._video_sizes = collections.deque(maxlen=FRAMES_KEPT)
        self._video_frames = 0
        self._audio_levels = collections.deque(maxlen=AUDIO_KEPT)
        self._audio_frames = 0
        self._tasks = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="janus-viewer",
                                        daemon=True)
        self._thread.start()
        try:
            self._call(self._start(timeout), timeout + 5)
        except BaseException:
            self.close()
            raise

    def _call(self, coroutine, timeout):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _find_publisher(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            data, _ = await self.client.message(
                self.handle, {"request": "listparticipants", "room": self.room})
            publishers = [p for p in data.get("participants", []) if p.get("publisher")]
            if publishers:
                return publishers[0]["id"]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no publisher in room {self.room} within {timeout} s")
            await asyncio.sleep(0.1)

    async def _start(self, timeout):
        await self.client.open()
        self.handle = await self.client.attach()
        if self.feed_id is None:
            self.feed_id = await self._find_publisher(timeout)
        join = {"request": "join", "ptype": "subscriber", "room": self.room,
                "streams": [{"feed": self.feed_id}]}
        if self.pin is not None:
            join["pin"] = self.pin
        data, offer = await self.client.message(self.handle, join, timeout=timeout)
        self.streams = data.get("streams", [])
        self.pc = RTCPeerConnection()
        self.pc.on("track", self._on_track)
        await self.pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], offer["type"]))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        answer = {"type": "answer", "sdp": self.pc.localDescription.sdp}
        await self.client.message(self.handle, {"request": "start", "room": self.room},
                                  jsep=answer, timeout=timeout)

    def _on_track(self, track):
        consume = self._consume_video if track.kind == "video" else self._consume_audio
        self._tasks.append(asyncio.ensure_future(consume(track)))

    async def _consume_video(self, track):
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            with self._lock:
                self._video_frames += 1
                self._video_times.append(time.time())
                self._video_sizes.append((frame.width, frame.height))

    async def _consume_audio(self, track):
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            level = rms_level(frame)
            with self._lock:
                self._audio_frames += 1
                self._audio_levels.append(level)

    def stats(self):
        """What was decoded so far: `video_frames`, the wall-clock times (`time.time()`) and
        (width, height) of the latest 1800 frames (`video_frame_times`, `video_sizes`), the
        latest size (`video_size`, or None), `audio_frames`, and `audio_rms`, the RMS (0..1) of
        the latest second of decoded audio (the latest 50 frames)."""
        with self._lock:
            levels = list(self._audio_levels)[-50:]
            return {
                "video_frames": self._video_frames,
                "video_frame_times": list(self._video_times),
                "video_sizes": list(self._video_sizes),
                "video_size": self._video_sizes[-1] if self._video_sizes else None,
                "audio_frames": self._audio_frames,
                "audio_rms": (sum(l * l for l in levels) / len(levels)) ** 0.5 if levels else 0.0,
            }

    def fps_last(self, seconds):
        """Decoded video frames per second over the last `seconds`."""
        since = time.time() - seconds
        with self._lock:
            return sum(1 for t in self._video_times if t >= since) / seconds

    def wait_for(self, predicate, timeout, what="condition"):
        """Polls the stats until `predicate(stats)` holds; the stats. Raises TimeoutError
        (with the stats) if it did not in time."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if predicate(stats):
                return stats
            if time.monotonic() > deadline:
                summary = {k: stats[k] for k in ("video_frames", "video_size", "audio_frames",
                                                  "audio_rms")}
                raise TimeoutError(f"no {what} within {timeout} s: {summary}")
            time.sleep(0.05)

    def wait_for_frames(self, count, timeout=10.0):
        """Waits until `count` video frames were decoded in all; the stats."""
        return self.wait_for(lambda s: s["video_frames"] >= count, timeout,
                             f"{count} decoded video frames")

    def wait_for_audio(self, level=0.01, timeout=10.0):
        """Waits until the latest second of audio is at least `level` (RMS); the stats."""
        return self.wait_for(lambda s: s["audio_rms"] >= level, timeout,
                             f"audio at RMS {level}")

    def video_mid(self):
        """The mid of the subscription's video stream (from Janus's `attached` event)."""
        for stream in self.streams:
            if stream.get("type") == "video":
                return stream.get("mid")
        return None

    def switch_substream(self, substream, temporal=None):
        """Asks Janus for simulcast layer `substream` (0 lowest .. 2) of the video (and
        `temporal` layer); Janus's reply data. Janus switches at the layer's next keyframe."""
        stream = {"mid": self.video_mid(), "substream": substream}
        if temporal is not None:
            stream["temporal"] = temporal
        data, _ = self._call(self.client.message(
            self.handle, {"request": "configure", "streams": [stream]}), 15)
        return data

    def events(self):
        """The unsolicited Janus messages so far (webrtcup, media, slowlink, hangup, events of
        the plugin such as the publisher leaving)."""
        return list(self.client.events)

    def close(self):
        if self._loop.is_closed():
            return

        async def stop():
            for task in self._tasks:
                task.cancel()
            if self.pc is not None:
                await self.pc.close()
            await self.client.close()

        if self._thread.is_alive():
            try:
                self._call(stop(), 10)
            except Exception:
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._loop.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
