"""Photos: validation by content, EXIF orientation and GPS, public copies without metadata."""
from __future__ import annotations


def init_app(app) -> None:
    """Register the Photo model and the blueprint serving public copies; size the
    process-wide decode gate from ``PHOTO_DECODE_SLOTS`` and ``PHOTO_DECODE_WAIT_SECONDS``."""
    from webapp.photos import models  # noqa: F401  (register the table)
    from webapp.photos.limits import DECODE_GATE
    DECODE_GATE.configure(app.config["PHOTO_DECODE_SLOTS"], app.config["PHOTO_DECODE_WAIT_SECONDS"])
    from webapp.photos.views import bp
    app.register_blueprint(bp)
