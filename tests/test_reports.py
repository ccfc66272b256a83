"""The resident's report form: submission, location rules, photos, idempotency, consent."""
from __future__ import annotations

import io
import re

import pytest

from webapp.routing.services import current_routing
from sqlalchemy import func, select

from tests.conftest import fixture_photo
from tests.helpers import element_attrs, report_form

from webapp.extensions import db
from webapp.reports.models import Report


def _count(app, model):
    from webapp.extensions import db
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _reports(app):
    from webapp.extensions import db
    from webapp.reports.models import Report
    with app.app_context():
        return db.session.scalars(select(Report)).all()


def _photo(name):
    return (open(fixture_photo(name), "rb"), name)


def test_form_has_open311_fields_and_the_112_notice(client):
    page = client.get("/report").get_data(as_text=True)
    for name in ("service_code", "description", "lat", "long", "address_string", "media", "email",
                 "consent", "client_id", "csrf_token"):
        assert f'name="{name}"' in page, name
    assert "112" in page
    assert "skarg" in page  # formal letters go to the city office
    # consent is never pre-ticked
    import re
    [consent] = re.findall(r'<input id="consent"[^>]*>', page)
    assert "checked" not in consent
    # categories grouped as in routing.toml
    assert "<optgroup" in page and 'value="ROAD_POTHOLE"' in page


def test_report_is_created_routed_and_tracked(app, client):
    r = client.post("/report", data=report_form(client))
    assert r.status_code == 303
    track = r.headers["Location"]
    page = client.get(track).get_data(as_text=True)
    assert "Numer zgłoszenia" in page
    [report] = _reports(app)
    assert report.agency_responsible == "zdit"
    assert report.status == "dispatched"
    assert report.routing_rule == "category:ROAD_POTHOLE"
    assert (report.lat, report.long) == (51.7592, 19.456)
    assert report.email is None and report.consent_version is None
    tr = client.get(track)
    assert tr.headers["Cache-Control"] == "private, no-store"
    assert tr.headers["Referrer-Policy"] == "same-origin"
    assert f"/reports/{report.id}" in tr.get_data(as_text=True)


def test_location_comes_from_the_photo_exif_when_not_given(app, client):
    data = report_form(client, lat="", long="", media=[_photo("derived_lodz_gps_DSCN0025.jpg")])
    r = client.post("/report", data=data, content_type="multipart/form-data")
    assert r.status_code == 303, r.get_data(as_text=True)
    [report] = _reports(app)
    assert report.location_source == "photo"
    assert report.lat == pytest.approx(51.7592, abs=1e-4)
    assert report.long == pytest.approx(19.4560, abs=1e-4)
    from webapp.photos.models import Photo
    assert _count(app, Photo) == 1


@pytest.mark.parametrize("lat,long", [("52.2297", "21.0122"), ("0", "0"), ("91", "19.4"), ("abc", "19.4"),
                                      ("nan", "inf")])
def test_bad_or_out_of_town_location_is_refused_and_text_kept(app, client, lat, long):
    data = report_form(client, lat=lat, long=long, description="Zepsuta latarnia przy szkole nr 5.")
    r = client.post("/report", data=data)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "Zepsuta latarnia przy szkole nr 5." in page  # nothing typed is lost
    assert 'aria-invalid="true"' in page
    assert _count(app, __import__("webapp.reports.models", fromlist=["Report"]).Report) == 0


def test_warsaw_is_named_as_outside_lodz(client):
    r = client.post("/report", data=report_form(client, lat="52.2297", long="21.0122"))
    assert "poza Łodzią" in r.get_data(as_text=True)


@pytest.mark.parametrize("name", ["gps_DSCN0010.jpg", "gps_IMG_5195.HEIC"])
def test_photo_gps_outside_lodz_is_refused(app, client, name):
    data = report_form(client, lat="", long="", media=[_photo(name)])
    r = client.post("/report", data=data, content_type="multipart/form-data")
    assert r.status_code == 422
    assert "poza Łodzią" in r.get_data(as_text=True)
    assert _reports(app) == []


def test_a_text_file_named_jpg_is_refused_by_content(app, client):
    data = report_form(client, media=[(io.BytesIO(b"just some text, not a photo"), "dziura.jpg")])
    r = client.post("/report", data=data, content_type="multipart/form-data")
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "dziura.jpg" in page
    assert _reports(app) == []


def test_replayed_client_id_creates_one_report(app, client):
    data = report_form(client)
    first = client.post("/report", data=dict(data), headers={"Accept": "application/json"})
    second = client.post("/report", data=dict(data), headers={"Accept": "application/json"})
    assert first.status_code == 201 and second.status_code == 200
    assert first.get_json()["service_request_id"] == second.get_json()["service_request_id"]
    assert second.get_json()["created"] is False
    assert first.get_json()["tracking_url"] == second.get_json()["tracking_url"]
    assert len(_reports(app)) == 1


def test_a_report_sent_without_javascript_is_thanked_and_a_replay_is_told_apart(app, client):
    data = report_form(client)
    first = client.post("/report", data=dict(data), follow_redirects=True)
    page = first.get_data(as_text=True)
    assert first.status_code == 200
    assert "Dziękujemy! Twoje zgłoszenie zostało wysłane." in page
    assert "już wcześniej wysłane" not in page
    again = client.post("/report", data=dict(data), follow_redirects=True).get_data(as_text=True)
    assert "To zgłoszenie zostało już wcześniej wysłane." in again
    assert "Dziękujemy!" not in again
    assert len(_reports(app)) == 1


def test_replay_after_a_location_change_still_answers_with_the_first(app, client):
    data = report_form(client)
    client.post("/report", data=dict(data))
    data["lat"] = "52.2297"  # a replay must not be re-judged
    r = client.post("/report", data=data, headers={"Accept": "application/json"})
    assert r.status_code == 200
    assert len(_reports(app)) == 1


def test_missing_csrf_token_is_refused_in_polish(app, client):
    data = report_form(client)
    del data["csrf_token"]
    r = client.post("/report", data=data)
    assert r.status_code == 400
    assert "formularz" in r.get_data(as_text=True).lower()
    assert _reports(app) == []


def test_missing_csrf_token_answers_json_to_the_offline_sync(client):
    data = report_form(client)
    del data["csrf_token"]
    r = client.post("/report", data=data, headers={"Accept": "application/json"})
    assert r.status_code == 400
    assert "formularz" in r.get_json()[0]["description"].lower()


def test_email_needs_explicit_consent(app, client):
    r = client.post("/report", data=report_form(client, email="jan@example.org"))
    assert r.status_code == 422
    assert "zgod" in r.get_data(as_text=True)
    assert 'value="jan@example.org"' in r.get_data(as_text=True)
    r = client.post("/report", data=report_form(client, email="jan@example.org", consent="y"))
    assert r.status_code == 303
    [report] = _reports(app)
    assert report.email == "jan@example.org"
    assert report.consent_version and report.consent_text and report.consent_at


def test_htmx_errors_are_fragments_next_to_fields_and_keep_the_form(client):
    data = report_form(client, lat="52.2297", long="21.0122", description="")
    r = client.post("/report", data=data, headers={"HX-Request": "true", "HX-Target": "report-form"})
    assert r.status_code == 422
    assert r.headers["HX-Reswap"] == "none"
    body = r.get_data(as_text=True)
    assert element_attrs(body, "err-lat") == {"tag": "div", "id": "err-lat",
                                              "class": "field-error", "hx-swap-oob": "true"}
    assert 'id="err-description"' in body and "Opisz problem" in body
    assert "<form" not in body  # the form (and the chosen files) stay as they are


def test_htmx_success_shows_number_public_and_tracking_links(app, client):
    r = client.post("/report", data=report_form(client), headers={"HX-Request": "true"})
    assert r.status_code == 200
    body = r.get_data(as_text=True)
    [report] = _reports(app)
    assert report.number in body
    assert f"/reports/{report.id}" in body
    assert "/t/" in body


def test_htmx_success_tells_the_page_script_what_was_sent_in_a_header(app, client):
    import json
    data = report_form(client)
    r = client.post("/report", data=data, headers={"HX-Request": "true"})
    [report] = _reports(app)
    sent = json.loads(r.headers["HX-Trigger"])["report-sent"]
    assert sent == {"client_id": data["client_id"], "service_request_id": str(report.id), "number": report.number,
                    "status": report.status, "created": True, "public_url": f"/reports/{report.id}",
                    "tracking_url": sent["tracking_url"]}
    assert sent["tracking_url"].startswith("/t/") and f'href="{sent["tracking_url"]}"' in r.get_data(as_text=True)


def test_operator_category_waits_for_moderation(app, client):
    r = client.post("/report", data=report_form(client, service_code="OTHER"))
    assert r.status_code == 303
    [report] = _reports(app)
    assert report.status == "awaiting_moderation"
    from webapp.dispatch.models import OutboxMessage
    assert _count(app, OutboxMessage) == 0


def test_unknown_category_is_refused(app, client):
    r = client.post("/report", data=report_form(client, service_code="NOPE"))
    assert r.status_code == 422
    assert _reports(app) == []


def test_json_errors_for_the_offline_sync(client):
    r = client.post("/report", data=report_form(client, lat="52.2297", long="21.0122"),
                    headers={"Accept": "application/json"})
    assert r.status_code == 422
    assert "lat" in r.get_json()["errors"]


def test_rate_limits_count_stored_reports_and_all_attempts(make_app):
    app = make_app(RATELIMIT_ENABLED=True, REPORT_RATE_LIMIT="2 per minute",
                   REPORT_ATTEMPT_RATE_LIMIT="5 per minute")
    c = app.test_client()
    # corrections do not use up the limit on stored reports...
    assert c.post("/report", data=report_form(c, service_code="NOPE")).status_code == 422
    assert c.post("/report", data=report_form(c, service_code="NOPE")).status_code == 422
    assert c.post("/report", data=report_form(c)).status_code == 303
    assert c.post("/report", data=report_form(c)).status_code == 303
    # ...but a third stored report in a minute is refused, in Polish
    r = c.post("/report", data=report_form(c))
    assert r.status_code == 429 and "Zbyt wiele" in r.get_data(as_text=True)
    # and every attempt counts towards the looser limit
    assert c.post("/report", data=report_form(c, service_code="NOPE")).status_code == 429


def test_every_problem_is_shown_in_one_round(client):
    r = client.post("/report", data=report_form(client, service_code="", lat="", long="",
                                                 email="jan@example.org"))
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    for field in ("service_code", "lat", "consent"):
        assert re.search(rf'id="err-{field}" class="field-error"\s*>\s*<p>', page), field


def test_photo_position_outside_lodz_filled_in_by_the_phone_is_named(client):
    r = client.post("/report", data=report_form(client, lat="43.467448", long="11.885127",
                                                 location_source="photo"))
    assert "Pozycja GPS zdjęcia" in r.get_data(as_text=True)


def test_one_coordinate_alone_asks_for_both(client):
    r = client.post("/report", data=report_form(client, long=""))
    assert r.status_code == 422
    assert "szerokość i długość" in r.get_data(as_text=True)


def test_tracking_page_shows_the_status_history(app, client):
    r = client.post("/report", data=report_form(client))
    track = r.headers["Location"].split("?")[0]
    from webapp.extensions import db
    from webapp.reports.lifecycle import set_status
    from webapp.reports.models import Report
    with app.app_context():
        report = db.session.scalars(select(Report)).one()
        set_status(report, "in_progress", routing=current_routing(), actor_kind="unit", actor_id="zdit",
                   note="Ekipa wyjedzie w czwartek.")
        db.session.commit()
    page = client.get(track).get_data(as_text=True)
    assert "Ekipa wyjedzie w czwartek." in page
    assert "W realizacji" in page and "Przypisane do jednostki" in page
    assert "Ubytek w nawierzchni jezdni" in page  # the category by name, not its code


def test_the_form_asks_a_categorys_questions_and_keeps_the_answers(app, client):
    html = client.get("/report?lang=en").get_data(as_text=True)
    assert 'name="attribute[blocks_road]"' in html and 'data-category="TREE_HAZARD"' in html
    assert "Does the tree or do its branches block the road" in html
    data = report_form(client, service_code="TREE_HAZARD",
                       description="Powalone drzewo leży w poprzek jezdni.")
    refused = client.post("/report?lang=en", data=data)
    assert refused.status_code == 422
    assert "Answer the question: Does the tree" in refused.get_data(as_text=True)
    data = report_form(client, service_code="TREE_HAZARD",
                       description="Powalone drzewo leży w poprzek jezdni.",
                       **{"attribute[blocks_road]": "pavement"})
    assert client.post("/report", data=data).status_code in (200, 201, 302, 303)
    with app.app_context():
        report = db.session.scalar(db.select(Report))
        assert report.attributes == {"blocks_road": "pavement"} and report.api_key_id is None


@pytest.mark.parametrize("lang", ["pl", "en", "uk"])
def test_the_category_hint_names_the_catch_all_category_as_the_list_does(client, lang):
    html = client.get(f"/report?lang={lang}").get_data(as_text=True)
    hint = re.search(r'id="hint-service_code">([^<]*)<', html).group(1)
    with client.application.app_context():
        other = current_routing().services["OTHER"].name(lang)
    assert f">{other}</option>" in html.replace("&#34;", '"')
    assert other in hint.replace("&#34;", '"'), (hint, other)
    assert "triage" not in html
