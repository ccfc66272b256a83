"""Photos: validation by content (`pipeline.py`), EXIF orientation and GPS (`exif.py`), files
(`storage.py`) and the database row (`services.py`, `models.py`)."""
from __future__ import annotations

from webapp.photos import models, views  # noqa: F401  (models: the table)
from webapp.photos.limits import DECODE_GATE


def init_app(app) -> None:
    """Register the Photo model and the blueprint serving public copies; size the
    process-wide decode gate from ``PHOTO_DECODE_SLOTS`` and ``PHOTO_DECODE_WAIT_SECONDS``."""
    DECODE_GATE.configure(app.config["PHOTO_DECODE_SLOTS"], app.config["PHOTO_DECODE_WAIT_SECONDS"])
    app.register_blueprint(views.bp)
