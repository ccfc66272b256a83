"""Photos: validation by content (`pipeline.py`), EXIF orientation and GPS (`exif.py`), files
(`storage.py`) and the database row (`services.py`, `models.py`)."""
from __future__ import annotations


def init_app(app) -> None:
    """Register the Photo model and the blueprint serving public copies."""
    from webapp.photos import models  # noqa: F401  (register the table)
    from webapp.photos.views import bp
    app.register_blueprint(bp)
