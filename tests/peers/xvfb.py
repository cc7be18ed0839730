"""A virtual X display for screen-capture tests: Xvfb at 24-bit colour, with a known picture on
its root window, drawn by xsetroot: the left half red, the right half blue.

    with VirtualScreen(1280, 720) as screen:
        subprocess.run([...], env=screen.env)   # DISPLAY=:N

Xvfb picks a free display number itself (-displayfd), and keeps the picture when xsetroot
disconnects (-noreset: by default the server resets, to a black root window, when its last
client leaves)."""

import os
import shutil
import subprocess
import tempfile

#: The picture's colours, as X names them.
LEFT, RIGHT = "red", "blue"
#: The same colours after BT.601 (limited range), as a decoder gives them back: (Y, U, V).
LEFT_YUV, RIGHT_YUV = (82, 90, 240), (41, 240, 110)


def available():
    """None if Xvfb and xsetroot are here, else why not."""
    missing = [tool for tool in ("Xvfb", "xsetroot") if shutil.which(tool) is None]
    return f"{', '.join(missing)} missing (scripts/setup installs xvfb and x11-xserver-utils)" \
        if missing else None


def halves_bitmap(width, rows=8):
    """An X bitmap `width` wide whose left half is set (the foreground colour); xsetroot tiles
    it down the screen."""
    row_bytes = (width + 7) // 8
    row = bytearray(row_bytes)
    for x in range(width // 2):
        row[x // 8] |= 1 << (x % 8)  # XBM: least significant bit first
    data = bytes(row) * rows
    # Xlib reads the header line by line: the values start on a line of their own.
    body = ",\n".join(", ".join(f"0x{b:02x}" for b in data[i:i + 12])
                      for i in range(0, len(data), 12))
    return (f"#define halves_width {width}\n#define halves_height {rows}\n"
            f"static unsigned char halves_bits[] = {{\n{body}}};\n")


class VirtualScreen:
    def __init__(self, width=1280, height=720, extra_args=()):
        self.width, self.height = width, height
        read, write = os.pipe()
        self.server = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{width}x{height}x24",
             "-nolisten", "tcp", "-noreset", *extra_args],
            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(write)
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        if not number:
            self.server.kill()
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number}"
        self.env = {**os.environ, "DISPLAY": self.display}
        self.env.pop("WAYLAND_DISPLAY", None)
        self.draw()

    def draw(self):
        """Draws the known picture on the root window."""
        with tempfile.NamedTemporaryFile("w", suffix=".xbm") as bitmap:
            bitmap.write(halves_bitmap(self.width))
            bitmap.flush()
            subprocess.run(["xsetroot", "-bitmap", bitmap.name, "-fg", LEFT, "-bg", RIGHT],
                           env=self.env, check=True, timeout=10)

    def close(self):
        self.server.terminate()
        try:
            self.server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
