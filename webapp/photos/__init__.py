"""Photos: validation by content, EXIF orientation and GPS, public copies without metadata."""
from __future__ import annotations


def init_app(app) -> None:
    from webapp.photos import models  # noqa: F401  (register the table)
    from webapp.photos.views import bp
    app.register_blueprint(bp)
