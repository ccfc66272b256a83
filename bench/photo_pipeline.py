"""Photo pipeline benchmark: the app's ``process_photo`` against bare Pillow on the same bytes.

Run from the repository root::

    .venv/bin/python bench/photo_pipeline.py [--repeat 11] [--target 1.2] [--only "phone 2048"]

Inputs, made from the geotagged Łódź fixture (``../shared/data/photos``, else
``tests/fixtures/photos``) scaled up with sensor-like grain: the phone-sized 2048x1536 JPEG the
offline app sends (quality 90, EXIF GPS kept), camera originals of 12, 24 and 48 MP (4000x3000,
6000x4000, 8000x6000, quality 92, EXIF orientation 6 + GPS), and the HEIC fixture as it is.
For each input it times, alternating the order in one process:

* ``pillow``: open + load + ``ImageOps.exif_transpose`` + resize to 2048 px on the long side
  when larger (LANCZOS) + JPEG (quality 85) + the 400 px thumbnail of that copy
  (``Image.thumbnail``, quality 80): the same visible work done plainly;
* ``app``: ``webapp.photos.pipeline.process_photo`` (content checks, EXIF GPS/time, sRGB, the
  upright public copy, the thumbnail, sha256).

Times are CPU time of this process (``time.process_time``): on a shared machine they move far
less with other processes' load than wall time. Reports the median of the per-repetition ratios
app/pillow and the peak memory of each path, measured once per path in a fresh subprocess: peak
RSS from ``/proc/self/status`` VmHWM after a reset (``ru_maxrss`` survives fork+exec, so a child
would report this parent's peak; it is the fallback off Linux), growth counted from after the
imports and reading the input. Exits 1 when the phone-sized JPEG's median ratio is above
``--target`` (the issue's 1.2).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import resource
import subprocess
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw, ImageOps  # noqa: E402

LONG_SIDE = 2048
THUMB_SIDE = 400
QUALITY = 85
THUMB_QUALITY = 80


PHOTOS = ROOT.parent / "shared" / "data" / "photos"
#: The geotagged fixtures the inputs are made from (test fixtures only; GPS inside Łódź).
SOURCE_JPEG = "derived_lodz_gps_DSCN0025.jpg"
SOURCE_HEIC = "gps_IMG_5195.HEIC"
#: (name, long side x short side, EXIF orientation written) of the JPEG inputs.
JPEG_INPUTS = [("phone 2048", (2048, 1536), None), ("12 MP", (4000, 3000), 6),
               ("24 MP", (6000, 4000), 6), ("48 MP", (8000, 6000), 6)]


def _photos_dir() -> Path:
    for candidate in (PHOTOS, ROOT / "tests" / "fixtures" / "photos"):
        if (candidate / SOURCE_JPEG).exists():
            return candidate
    raise SystemExit(f"{SOURCE_JPEG} not found in {PHOTOS} nor tests/fixtures/photos")


def make_jpeg(size: tuple[int, int], orientation: int | None) -> bytes:
    """The Łódź fixture (640x480, GPS) scaled up to ``size`` with sensor-like grain, so it
    compresses and decodes like a phone photo of that size (an upscaled 640 px image alone is
    too smooth: half the bytes, a faster decode), quality 92 (90 for the phone-sized copy, as
    the offline app sends it). EXIF of the source kept (GPS, time); ``orientation`` set when
    given (a camera original held upright)."""
    with Image.open(_photos_dir() / SOURCE_JPEG) as src:
        exif = src.getexif()
        base = src.convert("RGB").resize(size, Image.Resampling.BICUBIC)
    noise = Image.merge("RGB", [Image.effect_noise(size, sigma) for sigma in (28, 24, 32)])
    img = Image.blend(base, noise, 0.12)
    draw = ImageDraw.Draw(img)
    for k in range(40):  # edges at full resolution, as a sharp lens gives
        x, y = (k * 733) % size[0], (k * 431) % size[1]
        draw.line((x, y, (x + size[0] // 3) % size[0], (y + k * 37) % size[1]),
                  fill=((k * 53) % 256, (k * 97) % 256, (k * 151) % 256), width=2)
    if orientation:
        exif[0x0112] = orientation
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90 if max(size) <= LONG_SIDE else 92, exif=exif)
    return out.getvalue()


def inputs() -> list[tuple[str, bytes]]:
    """``(name, bytes)`` of every measured input: the JPEGs of :data:`JPEG_INPUTS`, then the
    HEIC fixture as it is."""
    made = [(name, make_jpeg(size, orientation)) for name, size, orientation in JPEG_INPUTS]
    heic = _photos_dir() / SOURCE_HEIC
    if heic.exists():
        made.append(("HEIC", heic.read_bytes()))
    return made


def _fit(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    scale = min(1.0, long_side / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def bare_pillow(data: bytes) -> tuple[bytes, bytes]:
    """The same visible work, plainly: open + load + ``exif_transpose`` + resize to 2048 px on
    the long side when larger (LANCZOS) + JPEG (quality 85), then the 400 px thumbnail of that
    copy (``Image.thumbnail``, LANCZOS, quality 80)."""
    im = Image.open(io.BytesIO(data))
    im.load()
    im = ImageOps.exif_transpose(im)
    if im.mode != "RGB":
        im = im.convert("RGB")
    if max(im.size) > LONG_SIDE:
        im = im.resize(_fit(im.size, LONG_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=QUALITY)
    thumb = im.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)  # reducing_gap 2.0
    small = io.BytesIO()
    thumb.save(small, "JPEG", quality=THUMB_QUALITY)
    return out.getvalue(), small.getvalue()


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


def time_paths(data: bytes, repeat: int) -> tuple[dict, list[float]]:
    """Warm-up, then ``repeat`` rounds of both paths in alternating order; (times s, ratios)."""
    bare_pillow(data)
    app_pipeline(data)
    times = {"pillow": [], "app": []}
    ratios = []
    for i in range(repeat):
        order = ("pillow", "app") if i % 2 == 0 else ("app", "pillow")
        run = {}
        for name in order:
            # CPU time of this process: on a shared machine it moves far less than wall time.
            start = time.process_time()
            RUNNERS[name](data)
            run[name] = time.process_time() - start
            times[name].append(run[name])
        ratios.append(run["app"] / run["pillow"])
    return times, ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=11, help="timed repetitions of each path")
    parser.add_argument("--target", type=float, default=1.2,
                        help="maximum median ratio app/pillow for the phone-sized 2048 px JPEG")
    parser.add_argument("--only", help="measure only the input of this name (e.g. 'phone 2048')")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    parser.add_argument("--memory", nargs=2, metavar=("PATH_NAME", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory:
        print(json.dumps(measure_memory(*args.memory)))
        return 0

    print(f"Pillow {Image.__version__}, Python {sys.version.split()[0]}; {args.repeat} repetitions "
          "per input, both paths alternating; CPU times in ms")
    header = f"{'input':<11} {'size':>10} {'MiB':>5} {'path':<7} {'median':>8} {'min':>8} {'max':>8} " \
             f"{'peak RSS MiB':>13} {'growth MiB':>11} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    verdict = 0
    for name, data in inputs():
        if args.only and name != args.only:
            continue
        with Image.open(io.BytesIO(data)) as probe:
            size = f"{probe.width}x{probe.height}"
        check = app_pipeline(data)
        assert check.gps_lat is not None, f"{name}: the GPS position must be read"
        repeat = args.repeat if len(data) < 8 * 2**20 else max(3, args.repeat // 2)
        times, ratios = time_paths(data, repeat)
        memory = {}
        if not args.no_memory:
            with tempfile.NamedTemporaryFile(suffix=".img", delete=False) as fh:
                fh.write(data)
            try:
                memory = {path: memory_in_subprocess(path, fh.name) for path in RUNNERS}
            finally:
                os.unlink(fh.name)
        ratio = statistics.median(ratios)
        for path in ("pillow", "app"):
            t = times[path]
            m = memory.get(path, {})
            print(f"{name if path == 'pillow' else '':<11} {size if path == 'pillow' else '':>10} "
                  + (f"{len(data) / 2**20:>5.2f}" if path == "pillow" else " " * 5) + f" {path:<7} "
                  f"{statistics.median(t) * 1000:>8.1f} {min(t) * 1000:>8.1f} {max(t) * 1000:>8.1f} "
                  f"{m.get('peak_rss_mib', float('nan')):>13.1f} {m.get('rss_growth_mib', float('nan')):>11.1f} "
                  + (f"{ratio:>6.2f}" if path == "app" else ""))
        if name == "phone 2048" and ratio > args.target:
            verdict = 1
        if name == "phone 2048":
            phone = ratio
    print("(ratio: median of the per-repetition ratios app/pillow; peak RSS of one run in a fresh "
          "process; growth counted from after imports and reading the input)")
    if not args.only or args.only == "phone 2048":
        print(f"phone-sized 2048 px JPEG: median ratio app/pillow {phone:.2f}x "
              f"(target <= {args.target:.2f}x): {'FAIL' if verdict else 'PASS'}")
    return verdict


if __name__ == "__main__":
    sys.exit(main())
