"""Reproducible realistic Łódź reports for the read benchmarks (bench/read.py).

    .venv/bin/python bench/generate.py --size 10k --db sqlite      # prints the DATABASE_URL
    .venv/bin/python bench/generate.py --size 1M --db postgresql   # database bench_perf

Makes a separate database (never the app's nor the test database): PostgreSQL ``bench_perf``
on 127.0.0.1:5432 (dropped and created anew) or an SQLite file under a temporary directory
(``--out`` to choose it). The schema comes from the Alembic migrations (``flask db upgrade``),
so the benchmark runs with the indexes production has.

Every value comes from ``random.Random(--seed)``: the same seed and size give the same rows.
Reports spread over the two years before ``--until`` (default 2026-12-01, UTC), more on
weekdays and in daytime; categories from ``routing.toml`` weighted (potholes and rubbish far
more common than rare categories); positions uniformly inside the city boundary (rejection
sampling in its bounding box); statuses as a portal would hold them after two years (old
reports mostly resolved or rejected, recent ones still open), each with a plausible history;
``--photos`` (a fraction, default 0.6) of reports get one or two ``photo`` rows (no files).

Insertion: ``COPY`` on PostgreSQL (psycopg 3), ``executemany`` in big transactions with
``synchronous=OFF`` on SQLite. About 10 s per 100,000 reports on 2 cores.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = "bench_perf"
SIZES = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000}

# Relative frequencies by category code prefix; unknown categories get 1.
WEIGHTS = {"ROAD_POTHOLE": 12, "WASTE": 8, "ROAD": 5, "GREEN": 4, "LIGHT": 4, "TRAFFIC": 3}
STREETS = ["ul. Piotrkowska", "al. Kościuszki", "ul. Narutowicza", "al. Piłsudskiego",
           "ul. Zgierska", "ul. Rzgowska", "ul. Pabianicka", "al. Włókniarzy", "ul. Kilińskiego",
           "ul. Limanowskiego", "ul. Wólczańska", "ul. Gdańska", "ul. Żeromskiego", "ul. Rewolucji 1905 r."]
TEXTS = ["Duża dziura w jezdni przy przejściu dla pieszych.", "Przepełniony kosz na śmieci.",
         "Nie świeci latarnia od kilku dni.", "Złamana gałąź zwisa nad chodnikiem.",
         "Uszkodzony znak drogowy.", "Dzikie wysypisko śmieci za garażami.",
         "Zapadnięta studzienka kanalizacyjna.", "Pęknięta płyta chodnikowa, można się potknąć.",
         "Graffiti na przystanku.", "Porzucony samochód bez tablic rejestracyjnych."]
NOTES = {"rejected": ["Zgłoszenie dotyczy terenu prywatnego.", "Duplikat wcześniejszego zgłoszenia."],
         "resolved": ["Naprawiono.", "Usunięto.", ""], "forwarded": ["Przekazano właściwej jednostce."]}


def categories() -> list[tuple[str, str, float]]:
    """``(code, unit, weight)`` for every category of routing.toml."""
    import tomllib  # noqa: PLC0415 - only this script reads the file directly
    data = tomllib.loads((ROOT / "routing.toml").read_text(encoding="utf-8"))
    out = []
    for cat in data["categories"]:
        weight = next((w for p, w in WEIGHTS.items() if cat["code"].startswith(p)), 1)
        out.append((cat["code"], cat.get("unit") or "", float(weight)))
    return out


def points_inside(rng: random.Random, n: int) -> list[tuple[float, float]]:
    """``n`` WGS84 (lat, long) points uniformly inside the Łódź boundary."""
    sys.path.insert(0, str(ROOT))
    from webapp.geo.boundary import Boundary  # noqa: PLC0415 - after the sys.path change
    from shapely import contains_xy  # noqa: PLC0415 - vectorised test, only here
    import numpy as np  # noqa: PLC0415 - shapely's own dependency
    boundary = Boundary.from_file(ROOT / "webapp" / "geo" / "data" / "lodz_boundary.geojson")
    west, south, east, north = boundary.geometry.bounds
    points: list[tuple[float, float]] = []
    while len(points) < n:
        k = max(1000, (n - len(points)) * 2)
        xs = np.array([rng.uniform(west, east) for _ in range(k)])
        ys = np.array([rng.uniform(south, north) for _ in range(k)])
        mask = contains_xy(boundary.geometry, xs, ys)
        points.extend((round(float(y), 6), round(float(x), 6)) for x, y in zip(xs[mask], ys[mask]))
    return points[:n]


def status_path(rng: random.Random, age_days: float, mode_auto: bool) -> list[str]:
    """The statuses a report went through, oldest first (the last one is its status now)."""
    path = ["dispatched"] if mode_auto or rng.random() < 0.9 else ["awaiting_moderation"]
    if path == ["awaiting_moderation"]:
        if age_days > 3 or rng.random() < 0.5:
            path.append("dispatched")
        else:
            return path
    if rng.random() < 0.04:
        path.append("forwarded")
    settle = min(1.0, age_days / 60)  # older reports are more often finished
    r = rng.random()
    if r < 0.08 * settle + 0.01:
        path.append("rejected")
    elif r < 0.75 * settle:
        path += ["accepted", "in_progress", "resolved"][rng.randrange(0, 3):] if rng.random() < 0.5 \
            else ["accepted", "resolved"]
    elif r < 0.85:
        path.append(rng.choice(["accepted", "in_progress"]))
    return path


def make_rows(n: int, seed: int, until: datetime, photo_share: float):
    """Generate ``(reports, changes, photos)`` as lists of tuples in column order."""
    rng = random.Random(seed)
    cats = categories()
    codes = [c[0] for c in cats]
    weights = [c[2] for c in cats]
    unit_of = {c[0]: c[1] for c in cats}
    units = sorted({u for u in unit_of.values() if u})
    points = points_inside(rng, n)
    span = 730 * 86400
    # Times first, sorted, so ids grow with requested_at as in a real table.
    times = []
    while len(times) < n:
        t = until - timedelta(seconds=rng.uniform(0, span))
        local_hour = (t.hour + 1) % 24
        if local_hour < 6 and rng.random() < 0.8:
            continue
        if t.weekday() >= 5 and rng.random() < 0.35:
            continue
        times.append(t.replace(microsecond=0))
    times.sort()
    reports, changes, photos = [], [], []
    change_id = photo_id = 0
    for i, requested in enumerate(times, start=1):
        code = rng.choices(codes, weights)[0]
        unit = unit_of[code] or rng.choice(units)
        age = (until - requested).total_seconds() / 86400
        path = status_path(rng, age, rng.random() < 0.5)
        moment = requested
        history = []
        agency = unit if path[0] != "awaiting_moderation" else None
        for step, status in enumerate(path):
            if step:
                moment = min(until, moment + timedelta(hours=rng.expovariate(1 / 40)))
            if status == "dispatched":
                agency = unit
            if status == "forwarded":
                agency = rng.choice(units)
            actor = ("system", None) if step == 0 or status == "dispatched" else \
                (("unit", agency) if rng.random() < 0.85 else ("operator", "op1"))
            note = rng.choice(NOTES.get(status, [""]))
            change_id += 1
            history.append((change_id, i, status, note, actor[0], actor[1], agency, moment))
        changes.extend(history)
        text = rng.choice(TEXTS)
        lat, long = points[i - 1]
        client = hashlib.md5(f"{seed}-{i}".encode()).hexdigest()
        client_id = f"{client[:8]}-{client[8:12]}-{client[12:16]}-{client[16:20]}-{client[20:32]}"
        email = f"mieszkaniec{i}@example.org" if rng.random() < 0.3 else None
        reports.append((
            i, client_id, code, text, text, lat, long, rng.choice(["device", "photo", "manual"]),
            f"{rng.choice(STREETS)} {rng.randint(1, 250)}" if rng.random() < 0.7 else None,
            email, "2026-01" if email else None, "Zgoda" if email else None,
            requested if email else None, rng.choice(["pl", "pl", "pl", "en", "uk"]),
            path[-1], agency, f"category:{code}",
            hashlib.sha256(f"t{seed}-{i}".encode()).hexdigest(), requested, moment, len(path),
        ))
        if rng.random() < photo_share:
            for pos in range(1 if rng.random() < 0.8 else 2):
                photo_id += 1
                digest = hashlib.sha256(f"p{seed}-{photo_id}".encode()).hexdigest()
                photos.append((photo_id, i, pos, digest, "image/jpeg", f"orig/{digest}.jpg",
                               f"pub/{digest}.jpg", f"thumb/{digest}.jpg", 2048, 1536,
                               lat, long, requested, requested))
    return reports, changes, photos


REPORT_COLS = ("id", "client_id", "service_code", "description", "public_description", "lat",
               "long", "location_source", "address_string", "email", "consent_version",
               "consent_text", "consent_at", "language", "status", "agency_responsible",
               "routing_rule", "tracking_token_hash", "requested_at", "updated_at", "version_id")
CHANGE_COLS = ("id", "report_id", "status", "note", "actor_kind", "actor_id",
               "agency_responsible", "created_at")
PHOTO_COLS = ("id", "report_id", "position", "sha256", "content_type", "original_key",
              "public_key", "thumb_key", "width", "height", "gps_lat", "gps_long", "taken_at",
              "created_at")
TABLES = (("service_request", REPORT_COLS), ("status_change", CHANGE_COLS), ("photo", PHOTO_COLS))


def migrate(url: str) -> None:
    """Create the schema through the project's Alembic migrations."""
    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "webapp"}
    subprocess.run([str(BIN / "flask"), "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def load_sqlite(path: Path, data) -> None:
    import sqlite3  # noqa: PLC0415 - only the SQLite path needs it
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA journal_mode=WAL")

    def conv(v):
        # UTCDateTime stores naive UTC text on SQLite (SQLAlchemy's DateTime format).
        return v.strftime("%Y-%m-%d %H:%M:%S.000000") if isinstance(v, datetime) else v

    for (table, cols), rows in zip(TABLES, data):
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        con.executemany(sql, ([conv(v) for v in row] for row in rows))
    con.commit()
    con.execute("ANALYZE")
    con.close()


def load_postgres(url: str, data) -> None:
    import psycopg  # noqa: PLC0415 - only the PostgreSQL path needs it
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as con:
        with con.cursor() as cur:
            for (table, cols), rows in zip(TABLES, data):
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT coalesce(max(id), 1) FROM {table}))")
        con.commit()
        con.autocommit = True
        con.execute("VACUUM ANALYZE")


def prepare_postgres(name: str = PG_DB) -> str:
    """Drop and create database ``name``; return its SQLAlchemy URL."""
    import psycopg  # noqa: PLC0415 - only the PostgreSQL path needs it
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        con.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_postgres(name: str = PG_DB) -> None:
    """Drop the benchmark database."""
    import psycopg  # noqa: PLC0415 - only the PostgreSQL path needs it
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def generate(size: int, db: str, *, seed: int = 12, out: Path | None = None,
             until: datetime = datetime(2026, 12, 1, tzinfo=timezone.utc),
             photos: float = 0.6, quiet: bool = False) -> str:
    """Make the database and fill it; return its SQLAlchemy URL."""
    started = time.perf_counter()
    data = make_rows(size, seed, until, photos)
    made = time.perf_counter()
    if db == "postgresql":
        url = prepare_postgres()
        migrate(url)
        load_postgres(url, data)
    else:
        path = out or Path(tempfile.mkdtemp(prefix="bench_perf_")) / f"bench_{size}.sqlite"
        path.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
        migrate(url)
        load_sqlite(path, data)
    if not quiet:
        print(f"{size} reports, {len(data[1])} status changes, {len(data[2])} photos: "
              f"generated in {made - started:.1f} s, loaded in {time.perf_counter() - made:.1f} s",
              file=sys.stderr)
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="10k", help="10k, 100k, 1M or a number")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--photos", type=float, default=0.6, help="share of reports with photos")
    parser.add_argument("--out", type=Path, help="SQLite file (default: under a temp dir)")
    parser.add_argument("--drop", action="store_true", help="drop bench_perf and exit")
    args = parser.parse_args(argv)
    if args.drop:
        drop_postgres()
        return 0
    size = SIZES.get(args.size) or int(args.size)
    print(generate(size, args.db, seed=args.seed, out=args.out, photos=args.photos))
    return 0


if __name__ == "__main__":
    sys.exit(main())
