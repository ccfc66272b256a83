"""What the Open311 endpoints answer, as plain lists and dicts (formatting is
:mod:`webapp.open311.formats`' job). Every failure raises
:class:`~webapp.open311.params.Open311Error`."""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from flask import current_app, url_for
from flask_babel import get_locale, gettext as _

from webapp.clock import utcnow
from webapp.open311 import openapi, serialize
from webapp.open311.apikeys import authenticate
from webapp.open311.forms import Open311RequestForm
from webapp.open311.media import MediaError, fetch_media
from webapp.open311.paging import etag_for, not_modified
from webapp.open311.params import (BadParameter, Open311Error, check_jurisdiction, is_true,
                                   parse_requests_query)
from webapp.photos.limits import DecodeBusy
from webapp.photos.storage import StorageUnavailable
from webapp.reports import queries
from webapp.reports.models import Status
from webapp.reports.services import SubmissionError, find_by_client_id, submit_report
from webapp.routing.services import current_routing

#: Namespace of the UUID5 client ids made for apps' POSTs (see :func:`_client_id`).
CLIENT_ID_NAMESPACE = uuid.UUID("6f0d3c52-4e0b-5b8e-9a51-0d1c0e311a01")


def list_services(args: Mapping[str, str], lang: str) -> list[dict]:
    """``GET services``: every category of ``routing.toml`` in file order."""
    check_jurisdiction(args, current_app.config["OPEN311_JURISDICTION_ID"])
    config = current_routing()
    return [serialize.service_json(config, service, lang) for service in config.services.values()]


def service_definition(service_code: str, args: Mapping[str, str], lang: str) -> dict:
    """``GET service definition``: the category's extra questions; 404 for an unknown code."""
    check_jurisdiction(args, current_app.config["OPEN311_JURISDICTION_ID"])
    service = current_routing().service(service_code)
    if service is None:
        raise Open311Error(404, _("Unknown service_code: %(codes)s. See services.xml for the "
                                  "list.", codes=service_code))
    return serialize.service_definition_json(service, lang)


@dataclass
class CachedAnswer:
    """``data`` (None: the client's copy is current, answer 304), its ``etag`` and the data's
    ``updated_at`` (Last-Modified)."""

    data: list[dict] | None
    etag: str
    updated_at: object


def list_requests_cached(request, lang: str) -> CachedAnswer:
    """:func:`list_requests` behind an ETag of the data version, the query and the language."""
    version = queries.data_version()
    etag = etag_for(version.tag, request.query_string + request.path.encode(), lang)
    if not_modified(request, etag, version.updated_at):
        return CachedAnswer(None, etag, version.updated_at)
    return CachedAnswer(list_requests(request.args, lang), etag, version.updated_at)


def list_requests(args: Mapping[str, str], lang: str) -> list[dict]:
    """``GET requests`` with the filters of :func:`~webapp.open311.params.parse_requests_query`,
    newest first, one page: from plain rows, or from full reports with ``extensions=true``
    (which needs their status history)."""
    config = current_routing()
    query = parse_requests_query(args, known_codes=config.services.keys(),
                                 jurisdiction_id=current_app.config["OPEN311_JURISDICTION_ID"],
                                 now=utcnow())
    status = next(iter(query.statuses)) if len(query.statuses) == 1 else None
    rows = queries.open311_requests(ids=query.ids, codes=query.codes, start=query.start,
                                    end=query.end, status=status, page=query.page,
                                    page_size=query.page_size, full=query.extensions)
    media = serialize.media_url_template()
    return [serialize.request_json(config, row, lang, media, extensions=query.extensions)
            for row in rows]


def get_request(service_request_id: str, args: Mapping[str, str], lang: str) -> list[dict]:
    """``GET service request``: a one-element list; 404 for an unknown or malformed id."""
    check_jurisdiction(args, current_app.config["OPEN311_JURISDICTION_ID"])
    report = None
    if service_request_id.isascii() and service_request_id.isdigit() and len(service_request_id) <= 12:
        report = queries.get_report(int(service_request_id))
    if report is None:
        raise Open311Error(404, _("There is no service request %(id)s.", id=service_request_id))
    return [serialize.request_json(current_routing(), queries.Open311Row.of(report), lang,
                                   serialize.media_url_template(),
                                   extensions=is_true(args.get("extensions")))]


def openapi_description() -> dict:
    """The OpenAPI 3.1 description (:mod:`webapp.open311.openapi`) with this server's URLs."""
    base = url_for("open311.services_list", fmt="json").rsplit("/", 1)[0]
    return openapi.describe(base, base.rsplit("/", 1)[0])


def discovery() -> dict:
    """The GeoReport v2 service discovery document: changeset, contact, key service and the
    endpoint (production) with its formats."""
    changeset = current_app.config["OPEN311_CHANGESET"]
    base = url_for("open311.services_list", fmt="xml", _external=True).rsplit("/", 1)[0] + "/"
    return {
        "changeset": changeset,
        "contact": _("Łódź resident reporting portal, %(email)s",
                     email=current_app.config.get("ADMIN_EMAIL") or ""),
        "key_service": _("Ask for an API key by e-mail: %(email)s (give the app's name and a "
                         "contact).", email=current_app.config.get("ADMIN_EMAIL") or ""),
        "endpoints": [{
            "specification": "http://wiki.open311.org/GeoReport_v2",
            "url": base,
            "changeset": changeset,
            "type": "production",
            "formats": ["text/xml", "application/json"],
        }],
    }


# --------------------------------------------------------------------------- POST requests

def _submission_settings() -> dict:
    """What :func:`submit_report` needs from the app, as for the portal's own form (the same
    consent text: the app attests the resident agreed to it with ``email_consent=true``)."""
    config = current_app.config
    return {"routing": current_routing(), "boundary": current_app.extensions["boundary"],
            "max_photos": config["PHOTO_MAX_COUNT"], "max_photo_bytes": config["PHOTO_MAX_BYTES"],
            "consent_text": _("I agree to the processing of my e-mail address to receive "
                              "updates about this report."),
            "consent_version": config["CONSENT_VERSION"], "secret_key": config["SECRET_KEY"]}


def _client_id(key_id: int, form, attributes: dict, idempotency_header: str | None) -> str:
    """The report's ``client_id`` for an app's POST: a UUID5 of the key and the client's
    ``Idempotency-Key`` (header or ``idempotency_key``), else of the key, ``device_id`` and a
    hash of what was sent, so a retried identical POST returns the first report."""
    given = (idempotency_header or form.idempotency_key.data or "").strip()
    if not given:
        payload = json.dumps([form.service_code.data, form.description.data, form.lat.data,
                              form.long.data, form.address_string.data, form.email.data,
                              form.media_url.data, attributes], sort_keys=True, default=str)
        given = f"{form.device_id.data or ''}:{hashlib.sha256(payload.encode()).hexdigest()}"
    return str(uuid.uuid5(CLIENT_ID_NAMESPACE, f"open311:{key_id}:{given}"))


def _uploads(media_url: str | None) -> list:
    if not (media_url or "").strip():
        return []
    config = current_app.config
    try:
        return [fetch_media(media_url.strip(), max_bytes=config["PHOTO_MAX_BYTES"],
                            timeout=config["OPEN311_MEDIA_TIMEOUT"],
                            allow_loopback=config["OPEN311_MEDIA_ALLOW_LOOPBACK"])]
    except MediaError as e:
        raise BadParameter(str(e)) from None


def create_request(formdata, *, idempotency_header: str | None = None) -> list[dict]:
    """GeoReport v2 ``POST service request`` through :func:`submit_report`, the portal form's
    own rules (category, inside Łódź, consent with an e-mail, photo checks, idempotency).

    Answers ``[{"service_request_id", "service_notice", "account_id"}]``, or ``[{"token",
    "service_notice", "account_id"}]`` while the report waits for an operator. Raises
    :class:`Open311Error`: 400 (missing key, bad field or rule: every message), 403 (invalid
    key), 404 (other jurisdiction), 503 (photo storage or decoding busy).
    """
    check_jurisdiction(formdata, current_app.config["OPEN311_JURISDICTION_ID"])
    form = Open311RequestForm(formdata=formdata)
    key = authenticate(formdata.get("api_key"))
    data = form.to_input()
    data.client_id = _client_id(key.id, form, data.attributes, idempotency_header)
    data.consent = is_true(form.email_consent.data)
    data.api_key_id = key.id
    data.location_source = "manual"
    if find_by_client_id(data.client_id) is None:
        data.uploads = _uploads(form.media_url.data)
    try:
        submitted = submit_report(data, **_submission_settings())
    except SubmissionError as e:
        raise BadParameter("; ".join(f"{field}: {' '.join(map(str, messages))}"
                                     for field, messages in _api_errors(e.errors))) from None
    except (StorageUnavailable, DecodeBusy):
        raise Open311Error(503, _("Photos cannot be saved right now. Try again in a few "
                                  "minutes.")) from None
    return [_created(submitted.report, form.account_id.data or None)]


def _api_errors(errors: dict[str, list]) -> list[tuple[str, list]]:
    """The form's ``{field: [messages]}`` as an app must read them: ``(API field, messages)``.
    The form asks a resident to tick a box; an app has none, it sends ``email_consent``."""
    api = []
    for field, messages in errors.items():
        if field == "consent":
            field, messages = "email_consent", [_(
                "An email needs email_consent=true: send it only when the resident agreed to "
                "the portal's consent text (/rules/consent). Without email_consent, leave the "
                "email out and the report is anonymous.")]
        api.append((field, messages))
    return api


def _created(report, account_id: str | None) -> dict:
    config = current_routing()
    if report.status == Status.AWAITING_MODERATION.value:
        notice = _("An operator of the Łódź Contact Centre will choose the unit responsible "
                   "for this report.")
        return {"token": request_token(report.id), "service_notice": notice,
                "account_id": account_id}
    notice = _("Reports in the category “%(category)s” are sent to %(unit)s.",
               category=config.category_name(report.service_code, str(get_locale() or "pl")),
               unit=config.unit_name(report.agency_responsible))
    return {"service_request_id": str(report.id), "service_notice": notice,
            "account_id": account_id}


def request_token(report_id: int) -> str:
    """The GeoReport ``token`` of a held report: its id and an HMAC of it under
    ``SECRET_KEY`` (so tokens cannot be guessed from ids)."""
    key = current_app.config["SECRET_KEY"].encode()
    mac = hmac.new(key, f"open311-token:{report_id}".encode(), hashlib.sha256).hexdigest()[:24]
    return f"{report_id}-{mac}"


def token_status(token: str, args: Mapping[str, str]) -> list[dict]:
    """GeoReport v2 ``GET request id from a token``: ``[{"service_request_id", "token"}]``;
    the id stays null while an operator has still to release the report. 404 for a token we
    did not make."""
    check_jurisdiction(args, current_app.config["OPEN311_JURISDICTION_ID"])
    report_id, _sep, _mac = token.partition("-")
    report = None
    if report_id.isascii() and report_id.isdigit() and len(report_id) <= 12 \
            and hmac.compare_digest(request_token(int(report_id)), token):
        report = queries.get_report(int(report_id))
    if report is None:
        raise Open311Error(404, _("There is no service request with this token."))
    released = report.status != Status.AWAITING_MODERATION.value
    return [{"service_request_id": str(report.id) if released else None, "token": token}]
