"""Serving photos: public copies by URL, originals only through :func:`send_original`.

URL map of this blueprint:

    GET /media/photos/<photo_id>/public.jpg   photos.public   re-encoded copy, no metadata
    GET /media/photos/<photo_id>/thumb.jpg    photos.thumb    400 px thumbnail, no metadata

The original (with its EXIF and GPS) has no URL of its own: the department and operator views
check their own authorisation and then return :func:`send_original`.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, send_file

from webapp.extensions import db
from webapp.photos.models import Photo
from webapp.photos.pipeline import EXTENSIONS
from webapp.photos.storage import get_storage
from flask_babel import gettext as _
from webapp.errors import render_error

bp = Blueprint("photos", __name__)

# An hour, then a cheap revalidation (ETag): an operator may rotate a photo (new file under the
# same URL) or hide it (404), and shared caches must learn of it within the hour, not a year.
PUBLIC_MAX_AGE = 3600


def _send_public(photo_id: int, attr: str) -> Response:
    photo = db.session.get(Photo, photo_id)
    if photo is None:
        abort(404)
    try:
        path = get_storage().path(getattr(photo, attr))
    except ValueError:
        abort(404)
    if not path.is_file():
        abort(404)
    try:
        response = send_file(path, mimetype="image/jpeg", max_age=PUBLIC_MAX_AGE,
                             conditional=True, etag=True)
    except OSError:  # the file is there but cannot be read (permissions, I/O error)
        return render_error(503, _("This photo is temporarily unavailable."))
    response.cache_control.public = True
    return response


@bp.get("/media/photos/<int:photo_id>/public.jpg")
def public(photo_id: int):
    """The public copy: JPEG, at most 2048 px, upright, no metadata. 404 for an unknown id."""
    return _send_public(photo_id, "public_key")


@bp.get("/media/photos/<int:photo_id>/thumb.jpg")
def thumb(photo_id: int):
    """The thumbnail: JPEG, at most 400 px, upright, no metadata. 404 for an unknown id."""
    return _send_public(photo_id, "thumb_key")


def send_original(photo: Photo) -> Response:
    """Response with the original file of ``photo`` as uploaded (EXIF and GPS included).

    For views that have already checked the viewer is an operator or the responsible unit:
    ``Cache-Control: private, no-store`` so no shared cache or browser keeps it, the content
    type recognised at upload, and HEIC (which browsers cannot show) as a download.
    Aborts with 404 when the file is missing from storage.
    """
    try:
        path = get_storage().path(photo.original_key)
    except ValueError:
        abort(404)
    if not path.is_file():
        abort(404)
    extension = EXTENSIONS.get(photo.content_type, "bin")
    response = send_file(
        path,
        mimetype=photo.content_type,
        as_attachment=photo.content_type == "image/heic",
        download_name=f"photo-{photo.report_id}-{photo.position + 1}.{extension}",
        conditional=False,
        etag=False,
        max_age=0,
    )
    return _private(response)


def send_thumbnail_privately(photo: Photo) -> Response:
    """Response with the thumbnail of ``photo`` (JPEG, at most 400 px, as rotated) for views
    that have already checked the viewer: the operators' panel still shows a photo hidden from
    the public, whose public URL then answers 404. ``Cache-Control: private, no-store``.
    Aborts with 404 when the file is missing from storage."""
    try:
        path = get_storage().path(photo.thumb_key)
    except ValueError:
        abort(404)
    if not path.is_file():
        abort(404)
    return _private(send_file(path, mimetype="image/jpeg", conditional=False, etag=False,
                              max_age=0))


def _private(response: Response) -> Response:
    response.cache_control.public = False
    response.cache_control.max_age = None
    response.cache_control.no_cache = None
    response.cache_control.private = True
    response.cache_control.no_store = True
    return response
