"""Language choice: Polish first, then English and Ukrainian (Flask-Babel)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from flask import Flask, current_app, has_request_context, render_template, request
from flask_babel import format_datetime, get_locale, get_timezone, get_translations
from markupsafe import Markup
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


@lru_cache(maxsize=4096)
def _format_local(value, pattern: str, locale: str, timezone: str) -> str:
    # locale and timezone are the key only: format_datetime reads the same ones from the request.
    return format_datetime(value, pattern)


def local_datetime(value, fmt: str = "datetime") -> str:
    """``value`` (a UTC datetime) in Łódź local time (Europe/Warsaw) in the UI language, in one
    of :data:`DATE_FORMATS` or a CLDR pattern; "" for None. Remembered per (value, format,
    locale, time zone): a list shows the same rows to everyone, and Babel's formatting was
    about a tenth of its render time (issue 12)."""
    if not value:
        return ""
    return _format_local(value, DATE_FORMATS.get(fmt, fmt), str(get_locale()), str(get_timezone()))


def fragment(name: str, **vary) -> Markup:
    """The template ``name`` rendered once per (locale, script root, build, ``vary``) and process, then
    served from memory: for the parts of every page that depend on nothing else (the head's
    links, the menu, the offline app's messages, the footer), which were most of a static
    page's render time (about 120 ``gettext`` and 40 ``url_for`` calls; issue 12).

    ``vary`` is passed to the template and is part of the key, so it must take few values (the
    endpoint, never a query argument). The template must not read the session, the user, a
    CSRF token or the query string. Not cached when templates auto-reload (development).
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    root = request.script_root if has_request_context() else ""
    # The build id is in the offline app's shell: a release published without a restart (as
    # the release browser tests do) must not serve the old one.
    key = (name, str(get_locale()), root, app.config.get("PWA_BUILD"), tuple(sorted(vary.items())))
    cache = app.extensions.setdefault("fragments", {})
    html = cache.get(key)
    if html is None:
        html = Markup(render_template(name, **vary))
        if not app.jinja_env.auto_reload:
            cache[key] = html
    return html


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

    app.jinja_env.globals["fragment"] = fragment

    @app.template_filter("localdt")
    def _localdt(value, fmt="datetime"):
        """A UTC datetime shown in Łódź local time (Europe/Warsaw) in the UI language, in one of
        :data:`DATE_FORMATS` ("datetime", "date") or a CLDR pattern (:func:`local_datetime`)."""
        return local_datetime(value, fmt)

    @app.context_processor
    def _lang():
        # The catalogue is looked up once per render, not once per string: Flask-Babel's
        # gettext finds the request, the locale and the catalogue on every call, about half of
        # a static page's time (issue 12). Taken inside the render, so force_locale still holds.
        translations = get_translations()
        locale, zone = str(get_locale()), str(get_timezone())

        def localdt_here(value, fmt="datetime"):
            # |localdt with this render's locale and zone looked up once (a list has 20 dates).
            return _format_local(value, DATE_FORMATS.get(fmt, fmt), locale, zone) if value else ""
        return {"current_lang": str(get_locale() or "pl"), "languages": app.config["LANGUAGES"],
                "gettext": _make_new_gettext(translations.ugettext),
                "ngettext": _make_new_ngettext(translations.ungettext),
                "localdt_here": localdt_here}
