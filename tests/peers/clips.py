"""Media files the tests and benchmarks publish from (`file:` sources)."""

import numpy


def write_noise_y4m(path, frames=60, seed=11):
    """A Y4M clip at 640x480@30, `frames` long: new noise every frame at 160x120, each sample
    a 4x4 block (chroma at 80x60, 4x4 blocks of the 320x240 planes). Harder to compress than
    any camera: VP8 needs ~2.7 Mbit/s for it at 640x480 even at its coarsest quantizer, ~0.9
    Mbit/s at 320x240 and ~0.5 Mbit/s at 160x120."""
    rng = numpy.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(b"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\n")
        for _ in range(frames):
            f.write(b"FRAME\n")
            for w, h in ((160, 120), (80, 60), (80, 60)):
                plane = rng.integers(16, 236, size=(h, w), dtype=numpy.uint8)
                f.write(plane.repeat(4, axis=0).repeat(4, axis=1).tobytes())
    return path


def write_solid_y4m(path, yuv, width=320, height=240, frames=30):
    """A Y4M clip at `width`x`height`@30 of one colour, given as its (Y, U, V) bytes."""
    y, u, v = yuv
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode())
        planes = (bytes([y]) * (width * height) + bytes([u]) * (width * height // 4)
                  + bytes([v]) * (width * height // 4))
        for _ in range(frames):
            f.write(b"FRAME\n" + planes)
    return path
