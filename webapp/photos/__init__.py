"""Photos: validation by content (`pipeline.py`), EXIF orientation and GPS (`exif.py`), files
(`storage.py`) and the database row (`services.py`, `models.py`)."""
from __future__ import annotations

from webapp.photos import models, views  # noqa: F401  (models: the table)


def init_app(app) -> None:
    """Register the Photo model and the blueprint serving public copies."""
    app.register_blueprint(views.bp)
