"""Information for everyone (regulamin pkt 2, 8, 9, 11).

URL map:

- ``GET /procedures`` list and search (``?q=``; htmx swaps ``#procedure-results``)
- ``GET /procedures/<slug>`` one procedure
- ``GET /procedures/for-category?service_code=`` the report form's category help (fragment)
- ``GET /rules/versions``, ``GET /rules/versions/<version>`` the regulamin's versions
- ``GET /rules/attachment`` the attachment to the regulamin (pkt 3), from ``routing.toml``
- ``GET /rules/consent``, ``GET /rules/consent/<version>`` the consent's versions
- ``GET /accessibility`` deklaracja dostępności
- ``GET|POST /contact`` questions to the administrator (pkt 8)
- ``GET /statistics`` (``.csv``, ``.json``) public figures
"""
from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

from flask import Blueprint, abort, current_app, jsonify, render_template, request, url_for
from flask_babel import get_locale

from webapp.clock import utcnow
from webapp.extensions import db, limiter
from webapp.information import procedures as proc
from webapp.information import rules as rules_mod
from webapp.information.content import as_date, load, statement
from webapp.information.forms import ContactForm
from webapp.information.rules import today_local
from webapp.information.services import TOPICS, send_question
from webapp.information.stats import CSV_HEADER, PERIODS, as_csv_rows, bars, published_summary
from webapp.negotiation import wants_fragment
from webapp.routing.services import current_routing

bp = Blueprint("information", __name__)

RESULTS_TARGET = "procedure-results"


def _lang() -> str:
    return str(get_locale() or "pl")


def _root() -> str:
    return current_app.config["CONTENT_DIR"]


def _routing():
    return current_routing()


def _category_names(lang: str) -> dict[str, str]:
    return {code: s.name(lang) for code, s in _routing().services.items()}


def _vary(response, header: str = "HX-Target"):
    response.headers.add("Vary", header)
    return response


@bp.get("/procedures")
def procedures():
    """The procedures, filtered by ``q`` (every word must match; diacritics optional)."""
    lang = _lang()
    q = (request.args.get("q") or "").strip()[:100]
    results = proc.search(proc.all_procedures(_root(), lang), q, _category_names(lang))
    template = "information/_procedure_results.html" if wants_fragment(RESULTS_TARGET) \
        else "information/procedures.html"
    return _vary(current_app.make_response(render_template(template, q=q, results=results)))


@bp.get("/procedures/for-category")
def category_help():
    """The help shown under the report form's category: procedures about the chosen category."""
    code = request.args.get("service_code") or ""
    return render_template("information/_category_help_links.html", code=code)


@bp.get("/procedures/<slug>")
def procedure(slug: str):
    """One procedure page, with links to report its categories (category preselected)."""
    lang = _lang()
    page = proc.get_procedure(_root(), slug, lang)
    if page is None:
        abort(404)
    routing = _routing()
    unit = routing.units.get(page.unit)
    categories = [routing.services[c] for c in page.categories if c in routing.services]
    return render_template("information/procedure.html", page=page, unit=unit, categories=categories)


@bp.get("/rules/versions")
def rules_versions():
    """Every version of the regulamin and of the consent, newest first, the one in force marked."""
    today = today_local()
    return render_template("information/rules_versions.html",
                           versions=rules_mod.versions(_root(), "regulamin"),
                           current=rules_mod.current(_root(), "regulamin", today),
                           consents=rules_mod.versions(_root(), "consent"),
                           current_consent=rules_mod.current(_root(), "consent", today))


@bp.get("/rules/versions/<version>")
def rules_version(version: str):
    """One version of the regulamin as published."""
    found = rules_mod.find(_root(), "regulamin", version)
    if found is None:
        abort(404)
    return render_template("information/rules_version.html", version=found,
                           current=rules_mod.current(_root(), "regulamin", today_local()))


@bp.get("/rules/consent/<version>")
def consent_version(version: str):
    """One version of the consent given with an e-mail address, in every language it has."""
    found = rules_mod.find(_root(), "consent", version)
    if found is None:
        abort(404)
    return render_template("information/consent_version.html", version=found)


@bp.get("/rules/attachment")
def attachment():
    """The attachment to the regulamin (pkt 3): every category, its unit, auto or operator."""
    return render_template("information/attachment.html", rows=rules_mod.attachment(_routing(), _lang()))


#: "... through the contact form{admin_email}." when ADMIN_EMAIL is set, per language of the text.
_OR_BY_EMAIL = {"pl": " lub e-mailem:", "en": " or by e-mail:", "uk": " або електронною поштою:"}


def _statement_values(lang: str, topic: str = "question") -> dict[str, str]:
    admin = current_app.config.get("ADMIN_EMAIL")
    return {
        "contact_url": url_for("information.contact", topic=topic),
        "admin_email": f"{_OR_BY_EMAIL.get(lang, _OR_BY_EMAIL['pl'])} [{admin}](mailto:{admin})" if admin else "",
        "retention_days": str(int(current_app.config.get("EMAIL_RETENTION_DAYS", 365))),
    }


def _date_values(meta: dict) -> dict[str, str]:
    return {k: as_date(meta[k], k).strftime("%d.%m.%Y") for k in ("published", "updated", "prepared") if meta.get(k)}


@bp.get("/accessibility")
def accessibility():
    """Deklaracja dostępności (ustawa z 4 kwietnia 2019 r. o dostępności cyfrowej, art. 10),
    from ``content/accessibility/<lang>.md``."""
    meta = load(Path(_root()) / "accessibility" / "pl.md").meta
    doc, text_lang, html = statement(_root(), "accessibility", _lang(),
                                     lambda lang: {**_statement_values(lang, "accessibility"), **_date_values(meta)})
    return render_template("information/statement.html", doc=doc, text_lang=text_lang, html=html,
                           title=doc.meta.get("title"))


def privacy_notice():
    """The privacy notice (klauzula informacyjna RODO, art. 13) with the retention period
    (``EMAIL_RETENTION_DAYS``) and the contact (``ADMIN_EMAIL``, the contact form) filled in;
    served at ``/privacy`` by the pages blueprint."""
    doc, text_lang, html = statement(_root(), "privacy", _lang(),
                                     lambda lang: _statement_values(lang, "personal_data"))
    return render_template("information/statement.html", doc=doc, text_lang=text_lang, html=html,
                           title=doc.meta.get("title"))


def procedures_for(code: str | None) -> list:
    """Template helper: procedures that concern the category ``code`` (``[]`` for none)."""
    if not code:
        return []
    return proc.for_category(_root(), code, _lang())


def _contact_rate_limit() -> str:
    return current_app.config.get("CONTACT_RATE_LIMIT", "10 per hour;3 per minute")


def _stored(response) -> bool:
    return response.status_code < 400


def _new_contact_form():

    form = ContactForm()
    form.client_id.data = str(uuid.uuid4())
    topic = request.args.get("topic")
    if topic in TOPICS:
        form.topic.data = topic
    return form


def _topics():
    return TOPICS


@bp.get("/contact")
def contact():
    """The form for questions to the administrator (``?topic=`` preselects one)."""
    return render_template("information/contact.html", form=_new_contact_form(), topics=_topics())


@bp.post("/contact")
@limiter.limit(_contact_rate_limit, methods=["POST"], deduct_when=_stored)
@limiter.limit(lambda: current_app.config["REPORT_ATTEMPT_RATE_LIMIT"], methods=["POST"])
def contact_send():
    """Queue the question for the administrator; 201 with the reference number (200 when the
    same form was sent before), 422 with the form and its errors."""
    form = ContactForm()
    if not form.validate():
        return render_template("information/contact.html", form=form, topics=_topics()), 422
    lang = _lang()
    sent = send_question(client_id=form.client_id.data, topic=form.topic.data, message=form.message.data,
                         email=form.email.data or None, consent=bool(form.consent.data),
                         lang=lang,
                         routing=_routing())
    return render_template("information/contact_sent.html", sent=sent), (201 if sent.created else 200)


def _summary():
    return published_summary(current_app._get_current_object(), db.session, utcnow)


def _preparing(body, mimetype: str):
    """202 with Retry-After: the summary's first build is still running (no figures yet)."""
    response = current_app.response_class(body, status=202, mimetype=mimetype)
    response.headers["Retry-After"] = "30"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _period() -> int:
    try:
        days = int(request.args.get("days", 365))
    except ValueError:
        days = 365
    return days if days in PERIODS else 365


@bp.get("/statistics")
def statistics():
    """The public figures for one period (``?days=30|90|365``), with charts and tables; while
    the summary's first build runs, a page saying the figures are being prepared."""
    summary, days, lang = _summary(), _period(), _lang()
    if summary is None:
        return render_template("information/statistics_preparing.html")
    routing = _routing()
    period = summary.periods[days]

    def category(code):
        s = routing.services.get(code)
        return s.name(lang) if s else code

    def unit(uid):
        u = routing.units.get(uid)
        return u.short if u else uid
    return render_template(
        "information/statistics.html", summary=summary, days=days, periods=PERIODS, period=period,
        category=category, units=routing.units,
        category_bars=bars([(category(r.key), r.count) for r in period["categories"]]),
        unit_bars=bars([(unit(r.key), r.count) for r in period["units"]]),
        month_bars=bars([(m, c) for m, c in summary.months], width=210, row=26))


@bp.get("/statistics.json")
def statistics_json():
    """Every figure as JSON (open data); 202 ``{"computed_at": null}`` while being prepared."""
    summary = _summary()
    if summary is None:
        return _preparing('{"computed_at": null}', "application/json")
    response = jsonify(summary.as_dict())
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/statistics.csv")
def statistics_csv():
    """Every figure as CSV (open data, UTF-8, comma-separated, header row); 202 with the
    header only while being prepared."""
    summary = _summary()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    if summary is None:
        return _preparing(out.getvalue(), "text/csv")
    writer.writerows(as_csv_rows(summary))
    response = current_app.make_response(out.getvalue())
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = 'attachment; filename="lckzm-statistics.csv"'
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
