"""Reading a photo's EXIF: where (GPS, WGS84) and when (capture time, UTC) it was taken.

Tag numbers: EXIF 2.32 (GPS IFD tags 1-4 and 9; ``DateTimeOriginal`` 0x9003,
``OffsetTimeOriginal`` 0x9011). Pure: needs no Flask application.
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from PIL import Image
from PIL.ExifTags import IFD

# EXIF times without an offset are taken as local time where the portal works.
LOCAL_TZ = ZoneInfo("Europe/Warsaw")

TAG_ORIENTATION = 0x0112
_TAG_DATETIME_ORIGINAL = 0x9003
_TAG_OFFSET_TIME_ORIGINAL = 0x9011
_GPS_LAT_REF, _GPS_LAT, _GPS_LONG_REF, _GPS_LONG, _GPS_STATUS = 1, 2, 3, 4, 9


def read_gps(exif: Image.Exif) -> tuple[float | None, float | None]:
    """Return the EXIF GPS position as WGS84 degrees ``(lat, long)``, south/west negative.

    Handles rationals (``IFDRational``), plain numbers and 1 to 3 part values (degrees,
    minutes, seconds). Returns ``(None, None)`` when a tag is missing, a hemisphere reference is
    missing or not N/S/E/W, a value is not finite or out of range, the receiver marked the
    fix void (GPSStatus ``V``), or the position is exactly 0,0 (cameras without a fix write
    zeros). Tag numbers: EXIF 2.32, GPS IFD tags 1-4 and 9.
    """
    try:
        gps = exif.get_ifd(IFD.GPSInfo)
    except Exception:
        return None, None
    if not gps:
        return None, None
    if _text(gps.get(_GPS_STATUS)).upper() == "V":
        return None, None
    lat = _dms(gps.get(_GPS_LAT), _text(gps.get(_GPS_LAT_REF)).upper(), "N", "S", 90.0)
    lon = _dms(gps.get(_GPS_LONG), _text(gps.get(_GPS_LONG_REF)).upper(), "E", "W", 180.0)
    if lat is None or lon is None or (lat == 0.0 and lon == 0.0):
        return None, None
    return lat, lon


def _text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", "").strip()


def _dms(value, ref: str, positive: str, negative: str, limit: float) -> float | None:
    if ref not in (positive, negative) or value is None:
        return None
    if not isinstance(value, (tuple, list)):
        value = (value,)
    if not 1 <= len(value) <= 3:
        return None
    try:
        parts = [float(v) for v in value]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if any(not math.isfinite(p) or p < 0 for p in parts):
        return None
    if any(p >= 60 for p in parts[1:]):
        return None
    degrees = sum(p / 60 ** i for i, p in enumerate(parts))
    if degrees > limit:
        return None
    return -degrees if ref == negative else degrees


_EXIF_DATETIME = re.compile(r"(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_EXIF_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")


def read_taken_at(exif: Image.Exif) -> datetime | None:
    """Return when the photo was taken, as an aware UTC datetime, or None.

    Reads ``DateTimeOriginal`` (EXIF tag 0x9003) with ``OffsetTimeOriginal`` (0x9011, EXIF 2.31)
    when present; without an offset the time is taken as Europe/Warsaw local time. Blank,
    zeroed or impossible values give None.
    """
    try:
        sub = exif.get_ifd(IFD.Exif)
    except Exception:
        return None
    match = _EXIF_DATETIME.match(_text(sub.get(_TAG_DATETIME_ORIGINAL)))
    if not match:
        return None
    try:
        local = datetime(*(int(g) for g in match.groups()))
    except ValueError:  # "0000:00:00 00:00:00", month 13...
        return None
    offset = _EXIF_OFFSET.fullmatch(_text(sub.get(_TAG_OFFSET_TIME_ORIGINAL)))
    if offset:
        sign = -1 if offset.group(1) == "-" else 1
        delta = timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3)))
        if delta > timedelta(hours=14):
            return None
        aware = local.replace(tzinfo=timezone(sign * delta))
    else:
        aware = local.replace(tzinfo=LOCAL_TZ)
    return aware.astimezone(timezone.utc)
