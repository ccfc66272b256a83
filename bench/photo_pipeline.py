"""Photo pipeline benchmark: the app's ``process_photo`` against bare Pillow on the same bytes.

Run from the repository root::

    .venv/bin/python bench/photo_pipeline.py [--repeat 11] [--target 1.3]

It makes a 12-megapixel JPEG (4000x3000, noisy gradients and shapes so it compresses like a
photo, EXIF orientation 6, GPS and DateTimeOriginal), then times, alternating in one process:

* ``pillow``: open + load + ``ImageOps.exif_transpose`` + resize to 2048 px on the long side
  (LANCZOS) + JPEG encode (quality 85): what a bare implementation does;
* ``app``: ``webapp.photos.pipeline.process_photo`` (validation, EXIF GPS/time, sRGB, public
  copy, thumbnail, sha256).

Reports the median of the per-repetition ratios app/pillow and the peak memory of each path,
measured once per path in a fresh subprocess: peak RSS from ``/proc/self/status`` VmHWM after a
reset (``ru_maxrss`` survives fork+exec, so a child would report this parent's peak; it is the
fallback off Linux), growth counted from after the imports and reading the input.
``tracemalloc`` is shown too, but it only sees Python allocations, not Pillow's pixel buffers. Exits 1 when the median
ratio is above the target.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw, ImageOps  # noqa: E402
from PIL.ExifTags import IFD  # noqa: E402

WIDTH, HEIGHT = 4000, 3000
LONG_SIDE = 2048
QUALITY = 85


def make_test_jpeg() -> bytes:
    """A 4000x3000 JPEG (quality 92) with photo-like entropy and camera EXIF.

    Gradients give large-scale structure, Gaussian noise (sigma 40) the sensor grain and fine
    texture that keeps the file about as large as a phone photo; ellipses and lines add edges.
    EXIF: Orientation 6, GPS 51.7592 N 19.4560 E (ul. Piotrkowska), DateTimeOriginal.
    """
    size = (WIDTH, HEIGHT)
    gradient = Image.linear_gradient("L").resize(size)
    radial = Image.radial_gradient("L").resize(size)
    channels = []
    for i, sigma in enumerate((40, 35, 45)):
        noise = Image.effect_noise(size, sigma)
        base = Image.blend(gradient if i != 1 else radial, gradient.transpose(Image.Transpose.ROTATE_180), 0.3 * i)
        channels.append(Image.blend(base, noise, 0.45))
    img = Image.merge("RGB", channels)
    draw = ImageDraw.Draw(img)
    for k in range(60):
        x, y = (k * 733) % WIDTH, (k * 431) % HEIGHT
        color = ((k * 53) % 256, (k * 97) % 256, (k * 151) % 256)
        draw.ellipse((x, y, x + 120 + k * 7, y + 80 + k * 5), outline=color, width=6)
        draw.line((0, y, WIDTH, (y + k * 37) % HEIGHT), fill=color, width=3)

    exif = Image.Exif()
    exif[0x0110] = "BenchCam 12MP"
    exif[0x0112] = 6
    exif.get_ifd(IFD.Exif)[0x9003] = "2024:05:18 14:30:00"
    gps = exif.get_ifd(IFD.GPSInfo)
    gps[1], gps[2] = "N", (51.0, 45.0, 33.12)
    gps[3], gps[4] = "E", (19.0, 27.0, 21.6)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=92, exif=exif)
    return out.getvalue()


def bare_pillow(data: bytes) -> bytes:
    """open + load + exif_transpose + resize to 2048 long side + JPEG encode."""
    im = Image.open(io.BytesIO(data))
    im.load()
    im = ImageOps.exif_transpose(im)
    scale = LONG_SIDE / max(im.size)
    im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=QUALITY)
    return out.getvalue()


def app_pipeline(data: bytes):
    from webapp.photos.pipeline import process_photo
    return process_photo(data, filename="bench.jpg")


RUNNERS = {"pillow": bare_pillow, "app": app_pipeline}


def _rss_kib() -> tuple[int, int] | None:
    """(current RSS, peak RSS) in KiB from /proc/self/status, or None off Linux."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    values = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M))
    return int(values["VmRSS"]), int(values["VmHWM"])


def _reset_peak() -> bool:
    """Reset this process's peak RSS to its current RSS (Linux >= 4.0, /proc/self/clear_refs).

    Needed because ru_maxrss survives fork+exec: a child started by this benchmark would
    otherwise report the parent's peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure_memory(name: str, path: str) -> dict:
    """Run one path once in this (fresh) process; return its memory figures in MiB."""
    import webapp.photos.pipeline  # noqa: F401  (same imports for both paths)
    data = Path(path).read_bytes()
    reset = _reset_peak()
    start = _rss_kib() if reset else None
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    RUNNERS[name](data)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    if start is not None:
        peak = _rss_kib()[1]
        growth = peak - start[0]
    else:  # ru_maxrss: may include the parent's peak, see _reset_peak
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        growth = peak - before
    return {"peak_rss_mib": peak / 1024, "rss_growth_mib": growth / 1024,
            "tracemalloc_peak_mib": traced_peak / 2**20, "source": "VmHWM" if start else "ru_maxrss"}


def memory_in_subprocess(name: str, path: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--memory", name, path],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=11, help="timed repetitions of each path")
    parser.add_argument("--target", type=float, default=1.3, help="maximum median ratio app/pillow")
    parser.add_argument("--memory", nargs=2, metavar=("PATH_NAME", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory:
        print(json.dumps(measure_memory(*args.memory)))
        return 0

    data = make_test_jpeg()
    check = app_pipeline(data)
    assert (check.width, check.height) == (1536, 2048), "orientation 6 must give a portrait copy"
    assert check.gps_lat is not None and abs(check.gps_lat - 51.7592) < 1e-4

    # Warm-up (imports, first-call allocations), then alternate the order every repetition.
    bare_pillow(data)
    app_pipeline(data)
    times = {"pillow": [], "app": []}
    ratios = []
    for i in range(args.repeat):
        order = ("pillow", "app") if i % 2 == 0 else ("app", "pillow")
        run = {}
        for name in order:
            start = time.perf_counter()
            RUNNERS[name](data)
            run[name] = time.perf_counter() - start
            times[name].append(run[name])
        ratios.append(run["app"] / run["pillow"])

    with tempfile.NamedTemporaryFile(suffix=".jpg", delete=False) as fh:
        fh.write(data)
    try:
        memory = {name: memory_in_subprocess(name, fh.name) for name in RUNNERS}
    finally:
        os.unlink(fh.name)

    ratio = statistics.median(ratios)
    print(f"Input: {WIDTH}x{HEIGHT} JPEG, {len(data) / 2**20:.2f} MiB, EXIF orientation 6 + GPS; "
          f"{args.repeat} repetitions; Pillow {Image.__version__}, Python {sys.version.split()[0]}")
    print(f"Output: public {check.width}x{check.height} ({len(check.public_jpeg) / 1024:.0f} KiB), "
          f"thumb ({len(check.thumb_jpeg) / 1024:.0f} KiB)")
    print()
    header = f"{'path':<8} {'median ms':>10} {'min ms':>8} {'max ms':>8} " \
             f"{'peak RSS MiB':>13} {'RSS growth MiB':>15} {'tracemalloc MiB':>16}"
    print(header)
    print("-" * len(header))
    for name in ("pillow", "app"):
        t = times[name]
        m = memory[name]
        print(f"{name:<8} {statistics.median(t) * 1000:>10.1f} {min(t) * 1000:>8.1f} "
              f"{max(t) * 1000:>8.1f} {m['peak_rss_mib']:>13.1f} {m['rss_growth_mib']:>15.1f} "
              f"{m['tracemalloc_peak_mib']:>16.1f}")
    print(f"(peak RSS of one run in a fresh process, from {memory['app']['source']}; growth is counted "
          "from after imports and reading the input; tracemalloc sees only Python objects, "
          "not Pillow's pixel buffers)")
    print()
    verdict = "PASS" if ratio <= args.target else "FAIL"
    print(f"median ratio app/pillow: {ratio:.2f}x (target <= {args.target:.2f}x): {verdict}")
    return 0 if ratio <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
