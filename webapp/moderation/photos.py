"""Hiding and rotating a report's photos (the public copy and thumbnail; never the original)."""
from __future__ import annotations

import io

from flask import g
from flask_babel import lazy_gettext as _l
from PIL import Image
from sqlalchemy import select

from webapp.audit.services import record
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.moderation.models import PhotoModeration
from webapp.moderation.services import ModerationError
from webapp.photos.services import photo_keys
from webapp.photos.storage import get_storage

#: JPEG quality of the rotated copies (as webapp.photos makes public copies).
QUALITY = 85


def state(photo) -> PhotoModeration:
    """The photo's moderation row (a transient default when none is stored)."""
    return db.session.get(PhotoModeration, photo.id) or PhotoModeration(photo_id=photo.id, hidden=False, rotation=0)


def hidden_ids(photo_ids) -> set[int]:
    """Which of ``photo_ids`` an operator hid."""
    ids = list(photo_ids)
    if not ids:
        return set()
    return set(db.session.scalars(select(PhotoModeration.photo_id)
                                  .where(PhotoModeration.photo_id.in_(ids), PhotoModeration.hidden)))


def visible(photos) -> list:
    """``photos`` without the hidden ones (registered in ``webapp.reports.queries.PHOTO_FILTERS``).

    The ids of every hidden photo (few: operators hide the odd face or plate) are read once per
    app context and kept in ``flask.g``, so a list page costs one query, not one per report."""
    photos = list(photos)
    if not photos:
        return photos
    if "hidden_photo_ids" not in g:
        g.hidden_photo_ids = set(db.session.scalars(
            select(PhotoModeration.photo_id).where(PhotoModeration.hidden)))
    return [p for p in photos if p.id not in g.hidden_photo_ids]


def _row(photo) -> PhotoModeration:
    row = db.session.get(PhotoModeration, photo.id)
    if row is None:
        row = PhotoModeration(photo_id=photo.id, hidden=False, rotation=0)
        db.session.add(row)
    return row


def set_hidden(report, photo_id: int, user, hidden: bool = True) -> None:
    """Hide (or show again) a photo of ``report``. Audited ``photo.hide``/``photo.show``.
    Touches ``report.updated_at``: the public record changed, so Open311 validators change."""
    photo = _photo(report, photo_id)
    row = _row(photo)
    before = bool(row.hidden)
    row.hidden = hidden
    report.updated_at = utcnow()
    g.pop("hidden_photo_ids", None)  # the next read sees this decision
    record("photo.hide" if hidden else "photo.show", actor=user, object_type="photo",
           object_id=photo.id, before={"hidden": before, "report": report.id},
           after={"hidden": hidden, "report": report.id})


def rotate(report, photo_id: int, user) -> None:
    """Turn the public copy and thumbnail 90° clockwise, made again from the upright copy
    made at upload (no loss adds up). New keys per angle (``...-r90.jpg``), so a file shared
    with another report is never overwritten. Audited ``photo.rotate``; touches
    ``report.updated_at`` (the public URLs changed)."""
    photo = _photo(report, photo_id)
    row = _row(photo)
    before = row.rotation or 0
    angle = (before + 90) % 360
    storage = get_storage()
    base = photo_keys(photo.sha256, "jpg")
    keys = {}
    for kind in ("public", "thumb"):
        key = base[kind] if angle == 0 else base[kind].replace(".jpg", f"-r{angle}.jpg")
        if angle and not storage.exists(key):
            with Image.open(io.BytesIO(storage.get(base[kind]))) as img:
                turned = img.convert("RGB").rotate(-angle, expand=True)
            out = io.BytesIO()
            turned.save(out, "JPEG", quality=QUALITY, optimize=True)
            storage.put(key, out.getvalue())
        keys[kind] = key
    photo.public_key, photo.thumb_key = keys["public"], keys["thumb"]
    row.rotation = angle
    report.updated_at = utcnow()
    record("photo.rotate", actor=user, object_type="photo", object_id=photo.id,
           before={"rotation": before, "report": report.id}, after={"rotation": angle, "report": report.id})


def _photo(report, photo_id: int):
    for photo in report.photos:
        if photo.id == photo_id:
            return photo
    raise ModerationError(_l("This photo does not belong to the report."))
