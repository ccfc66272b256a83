"""Public reads while maximum-cost photos are uploaded: the list's latency, with and without uploads.

Run from the repository root::

    .venv/bin/python bench/photo_cost.py [--seconds 20] [--readers 4] [--uploaders 2]
                                         [--root PATH]   # another checkout, e.g. before a change

The app is served in a child process the way ``make run`` serves it (werkzeug, threaded, a
throw-away SQLite database, CSRF and rate limits off so that only photo work is measured), on
127.0.0.1 with a port the system picks. This process then runs, one phase after another:

* ``idle``: ``--readers`` threads GET ``/reports`` in a loop (no uploads);
* one phase per kind of upload in ``--kinds``: the same readers, plus ``--uploaders`` threads
  POSTing reports with ``--photos`` (5, the maximum) photos each, in a loop:

  - ``png-60mp``: a 175 kB PNG of 7745x7745 px (just under the 60 MP limit; the photo of issue
    14: 3 s of CPU and ~300 MB each before the per-format limits);
  - ``png-25mp``: a PNG of 5000x5000 px, the largest a PNG may be after the per-format limits
    (the most expensive photo the portal still accepts);
  - ``jpeg-60mp``: a baseline JPEG of 7745x7745 px (decoded at a reduced scale).

For each phase it prints the list's p50/p95/max latency and request count, the uploads'
answers (status codes) and median time, and the server's CPU use in cores (CPU seconds of the
server process over the phase's wall time: how much of the machine the uploads took). ``--root`` serves the ``webapp`` package of another
checkout (``git archive <commit> | tar -x -C /tmp/base``) to measure "before".
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# --- the photos -------------------------------------------------------------------------------

def png_flat(side: int) -> bytes:
    """A complete RGB PNG of ``side`` x ``side`` black pixels, compressed row by row at level 9
    (the smallest upload for the most pixels), built without holding the bitmap."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    comp = zlib.compressobj(9)
    row = b"\0" * (side * 3 + 1)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_flat(side: int) -> bytes:
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (side, side), (120, 130, 110)).save(out, "JPEG", quality=80)
    return out.getvalue()


KINDS = {
    "png-60mp": ("big.png", lambda: png_flat(7745)),
    "png-25mp": ("big.png", lambda: png_flat(5000)),
    "jpeg-60mp": ("big.jpg", lambda: jpeg_flat(7745)),
}


# --- the server (child process) ---------------------------------------------------------------

def serve(tmp: str) -> None:
    """Child: serve the app on 127.0.0.1 (port chosen by the system), print the port, run."""
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from webapp import create_app
    tmp_path = Path(tmp)
    app = create_app({
        "INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "bench",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'bench.sqlite'}",
        "MEDIA_ROOT": str(tmp_path / "media"), "MAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
        "MAIL_SERVER": None, "RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False,
    })
    with app.app_context():
        upgrade()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(json.dumps({"port": server.server_port}), flush=True)
    server.serve_forever()


def start_server(root: Path, tmp: str) -> tuple[subprocess.Popen, int]:
    env = dict(os.environ, PYTHONPATH=str(root), INSTANCE_PATH=str(Path(tmp) / "instance"))
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", tmp],
                            cwd=str(root), env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise SystemExit("the bench server did not start")
    return proc, json.loads(line)["port"]


# --- the load ---------------------------------------------------------------------------------

def multipart(fields: dict, files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, filename, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def report_fields() -> dict:
    return {"client_id": str(uuid.uuid4()), "service_code": "ROAD_POTHOLE",
            "description": "Głęboka dziura w jezdni przy przejściu dla pieszych.",
            "lat": "51.7592", "long": "19.4560", "location_source": "manual",
            "address_string": "Piotrkowska 104"}


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            timeout: float = 120.0) -> tuple[int, float]:
    """One request on a fresh connection; returns (status, seconds). Status 0: no answer."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        response.read()
        status = response.status
    except OSError:
        status = 0
    finally:
        conn.close()
    return status, time.perf_counter() - start


def seed(port: int, count: int) -> None:
    """``count`` reports without photos, so the list has something to show."""
    for _ in range(count):
        body, ctype = multipart(report_fields(), [])
        status, _ = request(port, "POST", "/report", body, {"Content-Type": ctype, "Accept": "application/json"})
        if status != 201:
            raise SystemExit(f"seeding a report answered {status}")


def run_phase(port: int, seconds: float, readers: int, uploaders: int, upload: tuple[str, bytes] | None,
              photos: int) -> dict:
    stop_uploads, stop_reads = threading.Event(), threading.Event()
    reads: list[tuple[int, float]] = []
    uploads: list[tuple[int, float]] = []
    lock = threading.Lock()

    def uploader():
        filename, data = upload
        while not stop_uploads.is_set():
            body, ctype = multipart(report_fields(), [("media", filename, data)] * photos)
            result = request(port, "POST", "/report", body, {"Content-Type": ctype, "Accept": "application/json"})
            with lock:
                uploads.append(result)

    # Uploads start no new request after ``seconds``; reads go on until the last upload has
    # been answered, so every read made while photos were processed is counted.
    uploading = [threading.Thread(target=uploader) for _ in range(uploaders if upload else 0)]

    def reader():
        while not stop_reads.is_set():
            result = request(port, "GET", "/reports")
            with lock:
                reads.append(result)
    reading = [threading.Thread(target=reader) for _ in range(readers)]
    start = time.perf_counter()
    for t in reading + uploading:
        t.start()
    stop_uploads.wait(seconds)
    stop_uploads.set()
    for t in uploading:
        t.join()
    stop_reads.set()
    for t in reading:
        t.join()
    return {"reads": reads, "uploads": uploads, "seconds": time.perf_counter() - start}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, round(q / 100 * len(values) + 0.5) - 1))
    return values[k]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--readers", type=int, default=4, help="threads reading /reports")
    parser.add_argument("--uploaders", type=int, default=2, help="threads posting reports with photos")
    parser.add_argument("--photos", type=int, default=5, help="photos per report (the form allows 5)")
    parser.add_argument("--kinds", default="png-60mp,png-25mp,jpeg-60mp", help="upload phases, comma-separated")
    parser.add_argument("--seed", type=int, default=30, help="reports stored before measuring")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose webapp is served")
    parser.add_argument("--label", help="name of the served code in the output (default: its git commit)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0

    kinds = [k for k in args.kinds.split(",") if k]
    uploads = {k: (KINDS[k][0], KINDS[k][1]()) for k in kinds}
    with tempfile.TemporaryDirectory(prefix="photo-cost-") as tmp:
        proc, port = start_server(args.root.resolve(), tmp)
        try:
            seed(port, args.seed)
            phases = [("idle", None)] + [(k, uploads[k]) for k in kinds]
            results = {}
            for name, upload in phases:
                before = cpu_seconds(proc.pid)
                results[name] = run_phase(port, args.seconds, args.readers, args.uploaders, upload, args.photos)
                results[name]["cores"] = (cpu_seconds(proc.pid) - before) / results[name]["seconds"]
        finally:
            proc.terminate()
            proc.wait(10)

    commit = subprocess.run(["git", "-C", str(args.root), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "not a git checkout"
    print(f"Served: {args.root} ({args.label or commit}), werkzeug threaded, SQLite; {os.cpu_count()} CPUs; "
          f"{args.readers} readers of /reports, {args.uploaders} uploaders x {args.photos} photos, "
          f"{args.seconds:.0f} s per phase")
    for k in kinds:
        print(f"  {k}: {len(uploads[k][1]) / 1024:.0f} kB per photo")
    print()
    header = (f"{'phase':<10} {'wall s':>6} {'cores':>5} {'reads':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'read 5xx':>9}   "
              f"{'uploads':>7} {'upload median s':>16}  answers")
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        times = [t * 1000 for s, t in r["reads"] if s == 200]
        bad = sum(1 for s, _ in r["reads"] if s != 200)
        up_times = [t for _, t in r["uploads"]]
        answers = ", ".join(f"{s}: {n}" for s, n in sorted(Counter(s for s, _ in r["uploads"]).items()))
        print(f"{name:<10} {r['seconds']:>6.0f} {r['cores']:>5.2f} {len(times):>6} {percentile(times, 50):>8.1f} {percentile(times, 95):>8.1f} "
              f"{max(times, default=float('nan')):>8.1f} {bad:>9}   {len(up_times):>7} "
              f"{statistics.median(up_times) if up_times else float('nan'):>16.2f}  {answers or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
