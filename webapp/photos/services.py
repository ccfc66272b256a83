"""Storing a processed photo: its three files in the media storage and its database row.

The only way photo data is written (STYLE.md: services change data); checking and re-encoding
an upload is :mod:`webapp.photos.pipeline`, reading its EXIF :mod:`webapp.photos.exif`.
"""
from __future__ import annotations

from webapp.extensions import db
from webapp.photos.models import Photo
from webapp.photos.pipeline import ProcessedPhoto
from webapp.photos.storage import get_storage, photo_keys


def save_photo(processed: ProcessedPhoto, *, report, position: int, storage=None):
    """Write the three files of ``processed`` and add a :class:`Photo` row for ``report``.

    ``position`` orders the photos of one report (0 = first). ``storage`` defaults to
    :func:`webapp.photos.storage.get_storage` (needs an app context). The row is added to
    ``db.session`` but not committed: the caller commits it with the report. Files are written
    first and are content-addressed, so a rolled-back transaction leaves at worst files that
    a retry reuses. Returns the new ``Photo``.
    """
    storage = storage or get_storage()
    keys = photo_keys(processed.sha256, processed.extension)
    storage.put(keys["original"], processed.original)
    storage.put(keys["public"], processed.public_jpeg)
    storage.put(keys["thumb"], processed.thumb_jpeg)
    photo = Photo(
        report=report,
        position=position,
        sha256=processed.sha256,
        content_type=processed.content_type,
        original_key=keys["original"],
        public_key=keys["public"],
        thumb_key=keys["thumb"],
        width=processed.width,
        height=processed.height,
        gps_lat=processed.gps_lat,
        gps_long=processed.gps_long,
        taken_at=processed.taken_at,
    )
    db.session.add(photo)
    return photo
