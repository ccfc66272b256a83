"""What a person sends, made safe once for every view: the control-character rule for text and
the id range of URLs.

**The control-character rule** (:func:`clean_text`), the same on SQLite and PostgreSQL:

- line breaks are normalised (``\\r\\n`` and a lone ``\\r`` become ``\\n``);
- every other C0 control (U+0000-U+001F except TAB and LF), DEL (U+007F) and every C1 control
  (U+0080-U+009F) is **removed**;
- the bidirectional embedding, override and isolate controls U+202A-U+202E and U+2066-U+2069
  are **removed** (the "Trojan Source" characters, CVE-2021-42574: U+202E makes "gpj.exe" look
  like "exe.jpg"); the plain marks U+200E/U+200F, which only nudge neutral characters and cannot
  reorder text, stay;
- unpaired surrogates (only reachable through ``"\\ud800"`` escapes in JSON) are removed: no
  UTF-8 database can store them;
- in one-line form fields (every field but a ``<textarea>``), TAB and LF become a space.

Why strip and not refuse: these characters are invisible. A resident who pasted them from
another app cannot see, find or delete them, so a refusal would name a problem they cannot fix,
and the portal promises never to lose what was typed. Stripping keeps every character a person
can see. Why at all: PostgreSQL refuses NUL in text (the request failed with a 500 there while
SQLite stored it), terminal escapes in stored text attack whoever reads a log or a CSV export in
a terminal, and bidi overrides make published text read differently from what was stored.

Where it applies: :class:`CleanRequest` (installed as the app's ``request_class``) cleans every
query-string and form value and key, every uploaded file's name and every string of a JSON body
before a view sees them, so a route added later is covered without doing anything.
:class:`InputForm`, the base of every form, adds the one-line part for ``<input>`` fields and
accepts a JSON body only as an object of strings. Path segments are not changed: they are ids
and tokens, compared, never stored.

**Ids in URLs**: :class:`BoundedIntConverter` replaces Werkzeug's ``int`` converter so
``<int:...>`` matches only 1..2^31-1 (PostgreSQL's ``integer``, the type of our primary keys);
any other number is a 404 before a query is made (PostgreSQL raised "integer out of range",
SQLite overflowed above 2^63).
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from flask import Flask, Request
from flask_wtf import FlaskForm
from werkzeug.datastructures import FileStorage, ImmutableMultiDict, MultiDict
from werkzeug.routing import IntegerConverter
from wtforms import TextAreaField
from werkzeug.routing import ValidationError
from flask import request
from flask_wtf.form import _Auto, _is_submitted

#: The largest id a URL may carry: PostgreSQL ``integer`` (our primary keys).
MAX_ID = 2**31 - 1

# C0 except TAB/LF, DEL, C1, bidi embeddings/overrides/isolates, lone surrogates.
_REMOVED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_LINE_BREAKS = re.compile("\r\n?")
_ONE_LINE = re.compile("[\t\n]")


def clean_text(value: str, *, multiline: bool = True) -> str:
    """Apply the control-character rule of this module to ``value`` and return the result.

    ``multiline=False`` (one-line fields) also turns TAB and LF into spaces. Never raises;
    a value without such characters is returned unchanged.
    """
    value = _REMOVED.sub("", _LINE_BREAKS.sub("\n", value))
    if not multiline:
        value = _ONE_LINE.sub(" ", value)
    return value


def shown(value: str) -> str:
    """``value`` safe to echo back in a message (an unknown id, a wrong parameter): every
    character :func:`clean_text` would remove, and TAB/LF, as U+FFFD, so a NUL in a URL is
    neither sent back raw (invalid in XML, invisible in JSON) nor silently dropped."""
    return _ONE_LINE.sub("\ufffd", _REMOVED.sub("\ufffd", value))


def clean_value(value):
    """:func:`clean_text` applied to every string inside ``value`` (JSON: dicts, lists, and
    dict keys); other values are returned as they are."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [clean_value(v) for v in value]
    if isinstance(value, dict):
        return {clean_text(k) if isinstance(k, str) else k: clean_value(v) for k, v in value.items()}
    return value


def _clean_pair(key, value):
    if isinstance(key, str):
        key = clean_text(key)
    if isinstance(value, str):
        value = clean_text(value)
    elif isinstance(value, FileStorage) and value.filename:
        value.filename = clean_text(value.filename, multiline=False)
    return key, value


class CleanMultiDict(ImmutableMultiDict):
    """The request's ``args``, ``form`` and ``files``: an immutable multi-dict whose keys,
    string values and file names were cleaned by :func:`clean_text` when it was built; pairs
    without a string key are dropped."""

    def __init__(self, mapping=None):
        if mapping is None:
            pairs = []
        elif isinstance(mapping, MultiDict):
            pairs = list(mapping.items(multi=True))
        elif isinstance(mapping, Mapping):
            pairs = [(k, v) for k, vs in mapping.items()
                     for v in (vs if isinstance(vs, (list, tuple)) else [vs])]
        else:
            pairs = list(mapping)
        # A multipart part whose name header is broken (a CR inside it) arrives with the name
        # None: it cannot be any field, and code iterating the keys expects strings.
        super().__init__([_clean_pair(k, v) for k, v in pairs if isinstance(k, str)])


class CleanRequest(Request):
    """Flask's request with every text a person sends cleaned (see the module docstring).

    :func:`init_app` puts it in front of the app's current ``request_class`` (htmx-flask
    installs its own), so both behaviours hold.
    """

    parameter_storage_class = CleanMultiDict

    def get_json(self, force=False, silent=False, cache=True):
        """As :meth:`flask.Request.get_json`, with every string of the body cleaned."""
        return clean_value(super().get_json(force=force, silent=silent, cache=cache))


class BoundedIntConverter(IntegerConverter):
    """Werkzeug's ``int`` converter limited to ids: 1..:data:`MAX_ID` unless the rule says
    otherwise (``<int(min=0):n>``). Any other number does not match the rule, so it is a 404."""

    def __init__(self, map, fixed_digits=0, min=1, max=MAX_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)

    def to_python(self, value: str):
        # int() of a many-thousand-digit string is slow (and refused past 4300 digits).
        if len(value.lstrip("-0")) > len(str(MAX_ID)):
            raise ValidationError()
        return super().to_python(value)


def _one_line(value):
    return clean_text(value, multiline=False) if isinstance(value, str) else value


def _json_value(value):
    """A JSON form value as a form field would get it: text, numbers as text, else nothing."""
    if isinstance(value, bool):
        return "y" if value else ""
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


class InputForm(FlaskForm):
    """Base of every form of the portal (Flask-WTF: CSRF, translated messages).

    Adds the one-line rule of :func:`clean_text` to every field that is not a ``<textarea>``
    and reads a JSON body only as an object whose values are strings, numbers, booleans or lists
    of them (anything else is as if the field was not sent), so a body such as ``[1, 2]`` or
    ``{"description": {"a": 1}}`` is a validation error, never a crash.
    """

    class Meta(FlaskForm.Meta):
        def bind_field(self, form, unbound_field, options):
            if unbound_field.field_class is not TextAreaField:
                filters = (*unbound_field.kwargs.get("filters", ()), _one_line)
                options = {**options, "filters": filters}
            return super().bind_field(form, unbound_field, options)

        def wrap_formdata(self, form, formdata):
            if formdata is _Auto and _is_submitted() and not request.files and not request.form \
                    and request.is_json:
                body = request.get_json(silent=True)
                pairs = []
                if isinstance(body, dict):
                    for key, value in body.items():
                        for item in (value if isinstance(value, list) else [value]):
                            text = _json_value(item)
                            if text is not None:
                                pairs.append((key, text))
                return ImmutableMultiDict(pairs)
            return super().wrap_formdata(form, formdata)


def init_app(app: Flask) -> None:
    """Install :class:`CleanRequest` and :class:`BoundedIntConverter` (as ``int``) on ``app``.

    Must run after the extensions that replace ``request_class`` (htmx-flask) and before any
    blueprint is registered: a rule takes its converter when it is added.
    """
    if not issubclass(app.request_class, CleanRequest):
        app.request_class = type("CleanRequest", (CleanRequest, app.request_class), {})
    app.url_map.converters["int"] = BoundedIntConverter
