"""Information for everyone (issue 11): procedures ("Sprawy urzędowe"), the versioned rules and
consent, the privacy notice, the accessibility statement, questions to the administrator and
public statistics."""
from __future__ import annotations
from pathlib import Path
from webapp.information.rules import consent_for
from webapp.information.views import bp, procedures_for


def init_app(app) -> None:
    """Register the information blueprint; ``CONTENT_DIR`` defaults to ``<project>/content``."""

    app.config.setdefault("CONTENT_DIR", str(Path(app.root_path).parent / "content"))
    app.register_blueprint(bp)
    app.jinja_env.globals["procedures_for"] = procedures_for
    # The consent a resident gives today, for the report form and the e-mail updates form
    # (reports sits below information, so it finds this through the app, not an import).
    app.extensions["consent"] = lambda lang: consent_for(
        app.config["CONTENT_DIR"], lang, app.config.get("CONSENT_VERSION"))
