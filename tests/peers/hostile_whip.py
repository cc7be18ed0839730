"""A hostile WHIP server, for tests: it speaks just enough HTTP/1.1 (by hand, on asyncio streams,
so that it can send what no framework would) to answer the connect probe and then misbehave on
the offer. It has no WebRTC at all.

    python hostile_whip.py [--host 127.0.0.1] [--tls]

Prints `LISTENING <port>` once ready. With `--tls` it serves HTTPS with a fresh self-signed
certificate that no client trusts. `OPTIONS /whip/<room>` answers 204 (the connect probe
passes) except in `silent`; `DELETE` of anything answers 200. `POST /whip/<room>`:
- `notsdp`: 201 + Location, `application/sdp`, an HTML page;
- `nomedia`: 201 + Location, SDP with no media section;
- `huge`: 201 + Location, a 50 MB SDP-looking body with its Content-Length;
  `hugechunked`: the same, chunked;
- `drip`: 201 + Location, a body of 4000 bytes sent one byte a second;
- `loop`: 307 back to itself, forever;
- `nolocation`: 201 with SDP and no Location;
- `badtype`: 201 + Location, SDP sent as `text/html`;
- `silent`: reads the request and never answers (also the probe): a server that accepted the
  TCP connection and went quiet.
"""

import argparse
import asyncio
import os
import ssl
import subprocess
import sys
import tempfile

NO_MEDIA_SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
)
HUGE = 50 * 1024 * 1024


def head(status, headers=(), length=None):
    lines = [f"HTTP/1.1 {status}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def simple(status, headers=(), body=b""):
    return head(status, headers, len(body)) + body


async def read_request(reader):
    header = await reader.readuntil(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return method, path


async def hold(reader):
    """Keeps the connection open, saying nothing, until the client goes."""
    while await reader.read(65536):
        pass


async def send_huge(writer, chunked):
    first = b"v=0\r\n"
    line = b"a=x-filler:" + b"x" * 1013 + b"\r\n"  # 1 KiB lines
    if chunked:
        writer.write(head("201 Created", [("Location", "/whip/resource/huge"),
                                           ("Content-Type", "application/sdp"),
                                           ("Transfer-Encoding", "chunked")]))
    else:
        writer.write(head("201 Created", [("Location", "/whip/resource/huge"),
                                           ("Content-Type", "application/sdp")], HUGE))
    sent, block = 0, first + line * 64
    while sent < HUGE:
        piece = block[: HUGE - sent]
        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        sent += len(piece)
        await writer.drain()
    if chunked:
        writer.write(b"0\r\n\r\n")
        await writer.drain()


async def drip(writer):
    body = (NO_MEDIA_SDP * 100)[:4000].encode()
    writer.write(head("201 Created", [("Location", "/whip/resource/drip"),
                                       ("Content-Type", "application/sdp")], len(body)))
    await writer.drain()
    for i in range(len(body)):
        writer.write(body[i:i + 1])
        await writer.drain()
        await asyncio.sleep(1)


async def post(room, writer):
    resource = [("Location", f"/whip/resource/{room}")]
    sdp = [("Content-Type", "application/sdp")]
    if room == "notsdp":
        writer.write(simple("201 Created", resource + sdp,
                            b"<html><body>Welcome to our streaming platform</body></html>"))
    elif room == "nomedia":
        writer.write(simple("201 Created", resource + sdp, NO_MEDIA_SDP.encode()))
    elif room in ("huge", "hugechunked"):
        await send_huge(writer, chunked=room == "hugechunked")
    elif room == "drip":
        await drip(writer)
    elif room == "loop":
        writer.write(simple("307 Temporary Redirect", [("Location", "/whip/loop")]))
    elif room == "nolocation":
        writer.write(simple("201 Created", sdp, NO_MEDIA_SDP.encode()))
    elif room == "badtype":
        writer.write(simple("201 Created", resource + [("Content-Type", "text/html")],
                            NO_MEDIA_SDP.encode()))
    else:
        writer.write(simple("404 Not Found"))


async def handle(reader, writer):
    try:
        method, path = await read_request(reader)
        room = path.rsplit("/", 1)[-1]
        if room == "silent":
            await hold(reader)
        elif method == "OPTIONS" and path.startswith("/whip/"):
            writer.write(simple("204 No Content"))
        elif method == "POST" and path.startswith("/whip/"):
            await post(room, writer)
        elif method == "DELETE":
            writer.write(simple("200 OK"))
        else:
            writer.write(simple("404 Not Found"))
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
            ssl.SSLError):
        pass  # the client went away, or spoke no HTTP (or refused our certificate)
    finally:
        writer.close()


def self_signed(directory):
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-addext", "basicConstraints=critical,CA:FALSE"],
        check=True, capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--tls", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        context = self_signed(directory) if args.tls else None
        server = await asyncio.start_server(handle, args.host, 0, ssl=context)
        print(f"LISTENING {server.sockets[0].getsockname()[1]}", flush=True)
        async with server:
            await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
