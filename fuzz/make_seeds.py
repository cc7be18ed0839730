#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz/corpus/: SDP answers as aiortc and Janus write them,
WHIP 201 headers, ICE URLs, Janus URLs and messages, Y4M and WAV files (valid and broken)
and RTCP as receivers send it. Run from fuzz/; the fuzzers' own finds are added to the
corpus by scripts/fuzz --merge."""

import json
import os
import struct

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)


def crlf(lines):
    return "".join(line + "\r\n" for line in lines)


FINGERPRINT = ":".join(["7B", "3E", "A1", "09"] * 8)
AIORTC_ANSWER = crlf([
    "v=0",
    "o=- 3910000000 3910000000 IN IP4 0.0.0.0",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0 1",
    "a=msid-semantic:WMS *",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
    "c=IN IP4 0.0.0.0",
    "a=recvonly",
    "a=mid:0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=rtcp-mux",
    "a=rtcp-fb:96 nack",
    "a=rtcp-fb:96 nack pli",
    "a=rtcp-fb:96 goog-remb",
    "a=rtpmap:96 VP8/90000",
    "a=rtpmap:97 rtx/90000",
    "a=fmtp:97 apt=96",
    "a=candidate:8a1b0bd0e2b3c4d5 1 udp 2130706431 127.0.0.1 51234 typ host",
    "a=candidate:3c6f4e2a11aa22bb 1 udp 1694498815 203.0.113.7 51234 typ srflx raddr 10.0.0.2 rport 51234",
    "a=end-of-candidates",
    "a=ice-ufrag:Yq3u",
    "a=ice-pwd:6vJ1c0XxWmH3m1q2oZ0bPt",
    "a=fingerprint:sha-256 " + FINGERPRINT,
    "a=setup:active",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "c=IN IP4 0.0.0.0",
    "a=recvonly",
    "a=mid:1",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2",
    "a=candidate:8a1b0bd0e2b3c4d5 1 udp 2130706431 127.0.0.1 51234 typ host",
    "a=end-of-candidates",
    "a=ice-ufrag:Yq3u",
    "a=ice-pwd:6vJ1c0XxWmH3m1q2oZ0bPt",
    "a=fingerprint:sha-256 " + FINGERPRINT,
    "a=setup:active",
])
JANUS_ANSWER = crlf([
    "v=0",
    "o=- 1701345678901234 1 IN IP4 127.0.0.1",
    "s=VideoRoom 1234",
    "t=0 0",
    "a=group:BUNDLE 0 1",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 " + FINGERPRINT,
    "a=extmap-allow-mixed",
    "a=msid-semantic: WMS *",
    "m=video 9 UDP/TLS/RTP/SAVPF 102 103",
    "c=IN IP4 127.0.0.1",
    "a=recvonly",
    "a=mid:0",
    "a=rtcp-mux",
    "a=ice-ufrag:kA9v",
    "a=ice-pwd:0u8Ne6ZJbS9nG5hQ2cR1xT",
    "a=ice-options:trickle",
    "a=setup:active",
    "a=rtpmap:102 H264/90000",
    "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
    "a=rtcp-fb:102 ccm fir",
    "a=rtcp-fb:102 nack",
    "a=rtcp-fb:102 nack pli",
    "a=rtcp-fb:102 goog-remb",
    "a=rtcp-fb:102 transport-cc",
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "a=rtpmap:103 rtx/90000",
    "a=fmtp:103 apt=102",
    "a=rid:f recv",
    "a=rid:h recv",
    "a=rid:q recv",
    "a=simulcast:recv f;h;q",
    "a=candidate:1 1 udp 2015363327 127.0.0.1 20123 typ host",
    "a=end-of-candidates",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "c=IN IP4 127.0.0.1",
    "a=recvonly",
    "a=mid:1",
    "a=rtcp-mux",
    "a=ice-ufrag:kA9v",
    "a=ice-pwd:0u8Ne6ZJbS9nG5hQ2cR1xT",
    "a=ice-options:trickle",
    "a=setup:active",
    "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 useinbandfec=1",
    "a=candidate:1 1 udp 2015363327 127.0.0.1 20123 typ host",
    "a=end-of-candidates",
])
NO_MEDIA = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"


def whip(name, endpoint, headers, body):
    put("whip_answer", name, endpoint + "\r\n" + crlf([f"{k}: {v}" for k, v in headers]) + "\r\n" + body)


def whip_seeds():
    sdp = ("Content-Type", "application/sdp")
    whip("aiortc", "http://127.0.0.1:8080/whip/room1",
         [("Location", "/whip/resource/5f1e"), sdp], AIORTC_ANSWER)
    whip("janus-simulcast", "https://whip.example.net/whip/endpoint/1234",
         [("Location", "https://media-3.example.net:8443/resource/abc"),
          ("Content-Type", "application/sdp; charset=utf-8"),
          ("ETag", '"xyzzy-1"'),
          ("Link", '<stun:stun.example.net:3478>; rel="ice-server"'),
          ("Link", '<turn:turn.example.net:3478?transport=udp>; rel="ice-server"; '
                   'username="1701:alice"; credential="c3VwZXJzZWNyZXQ="; credential-type="password", '
                   '<turns:[2001:db8::7]:5349>; rel="ice-server"; username="u"; credential="p"')],
         JANUS_ANSWER)
    whip("no-media", "http://127.0.0.1:8080/whip/nomedia",
         [("Location", "/whip/resource/nomedia"), sdp], NO_MEDIA)
    whip("badtype", "http://127.0.0.1:8080/whip/badtype",
         [("Location", "/whip/resource/x"), ("Content-Type", "text/html")], AIORTC_ANSWER)
    whip("nolocation", "http://127.0.0.1:8080/whip/nolocation", [sdp], AIORTC_ANSWER)
    whip("downgrade", "https://a.example/whip/ep",
         [("Location", "http://a.example/whip/resource/4"), sdp], AIORTC_ANSWER)
    whip("notsdp", "http://127.0.0.1:8080/whip/notsdp",
         [("Location", "/whip/resource/y"), sdp], "<html><body>Hello</body></html>")
    rejected = AIORTC_ANSWER.replace("m=video 9 ", "m=video 0 ")
    whip("rejected-video", "http://[::1]:8080/whip/r",
         [("Location", "../resource/../r2?x=1#f"), sdp], rejected)


def ice_seeds():
    for i, text in enumerate([
        "stun:stun.l.google.com:19302",
        "stun:[::1]",
        "turn:turn.example.com:3478?transport=tcp\nalice\nsecret",
        "turn:10.0.0.1?transport=udp\nuser\n",
        "turns:[2001:db8::1]:5349\nu\np",
        "TURNS:Turn.Example.COM?Transport=TCP\nu\np",
        "stun://stun.example.net",
        "stuns:stun.example.net:5349",
        "turn:host:0\nu\np",
        "stun:host:99999",
        "turns:x?transport=udp\nu\np",
        "ftp:example.net",
    ]):
        put("ice_url", f"seed-{i:02}", text)


def janus_seeds():
    url = "janus+ws://127.0.0.1:8188/janus?room=1234&pin=s3cret\n"
    for name, text in {
        "create": '{"janus":"success","transaction":"t1","data":{"id":8516461325465466}}',
        "ack": '{"janus":"ack","session_id":8516461325465466,"transaction":"t2"}',
        "joined": '{"janus":"event","session_id":1,"transaction":"t1","sender":2,"plugindata":'
                  '{"plugin":"janus.plugin.videoroom","data":{"videoroom":"joined","room":1234,'
                  '"description":"Demo Room","id":5712314427354893,"private_id":1,"publishers":[]}}}',
        "answer": '{"janus":"event","session_id":1,"transaction":"t1","sender":2,"plugindata":'
                  '{"plugin":"janus.plugin.videoroom","data":{"videoroom":"event","room":1234,'
                  '"configured":"ok","audio_codec":"opus","video_codec":"vp8"}},"jsep":{"type":'
                  '"answer","sdp":' + json.dumps(JANUS_ANSWER) + '}}',
        "no-room": '{"janus":"success","session_id":1,"transaction":"t1","sender":2,"plugindata":'
                   '{"plugin":"janus.plugin.videoroom","data":{"videoroom":"event",'
                   '"error_code":426,"error":"No such room (1234)"}}}',
        "unauthorized": '{"janus":"error","transaction":"t1","error":{"code":403,"reason":"Unauthorized request (wrong or missing secret/token)"}}',
        "webrtcup": '{"janus":"webrtcup","session_id":1,"sender":2}',
        "slowlink": '{"janus":"slowlink","session_id":1,"sender":2,"mid":"0","media":"video","uplink":true,"lost":27}',
        "hangup": '{"janus":"hangup","session_id":1,"sender":2,"reason":"DTLS alert"}',
        "exists": '{"janus":"success","session_id":1,"transaction":"t1","sender":2,"plugindata":'
                  '{"plugin":"janus.plugin.videoroom","data":{"videoroom":"success","room":1234,"exists":true}}}',
    }.items():
        put("janus", name, url + text)
    put("janus", "wss-url", "janus+wss://[::1]:8989/ws?pin=a%20b&room=7\n{}")
    put("janus", "no-room-url", "janus+ws://janus.example.net/?pin=1\nnull")


def y4m(w, h, params, frames, chroma=True, body=None):
    head = f"YUV4MPEG2 W{w} H{h} {params}".rstrip() + "\n"
    size = w * h + (2 * ((w + 1) // 2) * ((h + 1) // 2) if chroma else 0)
    data = head.encode()
    for i in range(frames):
        data += b"FRAME\n" + (body if body is not None else bytes((i * 7 + j) % 256 for j in range(size)))
    return data


def y4m_seeds():
    put("y4m", "420jpeg", y4m(4, 2, "F30:1 Ip A1:1 C420jpeg XYSCSS=420JPEG", 2))
    put("y4m", "mono", y4m(3, 3, "F25:1 Cmono", 1, chroma=False))
    put("y4m", "no-rate", y4m(6, 4, "C420", 1))
    put("y4m", "ntsc", y4m(2, 2, "F30000:1001 It A10:11", 3))
    put("y4m", "cut-short", y4m(4, 4, "F30:1", 1)[:-5])
    put("y4m", "c444", y4m(2, 2, "F30:1 C444", 1))
    put("y4m", "no-width", b"YUV4MPEG2 H2 F30:1\nFRAME\n" + bytes(6))
    put("y4m", "bad-rate", b"YUV4MPEG2 W2 H2 F1000:1\nFRAME\n" + bytes(6))
    put("y4m", "frame-params", b"YUV4MPEG2 W2 H2\nFRAME Ixyz\n" + bytes(6) + b"FRAM")


def wav(tag, channels, rate, bits, data, sub_tag=None, extra=b""):
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    if tag == 0xFFFE:
        guid = struct.pack("<H", sub_tag) + bytes.fromhex("000000001000800000aa00389b71")
        fmt += struct.pack("<HHI", 22, bits, 3 if channels == 2 else 4) + guid
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
    chunks += b"data" + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def wav_seeds():
    pcm = struct.pack("<8h", 0, 1000, -1000, 32767, -32768, 5, 6, 7)
    floats = struct.pack("<6f", 0.0, 0.5, -0.5, 1.5, float("nan"), float("inf"))
    put("wav", "pcm16-mono-8k", wav(1, 1, 8000, 16, pcm))
    put("wav", "pcm16-stereo-44k1", wav(1, 2, 44100, 16, pcm))
    put("wav", "float-stereo-48k", wav(3, 2, 48000, 32, floats))
    put("wav", "extensible-pcm", wav(0xFFFE, 2, 96000, 16, pcm, sub_tag=1))
    put("wav", "list-chunk", wav(1, 1, 16000, 16, pcm, extra=b"LIST\x05\x00\x00\x00INFOx\x00"))
    put("wav", "pcm24", wav(1, 1, 48000, 24, bytes(9)))
    put("wav", "streamed-size", wav(1, 1, 8000, 16, pcm)[:40] + b"\xff\xff\xff\xff" + pcm)
    put("wav", "truncated", wav(1, 1, 8000, 16, pcm)[:30])
    data_first = b"RIFF\x24\x00\x00\x00WAVEdata\x04\x00\x00\x00\x01\x00\x02\x00"
    put("wav", "data-before-fmt", data_first)


# RTCP as receivers send it (RFC 3550, 4585, 5104, draft-alvestrand-rmcat-remb,
# draft-holmer-rmcat-transport-wide-cc-extensions).
RECEIVER, VIDEO, RTX, AUDIO = 0x5EED0001, 1, 2, 3


def block(ssrc, fraction, lost, highest, jitter=12, lsr=0, dlsr=0):
    return struct.pack(">IB", ssrc, fraction) + lost.to_bytes(3, "big") + struct.pack(">IIII", highest, jitter, lsr, dlsr)


def rr(*blocks):
    body = struct.pack(">I", RECEIVER) + b"".join(blocks)
    return struct.pack(">BBH", 0x80 | len(blocks), 201, len(body) // 4) + body


def sr(ssrc, ntp, rtp_ts, packets, octets, *blocks):
    body = struct.pack(">IQIII", ssrc, ntp, rtp_ts, packets, octets) + b"".join(blocks)
    return struct.pack(">BBH", 0x80 | len(blocks), 200, len(body) // 4) + body


def sdes(cname):
    item = b"\x01" + bytes([len(cname)]) + cname
    chunk = struct.pack(">I", RECEIVER) + item + b"\0"
    chunk += b"\0" * (-len(chunk) % 4)
    return struct.pack(">BBH", 0x81, 202, len(chunk) // 4) + chunk


def nack(media, pid, blp):
    return struct.pack(">BBHIIHH", 0x81, 205, 3, RECEIVER, media, pid, blp)


def pli(media):
    return struct.pack(">BBHII", 0x81, 206, 2, RECEIVER, media)


def fir(media, seq):
    return struct.pack(">BBHIIIB3x", 0x84, 206, 4, RECEIVER, 0, media, seq)


def remb(bps, *ssrcs):
    exp = 0
    while bps >= 1 << 18:
        bps >>= 1
        exp += 1
    body = struct.pack(">II", RECEIVER, 0) + b"REMB" + bytes([len(ssrcs)])
    body += ((exp << 18) | bps).to_bytes(3, "big") + b"".join(struct.pack(">I", s) for s in ssrcs)
    return struct.pack(">BBH", 0x8F, 206, len(body) // 4) + body


def twcc(base, count, deltas):
    # One run-length chunk (all received, small deltas), then one byte per delta.
    body = struct.pack(">IIHH", RECEIVER, VIDEO, base, count) + (1000).to_bytes(3, "big") + b"\x00"
    body += struct.pack(">H", 0x2000 | count) + bytes(deltas)
    body += b"\0" * (-len(body) % 4)
    return struct.pack(">BBH", 0x8F, 205, len(body) // 4) + body


def bye():
    return struct.pack(">BBHI", 0x81, 203, 1, RECEIVER)


def record(tag, body):
    return bytes([tag]) + struct.pack(">H", len(body)) + body


def send(stream, count, size=1000, skip=0):
    return record(3, bytes([stream, count]) + struct.pack(">H", size) + bytes([skip]))


def wait(ms):
    return record(4, struct.pack(">H", ms))


def rtcp_seeds():
    ntp = 0xE7A1B2C3_40000000
    warmup = send(0, 100) + send(2, 20, 80) + wait(20)
    put("rtcp_feedback", "rr-sdes", warmup + record(2, sr(VIDEO, ntp, 90000, 100, 100000))
        + wait(30) + record(0, rr(block(VIDEO, 0, 0, 100, lsr=(ntp >> 16) & 0xFFFFFFFF, dlsr=655))
                         + sdes(b"aiortc-receiver")) + record(5, b""))
    put("rtcp_feedback", "loss", warmup + b"".join(
        send(0, 50) + wait(100) + record(0, rr(block(VIDEO, 64, 20 * i, 100 + 50 * i), block(AUDIO, 0, 0, 20)))
        + record(5, b"") for i in range(1, 6)))
    put("rtcp_feedback", "nack", warmup + record(0, nack(VIDEO, 40, 0b1010_0000_0000_0101))
        + wait(10) + send(1, 3, skip=0) + record(0, nack(VIDEO, 40, 0)) + wait(200) + record(0, nack(VIDEO, 95, 0xFFFF)))
    put("rtcp_feedback", "pli-fir", warmup + record(0, rr(block(VIDEO, 0, 0, 100)) + pli(VIDEO))
        + record(0, fir(VIDEO, 1)) + record(5, b""))
    put("rtcp_feedback", "remb", warmup + record(0, rr() + remb(350_000, VIDEO, AUDIO)) + wait(500)
        + record(0, remb(5_000_000, VIDEO)) + record(5, b""))
    put("rtcp_feedback", "twcc", warmup + record(1, struct.pack(">I", 640) + twcc(0, 8, [4] * 8)) + wait(50)
        + record(1, struct.pack(">I", 50) + twcc(8, 8, [100] * 8)))
    put("rtcp_feedback", "outage", warmup + wait(60000) + record(0, rr(block(VIDEO, 255, 5000, 400)))
        + wait(100) + record(0, nack(VIDEO, 1, 0xFFFF) + nack(VIDEO, 17, 0xFFFF)) + record(5, b""))
    put("rtcp_feedback", "sr-from-receiver", warmup + record(0, sr(RECEIVER, ntp, 1, 2, 3, block(VIDEO, 1, 1, 99)) + bye()))


if __name__ == "__main__":
    whip_seeds()
    ice_seeds()
    janus_seeds()
    y4m_seeds()
    wav_seeds()
    rtcp_seeds()
