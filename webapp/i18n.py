"""Language choice: Polish first, then English and Ukrainian (Flask-Babel)."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, has_request_context, request
from flask_babel import format_datetime, get_locale, get_translations
# Jinja's own new-style gettext wrappers (autoescape, %-formatting), as Flask-Babel installs them.
from jinja2.ext import _make_new_gettext, _make_new_ngettext

from webapp.extensions import babel

LANG_COOKIE = "lang"


def select_locale() -> str:
    """Pick the UI language: ``?lang=`` (remembered in a cookie), the cookie, then the
    browser's Accept-Language among the supported ones, else Polish."""
    if not has_request_context():  # CLI and the worker: e-mails go out in Polish
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    supported = current_app.config["LANGUAGES"]
    asked = request.args.get("lang") or request.cookies.get(LANG_COOKIE)
    if asked in supported:
        return asked
    return request.accept_languages.best_match(supported) or current_app.config["BABEL_DEFAULT_LOCALE"]


# The portal's date formats, one per context, month spelled out (a screen reader reads
# "2 grudnia 2026, 04:42", not "2.12.2026"): every template uses these through `|localdt`.
DATE_FORMATS = {
    "datetime": "d MMMM y, HH:mm",   # when something happened or expires
    "date": "d MMMM y",              # a day only
}


def init_app(app: Flask) -> None:
    """Bind Flask-Babel with our locale selector; remember an explicit ``?lang=`` choice."""
    babel.init_app(app, locale_selector=select_locale,
                   default_translation_directories=str(Path(app.root_path).parent / "translations"))

    @app.after_request
    def _remember_lang(response):
        asked = request.args.get("lang")
        if asked in app.config["LANGUAGES"]:
            response.set_cookie(LANG_COOKIE, asked, max_age=365 * 24 * 3600, samesite="Lax",
                                secure=bool(app.config.get("SESSION_COOKIE_SECURE")))
        return response

    @app.template_filter("localdt")
    def _localdt(value, fmt="datetime"):
        """A UTC datetime shown in Łódź local time (Europe/Warsaw) in the UI language, in one of
        :data:`DATE_FORMATS` ("datetime", "date") or a CLDR pattern."""
        return format_datetime(value, DATE_FORMATS.get(fmt, fmt)) if value else ""

    @app.context_processor
    def _lang():
        # The catalogue is looked up once per render, not once per string: Flask-Babel's
        # gettext finds the request, the locale and the catalogue on every call, about half of
        # a static page's time (issue 12). Taken inside the render, so force_locale still holds.
        translations = get_translations()
        return {"current_lang": str(get_locale() or "pl"), "languages": app.config["LANGUAGES"],
                "gettext": _make_new_gettext(translations.ugettext),
                "ngettext": _make_new_ngettext(translations.ungettext)}
