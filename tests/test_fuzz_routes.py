"""Property test (hypothesis): random and malformed requests at every route and form, and not
one answer is a 5xx (issue 14). Runs on whatever database the run uses (SQLite, and PostgreSQL
with ``TEST_DATABASE_URL``).

Routes are found by walking ``app.url_map`` at collection time, so a route added later is a new
test case without touching this file; form field names come from walking every form class.
Each case draws the path parameters (real ids and tokens of a seeded report, ints far outside
any range, NUL, invalid UTF-8, bidi overrides), a query string, a body (urlencoded, multipart
with random bytes or tiny real images as photos, JSON, raw bytes) and htmx/Accept/language
headers, and sends them through the Flask test client. ``TESTING`` propagates exceptions, so a
crash fails with its traceback.

Bounded and reproducible: the ``lckzm-ci`` profile is derandomized (the same examples on every
run, so CI never fails by chance) with a modest ``max_examples`` per route; set
``LCKZM_FUZZ_PROFILE=lckzm-explore`` to search longer with fresh random data when hunting.
"""
from __future__ import annotations

import io
import json
import os
import re
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

settings.register_profile(
    "lckzm-ci", max_examples=20, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck), print_blob=True)
settings.register_profile(
    "lckzm-explore", max_examples=int(os.environ.get("LCKZM_FUZZ_EXAMPLES", "300")), deadline=None, derandomize=False, database=None,
    suppress_health_check=list(HealthCheck), print_blob=True)
PROFILE = settings.get_profile(os.environ.get("LCKZM_FUZZ_PROFILE", "lckzm-ci"))

SKIPPED_METHODS = {"HEAD", "OPTIONS"}  # drawn as extra verbs inside each case instead


def _collection_app():
    """An app built only to read its URL map and forms (no database is touched)."""
    from webapp import create_app
    tmp = tempfile.mkdtemp(prefix="fuzz-routes-")
    return create_app({"TESTING": True, "INSTANCE_PATH": tmp, "SECRET_KEY": "collect",
                       "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/unused.sqlite",
                       "MEDIA_ROOT": f"{tmp}/media", "MAIL_OUTBOX_DIR": f"{tmp}/outbox"})


def route_cases(app) -> list[tuple[str, str]]:
    """Every (rule, method) the app serves, HEAD and OPTIONS aside."""
    return sorted((rule.rule, method) for rule in app.url_map.iter_rules()
                  for method in rule.methods - SKIPPED_METHODS)


def form_classes() -> list[type]:
    """Every form class of the portal (subclasses of Flask-WTF's FlaskForm, loaded by the app)."""
    from flask_wtf import FlaskForm
    found, todo = [], [FlaskForm]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("webapp."):
                found.append(sub)
    return found


def form_field_names() -> list[str]:
    names = {"csrf_token"}
    for cls in form_classes():
        names.update(name for name, value in vars(cls).items()
                     if hasattr(value, "field_class"))
    return sorted(names)


def query_names(app) -> list[str]:
    """Query parameters the app reads (``args.get("x")``, ``args["x"]`` in the source of its
    modules), found by reading the source so new parameters are fuzzed too."""
    import inspect
    import sys
    names = set()
    for module in [m for name, m in sorted(sys.modules.items()) if name.startswith("webapp")]:
        try:
            source = inspect.getsource(module)
        except (OSError, TypeError):
            continue
        names.update(re.findall(r"args(?:\.get\(|\[)\s*[\"']([A-Za-z_]+)[\"']", source))
    return sorted(names)


_COLLECTED = _collection_app()
ROUTES = route_cases(_COLLECTED)
FIELD_NAMES = form_field_names()
QUERY_NAMES = query_names(_COLLECTED)


# --- strategies ------------------------------------------------------------------------------

NASTY = ["\x00", "\x1b[2J", "\u202e", "\u2066", "\r", "\n", "\t", "\x7f", "\x85", "\ufeff",
         "\u2028", "%00", "%", "../", "..\\", "'", "\"", "<script>", "{{7*7}}", "%(x)s", "{0}",
         "ł", "ї", "😀", "\uffff", " ", ""]
LODZ = ["51.7592", "19.4560", "51,7592", "19,456"]
SPECIAL = [
    "0", "-1", "1", "2147483647", "2147483648", "9223372036854775808", "-9223372036854775809",
    "1" + "0" * 40, "9" * 5000, "nan", "NaN", "inf", "-inf", "1e308", "1e-308", "-0.0", "0x10",
    "true", "null", "[]", "{}", "ROAD_POTHOLE", "OTHER", "open", "closed", "in_progress",
    "resolved", "rejected", "forwarded", "accepted", "zdit", "device", "photo", "manual", "y",
    "pl", "uk", "en", "mieszkaniec@example.org", "a@b", str(uuid.UUID(int=0)),
    datetime.min.isoformat(), datetime.max.isoformat(),
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "0001-03-01T00:00:00Z",
    "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59+14:00", "2026-02-30", "2026-13-01",
    (datetime.now(timezone.utc) - timedelta(days=1)).isoformat(), *LODZ, *NASTY,
]


HOSTILE_INTS = ["2147483648", "9223372036854775808", "18446744073709551616", "2147483647",
                "0", "-1", "1" + "0" * 30, "9" * 5000, "٣", "١٢", "1.0", "0x1"]


def invalid_utf8() -> st.SearchStrategy[str]:
    """Bytes that are not UTF-8, as a str holding them with surrogateescape (re-encodable)."""
    return st.binary(min_size=1, max_size=12).map(lambda b: (b + b"\xff\xc3").decode(
        "utf-8", "surrogateescape"))


# NUL first: hypothesis tries early and shrinks towards the first element.
POISON = ["\x00", "\u202e", "\x1b[0m", "", "\x85\r", "\x00\x07"]


def _poison(parts) -> str:
    text, poison, at = parts
    return text[:at] + poison + text[at:]


def hostile_text() -> st.SearchStrategy[str]:
    """Text a hostile client might send: specials, control characters, any unicode, bad UTF-8;
    mostly with a NUL, an escape or a bidi override somewhere in it."""
    return st.tuples(_base_text(), st.sampled_from(POISON), st.integers(0, 40)).map(_poison)


def _base_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(SPECIAL),
        st.text(max_size=40),
        st.lists(st.sampled_from(NASTY + ["Dziura w jezdni ", "ul. Piotrkowska 104"]),
                 max_size=6).map("".join),
        invalid_utf8(),
        st.integers().map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.text(min_size=255, max_size=4100, alphabet="ab\x00\u202e ł"),
    )


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _quote(text: str) -> str:
    return quote_from_bytes(_bytes(text), safe="")


def _tiny_image(fmt: str) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (120, 90, 60)).save(buf, fmt)
    return buf.getvalue()


IMAGES = [_tiny_image("JPEG"), _tiny_image("PNG"), _tiny_image("WEBP"),
          _tiny_image("JPEG")[:60], b"GIF89a" + bytes(20), b"", b"\x00" * 64,
          b"\xff\xd8\xff\xe0" + os.urandom(0) + b"JFIF" * 10]


def photo_files() -> st.SearchStrategy:
    content = st.one_of(st.sampled_from(IMAGES), st.binary(max_size=2048))
    name = st.one_of(st.sampled_from(["a.jpg", "photo.HEIC", "", "..\\x.png", "a\x00.jpg",
                                      "\u202egpj.exe"]), st.text(max_size=30))
    return st.lists(st.tuples(content, name), max_size=6)


def json_values() -> st.SearchStrategy:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                        hostile_text().filter(lambda s: not re.search("[\udc80-\udcff]", s)),
                        st.just("\ud800"))
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8)),
                        inner, max_size=6)), max_leaves=12)


def field_pairs(names: list[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    key = st.one_of(st.sampled_from(names), st.sampled_from(names), st.sampled_from(names),
                    hostile_text())
    return st.lists(st.tuples(key, hostile_text()), max_size=10)


def headers() -> st.SearchStrategy[dict]:
    latin1 = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                   exclude_characters="\x7f"), max_size=40)
    options = {
        "Accept": st.one_of(st.sampled_from(["application/json", "text/html", "*/*",
                                             "application/json;q=0.5, text/html;q=0.4",
                                             "image/*", "application/json;q=abc"]), latin1),
        "Accept-Language": st.one_of(st.sampled_from(["pl", "uk", "en", "de", "*",
                                                      "pl;q=x", "uk-UA,uk;q=0.9"]), latin1),
        "HX-Request": st.sampled_from(["true", "false", ""]),
        "HX-Target": st.one_of(st.sampled_from(["report-list", "status-form", "report-form",
                                                "body"]), latin1),
        "HX-Boosted": st.just("true"),
        "HX-History-Restore-Request": st.just("true"),
        "HX-Current-URL": latin1,
        "X-CSRFToken": latin1,
        "If-None-Match": latin1,
        "If-Modified-Since": st.sampled_from(["Thu, 01 Jan 1970 00:00:00 GMT", "garbage",
                                              "Fri, 31 Dec 9999 23:59:59 GMT"]),
        "Range": st.sampled_from(["bytes=0-10", "bytes=-1", "bytes=999999-", "bytes=x"]),
        "Cookie": st.one_of(st.sampled_from(["lang=uk", "lang=\x00", "session=garbage",
                                             "session=.eJw.x.y"]), latin1.map(lambda s: f"lang={s}")),
    }
    return st.fixed_dictionaries({}, optional=options)


@st.composite
def path_for(draw, rule, world):
    """A path for ``rule``: each parameter a real value of the seeded world or a hostile one."""
    from werkzeug.routing import IntegerConverter
    path = rule.rule
    for name, converter in rule._converters.items():
        if isinstance(converter, IntegerConverter):
            value = draw(st.one_of(
                st.sampled_from([str(i) for i in world["ints"]]),
                st.sampled_from(HOSTILE_INTS),
                st.integers(min_value=-2**80, max_value=2**80).map(str)))
        else:
            known = world["strings"].get(name, []) or ["x"]
            value = draw(st.one_of(st.sampled_from(known), hostile_text(),
                                   st.sampled_from(known).map(lambda k: k + "\x00"),
                                   st.sampled_from(known).map(lambda k: k[:-3])))
        path = re.sub(rf"<(?:[^:<>]+:)?{re.escape(name)}>", lambda _: _quote(value), path)
    return path


@st.composite
def requests(draw, rule, method, world):
    """Keyword arguments for ``client.open``."""
    kwargs = {"path": draw(path_for(rule, world)),
              "method": method if method != "GET" else draw(st.sampled_from(
                  ["GET"] * 6 + ["HEAD", "OPTIONS", "PUT", "DELETE"])),
              "headers": draw(headers())}
    query = draw(field_pairs(QUERY_NAMES))
    if query:
        kwargs["query_string"] = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in query)
    if method in {"POST", "PUT", "PATCH", "DELETE"}:
        kind = draw(st.sampled_from(["form", "form", "multipart", "multipart", "json", "raw",
                                     "none"]))
        # A valid report and a valid status change, with a few fields made hostile, a few
        # left out and random ones added: mostly past validation, so the deep paths run.
        base = {"client_id": str(uuid.uuid4()), "service_code": "ROAD_POTHOLE",
                "description": "Dziura w jezdni przy przejściu.", "lat": "51.7592",
                "long": "19.4560", "location_source": "device",
                "address_string": "ul. Piotrkowska 104", "email": "", "status": "in_progress",
                "note": "Ekipa wyjedzie jutro.", "target_unit": ""}
        for key in draw(st.sets(st.sampled_from(sorted(base)), max_size=3)):
            base[key] = draw(st.one_of(hostile_text(), hostile_text().map(
                lambda t, v=base[key]: v + t)))
        for key in draw(st.sets(st.sampled_from(sorted(base)), max_size=2)):
            del base[key]
        if draw(st.booleans()):
            base.update(email="mieszkaniec@example.org", consent="y")
        extra = draw(field_pairs(FIELD_NAMES))
        pairs = [*base.items(), *extra]
        if kind == "form":
            kwargs["data"] = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in pairs)
            kwargs["content_type"] = "application/x-www-form-urlencoded"
        elif kind == "multipart":
            data = {}
            for k, v in pairs:
                text_value = _bytes(v).decode("utf-8", "replace")
                data.setdefault(_bytes(k).decode("utf-8", "replace"), []).append(text_value)
            if draw(st.booleans()):
                data["media"] = [(io.BytesIO(content), name)
                                 for content, name in draw(photo_files())]
            kwargs["data"] = data
            kwargs["content_type"] = "multipart/form-data"
        elif kind == "json":
            body = draw(st.one_of(st.just(dict(pairs)), json_values()))
            kwargs["data"] = json.dumps(body)
            kwargs["content_type"] = "application/json"
        elif kind == "raw":
            kwargs["data"] = draw(st.binary(max_size=512))
            kwargs["content_type"] = draw(st.sampled_from(
                ["application/json", "multipart/form-data; boundary=x", "multipart/form-data",
                 "application/x-www-form-urlencoded", "text/plain", "application/json; charset=latin1"]))
    return kwargs


# --- the seeded world and the tests ----------------------------------------------------------

def _seed(app) -> dict:
    """One dispatched report with a photo, a unit link and a tracking token; returns the real
    values path parameters can take."""
    from tests.factories import dispatched
    from webapp.departments.services import link_token
    from webapp.extensions import db
    from webapp.photos.pipeline import process_photo
    from webapp.photos.services import save_photo
    from webapp.reports.services import token_hash, tracking_token
    with app.app_context():
        report, link = dispatched()
        photo = save_photo(process_photo(IMAGES[0], filename="a.jpg"), report=report, position=0)
        tracking = tracking_token(report.client_id)
        report.tracking_token_hash = token_hash(tracking)
        db.session.commit()
        return {"ints": [report.id, photo.id],
                "strings": {"token": [link_token(link), tracking],
                            "service_request_id": [str(report.id)],
                            "fmt": ["json", "xml"], "service_code": ["STREET_LIGHT"],
                            "filename": ["css/app.css", "js/app.js", "manifest.json"]}}


def _case_id(case):
    return f"{case[1]} {case[0]}"


def _run(app, world, rule_text, method, data):
    rule = next(r for r in app.url_map.iter_rules() if r.rule == rule_text)
    client = app.test_client()
    kwargs = data.draw(requests(rule, method, world))
    response = client.open(**kwargs)
    body = response.get_data()
    assert response.status_code < 500, (kwargs, response.status_code, body[:500])


@pytest.fixture
def fuzz_app(make_app):
    """CSRF off, rate limits off: every request reaches the real handler. Built once per
    case (route) and shared by all its examples."""
    app = make_app(WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
    return app, _seed(app)


@pytest.fixture
def fuzz_app_csrf(make_app):
    """The production setting: the CSRF check sees the same hostile requests first."""
    app = make_app(WTF_CSRF_ENABLED=True, RATELIMIT_ENABLED=False)
    return app, _seed(app)


@pytest.mark.parametrize("case", ROUTES, ids=_case_id)
@settings(PROFILE)
@given(data=st.data())
def test_no_route_answers_5xx(fuzz_app, case, data):
    _run(*fuzz_app, *case, data)


POST_ROUTES = [case for case in ROUTES if case[1] != "GET"]


@pytest.mark.parametrize("case", POST_ROUTES, ids=_case_id)
@settings(PROFILE, max_examples=max(5, PROFILE.max_examples // 2))
@given(data=st.data())
def test_no_route_answers_5xx_with_csrf_on(fuzz_app_csrf, case, data):
    _run(*fuzz_app_csrf, *case, data)


def canonical_requests(rule, method, world) -> list[dict]:
    """The known-bad inputs of issue 14 for one route, tried every run (hypothesis explores
    around them): each path parameter at the range ends, each query parameter and each form
    field with a NUL / escape / bidi override, as a form, a multipart body and JSON."""
    from werkzeug.routing import IntegerConverter
    paths = []
    values = {name: (world["ints"][:1] if isinstance(conv, IntegerConverter)
                     else world["strings"].get(name, ["x"])[:1])
              for name, conv in rule._converters.items()}

    def build(overrides):
        path = rule.rule
        for name in rule._converters:
            value = str(overrides.get(name, values[name][0]))
            path = re.sub(rf"<(?:[^:<>]+:)?{re.escape(name)}>", _quote(value), path)
        return path

    paths.append(build({}))
    for name, conv in rule._converters.items():
        bad = HOSTILE_INTS if isinstance(conv, IntegerConverter) else \
            [f"{values[name][0]}{p}" for p in POISON] + ["\x00", "..", "%2e%2e"]
        paths.extend(build({name: value}) for value in bad)
    out = []
    for path in paths:
        out.append({"path": path, "method": method})
    good = paths[0]
    hostile = ["x\x00y", "\u202e\x1b[31m", "-1", "1" + "0" * 30, "9" * 5000, "nan",
               "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
    if method == "GET":
        for value in hostile:  # every parameter at once
            out.append({"path": good, "method": method, "query_string": "&".join(
                f"{name}={_quote(value)}" for name in QUERY_NAMES)})
        for name in QUERY_NAMES:  # one at a time, so one parameter's 400 hides no other
            out.append({"path": good, "method": method, "query_string": f"{name}=%00"})
        return out
    base = {"client_id": str(uuid.uuid4()), "service_code": "ROAD_POTHOLE",
            "description": "Dziura w jezdni przy przejściu.", "lat": "51.7592", "long": "19.4560",
            "address_string": "ul. Piotrkowska 104", "status": "in_progress",
            "note": "Ekipa wyjedzie jutro."}
    for name in FIELD_NAMES:
        fields = {**base, "client_id": str(uuid.uuid4()), name: "\x00"}
        out.append({"path": good, "method": method, "data": dict(fields)})
        fields = {**base, "client_id": str(uuid.uuid4()),
                  name: f"{base.get(name, '')} \x00\u202e\x1b[0m\ud800 przy przejściu."}
        out.append({"path": good, "method": method, "data": json.dumps(fields),
                    "content_type": "application/json", "headers": {"Accept": "application/json"}})
        fields["client_id"] = str(uuid.uuid4())
        fields[name] = fields[name].replace("\ud800", "")
        out.append({"path": good, "method": method, "headers": {"HX-Request": "true"},
                    "data": {**fields, "media": [(io.BytesIO(IMAGES[0]), "a\x00.jpg")]}})
    for body in ("[1, 2]", '"text"', "null", '{"description": {"a": 1}}', "{", '"\\ud800"'):
        out.append({"path": good, "method": method, "data": body,
                    "content_type": "application/json"})
    return out


@pytest.mark.parametrize("case", ROUTES, ids=_case_id)
def test_known_hostile_inputs_per_route(fuzz_app, case):
    app, world = fuzz_app
    rule = next(r for r in app.url_map.iter_rules() if r.rule == case[0])
    client = app.test_client()
    for kwargs in canonical_requests(rule, case[1], world):
        response = client.open(**kwargs)
        assert response.status_code < 500, (kwargs, response.status_code)


def test_every_route_and_form_is_fuzzed(app):
    """Fails when a route or form escapes the property test above (e.g. a new converter with
    no strategy, a form not built on webapp.inputs.InputForm)."""
    from werkzeug.routing import AnyConverter, IntegerConverter, PathConverter, UnicodeConverter
    from webapp.inputs import InputForm
    assert route_cases(app) == ROUTES
    assert {"/report", "/reports/<int:report_id>", "/departments/links/<token>"} <= \
        {rule for rule, _ in ROUTES}
    for rule in app.url_map.iter_rules():
        for name, converter in rule._converters.items():
            assert isinstance(converter, (IntegerConverter, UnicodeConverter, PathConverter,
                                          AnyConverter)), \
                f"{rule.rule}: no strategy for the converter of <{name}>"
    forms = form_classes()
    assert forms, "no form classes found"
    for form in forms:
        assert issubclass(form, InputForm), f"{form.__name__} does not apply the input rule"
    assert {"description", "address_string", "client_id", "note", "status"} <= set(FIELD_NAMES)
