"""Information for everyone (issue 11): procedures ("Sprawy urzędowe"), the versioned rules and
consent, the privacy notice, the accessibility statement, questions to the administrator and
public statistics."""
from __future__ import annotations
from pathlib import Path
from webapp.dispatch.worker import register_periodic
from webapp.information import cli, models  # noqa: F401  (models: the summary table)
from webapp.information.rules import consent_for
from webapp.information.stats import refresh_job
from webapp.information.views import bp, procedures_for


def init_app(app) -> None:
    """Register the information blueprint, ``flask statistics`` and the worker's job that
    rebuilds the statistics summary; ``CONTENT_DIR`` defaults to ``<project>/content``."""

    app.config.setdefault("CONTENT_DIR", str(Path(app.root_path).parent / "content"))
    app.register_blueprint(bp)
    app.jinja_env.globals["procedures_for"] = procedures_for
    # The consent a resident gives today, for the report form and the e-mail updates form
    # (reports sits below information, so it finds this through the app, not an import).
    app.extensions["consent"] = lambda lang: consent_for(
        app.config["CONTENT_DIR"], lang, app.config.get("CONSENT_VERSION"))
    # Dispatch's worker runs it; information sits above dispatch, so it registers itself.
    register_periodic("rebuild-statistics", float(app.config.get("STATS_REFRESH_SECONDS", 600)),
                      refresh_job)
    cli.init_app(app)
