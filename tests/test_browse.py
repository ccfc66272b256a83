"""The public list of reports (/reports) and the public report page (/reports/<id>).

Reports are written straight into the (real, migrated) test database, as the form would leave
them, so these tests do not depend on the submission code.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.factories import make_report

from webapp.extensions import db
from webapp.reports.models import Report
from webapp.routing.services import current_routing

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)


def report_ids(html: str) -> list[int]:
    """Ids of the reports listed, in page order (from the links to their public pages)."""
    return [int(m) for m in re.findall(r'<h3 id="report-(\d+)-title"', html)]


def names(app):
    """``(category name in lang, unit name)`` lookups from the routing file the app loaded."""
    with app.app_context():
        config = current_routing()
    return (lambda code, lang: config.services[code].name(lang),
            lambda unit_id: config.units[unit_id].name)


def main_content(html: str) -> str:
    """The page's ``<main>`` element (the site header and shell around it are not ours)."""
    return re.search(r"<main\b.*?</main>", html, re.S).group(0)


def get(client, url, **headers):
    response = client.get(url, headers=headers)
    return response, response.get_data(as_text=True)


# --- the list -------------------------------------------------------------------------------

def _link(html, rel):
    found = re.search(rf'rel="{rel}" href="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_list_is_newest_first_and_paged_by_twenty_with_older_and_newer_links(app, client):
    with app.app_context():
        ids = [make_report(requested_at=T0 + timedelta(hours=i)).id for i in range(45)]
        twin = make_report(requested_at=T0 + timedelta(hours=25)).id  # same time as ids[25]
    hours = {**{report_id: hour for hour, report_id in enumerate(ids)}, twin: 25}
    newest_first = sorted(hours, key=lambda i: (hours[i], i), reverse=True)

    response, html = get(client, "/reports?lang=en")
    assert response.status_code == 200
    assert report_ids(html) == newest_first[:20]
    assert "(46 reports)" in html and "Older reports" in html
    assert _link(html, "next") and _link(html, "prev") is None

    html2 = get(client, _link(html, "next"))[1]
    assert report_ids(html2) == newest_first[20:40]                # the twin is neither lost nor twice
    html3 = get(client, _link(html2, "next"))[1]
    assert report_ids(html3) == newest_first[40:]
    assert _link(html3, "next") is None and "?after=" in _link(html3, "prev")

    back = get(client, _link(html3, "prev"))[1]
    assert report_ids(back) == newest_first[20:40]
    top = get(client, _link(back, "prev"))[1]                       # back at the top: the newest page
    assert report_ids(top) == newest_first[:20] and _link(top, "prev") is None


def test_the_pages_links_keep_the_filters_and_carry_no_offset(app, client):
    with app.app_context():
        for i in range(25):
            make_report(requested_at=T0 + timedelta(hours=i), status="in_progress")
            make_report(requested_at=T0 + timedelta(hours=i, minutes=1), service_code="STREET_LIGHT")
    html = get(client, "/reports?service_code=ROAD_POTHOLE&status=open")[1]
    older = _link(html, "next")
    assert "service_code=ROAD_POTHOLE" in older and "status=open" in older and "page=" not in older
    assert len(report_ids(get(client, older)[1])) == 5


@pytest.mark.parametrize("query", ["page=3", "page=7", "before=12-abc", "after=" + "9" * 40,
                                   "before=999999999999999999-1", "before=1-99999999999"])
def test_old_page_numbers_and_broken_cursors_show_the_newest_page(app, client, query):
    with app.app_context():
        ids = [make_report(requested_at=T0 + timedelta(hours=i)).id for i in range(25)]
    response, html = get(client, "/reports?lang=en&" + query)
    assert response.status_code == 200
    assert report_ids(html) == list(reversed(ids))[:20]
    assert "showing the newest reports" in html


def test_filters_by_category_and_status_and_keep_the_choice_in_the_form(app, client):
    with app.app_context():
        pothole_open = make_report(requested_at=T0, service_code="ROAD_POTHOLE",
                                   status="in_progress").id
        pothole_done = make_report(service_code="ROAD_POTHOLE", status="resolved",
                                   requested_at=T0 + timedelta(hours=1)).id
        light_open = make_report(service_code="STREET_LIGHT", status="dispatched",
                                 requested_at=T0 + timedelta(hours=2)).id
        bin_rejected = make_report(service_code="BIN_OVERFLOW", status="rejected",
                                   agency_responsible="wgk", requested_at=T0 + timedelta(hours=3)).id

    _, html = get(client, "/reports?service_code=ROAD_POTHOLE")
    assert report_ids(html) == [pothole_done, pothole_open]
    assert re.search(r'<option value="ROAD_POTHOLE"\s+selected', html)

    _, html = get(client, "/reports?status=closed")
    assert report_ids(html) == [bin_rejected, pothole_done]
    _, html = get(client, "/reports?status=open")
    assert report_ids(html) == [light_open, pothole_open]
    _, html = get(client, "/reports?status=in_progress")
    assert report_ids(html) == [pothole_open]
    assert re.search(r'<option value="in_progress"\s+selected', html)

    _, html = get(client, "/reports?service_code=ROAD_POTHOLE&status=open")
    assert report_ids(html) == [pothole_open]
    _, html = get(client, "/reports?service_code=TREE_HAZARD&lang=en")
    assert report_ids(html) == []
    assert "No reports match these filters." in html
    # The form's choices are kept rendered: they still follow each request's choice and language.
    assert re.search(r'<option value="TREE_HAZARD"\s+selected', html)
    _, html = get(client, "/reports?lang=pl")
    assert "selected" not in html
    category = names(app)[0]
    en, pl = category("TREE_HAZARD", "en"), category("TREE_HAZARD", "pl")
    assert f">{pl}</option>" in html and f">{en}</option>" not in html


@pytest.mark.parametrize("query", [
    "service_code=NO_SUCH_CODE", "status=lost", "page=abc", "page=-1", "page=0",
    "page=" + "9" * 5000, "service_code=%3Cscript%3E&page=%00",
])
def test_bad_filter_values_are_ignored_with_a_message(app, client, query):
    with app.app_context():
        ids = [make_report(requested_at=T0 + timedelta(hours=i)).id for i in range(3)]
    response, html = get(client, "/reports?lang=en&" + query)
    assert response.status_code == 200
    assert report_ids(html) == list(reversed(ids))
    message = re.search(r'<p class="notice notice-info" role="status">([^<]+)</p>', html)
    assert message and "showing" in message.group(1)
    assert "<script>" not in html


def test_htmx_list_request_gets_the_fragment_others_the_page(app, client):
    with app.app_context():
        pothole = make_report(requested_at=T0).id
        light = make_report(service_code="STREET_LIGHT", requested_at=T0 + timedelta(hours=1)).id

    full, html = get(client, "/reports?service_code=STREET_LIGHT")
    assert "<html" in html and 'id="report-list"' in html
    assert "HX-Target" in full.headers.get("Vary", "")

    frag, html = get(client, "/reports?service_code=STREET_LIGHT",
                     **{"HX-Request": "true", "HX-Target": "report-list"})
    assert frag.status_code == 200
    assert "<html" not in html and "<form" not in html
    assert html.lstrip().startswith('<section id="report-list"')
    assert report_ids(html) == [light] and pothole not in report_ids(html)
    assert "HX-Target" in frag.headers.get("Vary", "")

    # Boosted navigation and history restore must get the whole page, whatever the target.
    for headers in ({"HX-Request": "true", "HX-Boosted": "true", "HX-Target": "report-list"},
                    {"HX-Request": "true", "HX-History-Restore-Request": "true",
                     "HX-Target": "report-list"},
                    {"HX-Request": "true"},
                    {"HX-Request": "true", "HX-Target": "main"}):
        response, html = get(client, "/reports", **headers)
        assert "<html" in html, headers
        assert "HX-Target" in response.headers.get("Vary", "")


def test_filter_form_works_without_javascript_and_is_labelled(app, client):
    _, html = get(client, "/reports?lang=en")
    form = re.search(r"<form[^>]*>.*?</form>", html, re.S).group(0)
    assert 'method="get"' in form and 'action="/reports"' in form
    # htmx progressive enhancement: swap the list, keep the URL in sync.
    assert 'hx-target="#report-list"' in form and 'hx-push-url="true"' in form
    for control in re.findall(r'<select id="([^"]+)"', form):
        assert f'<label for="{control}">' in form
    assert '<optgroup label="Roads and transport">' in form
    assert 'type="submit"' in form
    # Headings in order: one h1, then h2 for the results.
    main = main_content(html)
    assert main.count("<h1") == 1 and main.index("<h1") < main.index("<h2")


def test_row_shows_category_in_ui_language_place_status_and_local_time(app, client):
    with app.app_context():
        # 23:30 UTC on 15 January is 00:30 on the 16th in Łódź (CET, UTC+1).
        rid = make_report(requested_at=datetime(2026, 1, 15, 23, 30, tzinfo=timezone.utc),
                          address_string=None, lat=51.7592, long=19.456, status="accepted").id
    category, _unit = names(app)
    _, html = get(client, "/reports?lang=en")
    assert f'<span class="category">{category("ROAD_POTHOLE", "en")}</span>' in html
    assert '<time datetime="2026-01-15T23:30:00+00:00">' in html
    assert "16 January 2026, 00:30" in html   # one format (webapp.i18n.DATE_FORMATS), month spelled out
    assert "51.75920, 19.45600" in html
    assert "Accepted" in html
    assert f'href="/reports/{rid}"' in html

    _, html = get(client, "/reports?lang=pl")
    assert "16 stycznia 2026, 00:30" in html
    assert f'<span class="category">{category("ROAD_POTHOLE", "pl")}</span>' in html


def test_list_never_shows_private_fields(app, client):
    with app.app_context():
        make_report(requested_at=T0, email="jan.kowalski@example.org",
                    description="PRYWATNE: mój numer 600 100 200",
                    public_description="Dziura w jezdni").id
        report = db.session.execute(db.select(Report)).scalar_one()
        secrets = [report.email, report.description, report.client_id,
                   report.tracking_token_hash]
    _, html = get(client, "/reports")
    assert "Dziura w jezdni" in html
    for secret in secrets:
        assert secret not in html


# --- the report page ------------------------------------------------------------------------

def test_report_page_shows_public_facts_why_and_timeline(app, client):
    with app.app_context():
        rid = make_report(requested_at=T0, 
            email="jan.kowalski@example.org",
            description="Surowy tekst z numerem telefonu 600 100 200",
            public_description="Dziura przy przejściu dla pieszych",
            history=[("dispatched", "", "system", None, "zdit", 0),
                     ("accepted", "Przyjęte do realizacji", "unit", "zdit", "zdit", 60),
                     ("forwarded", "To teren osiedlowy", "operator", "op-anna", "wgk", 120),
                     ("resolved", "Ubytek załatany", "unit", "wgk", "wgk", 24 * 60)],
            agency_responsible="wgk").id
        report = db.session.get(Report, rid)
        private = [report.email, report.description, report.client_id,
                   report.tracking_token_hash, "op-anna"]

    category, unit = names(app)
    response, html = get(client, f"/reports/{rid}?lang=en")
    assert response.status_code == 200
    assert "Dziura przy przejściu dla pieszych" in html
    for secret in private:
        assert secret not in html

    assert f"Report 2026/{rid}: {category('ROAD_POTHOLE', 'en')}</h1>" in html
    assert "ul. Piotrkowska 104" in html and "51.759300, 19.457300" in html
    assert ("https://www.openstreetmap.org/?mlat=51.759300&amp;mlon=19.457300"
            "#map=18/51.759300/19.457300") in html
    assert f'<p class="unit">{unit("wgk")}</p>' in html  # the unit now responsible
    why = re.search(r'<p class="why">(.*?)</p>', html, re.S).group(1)
    assert unit("wgk") in why

    timeline = re.search(r'<ol class="timeline">(.*?)</ol>', html, re.S).group(1)
    entries = re.findall(r"<li .*?</li>", timeline, re.S)
    assert len(entries) == 4
    assert "Assigned to the responsible unit" in entries[0] and "system" in entries[0]
    assert "Accepted" in entries[1] and f"by: {unit('zdit')}" in entries[1]
    assert "Przyjęte do realizacji" in entries[1]
    assert "by: operator" in entries[2] and "To teren osiedlowy" in entries[2]
    assert f"Now handled by: {unit('wgk')}" in entries[2]
    assert "Resolved" in entries[3] and "Ubytek załatany" in entries[3]
    assert f"by: {unit('wgk')}" in entries[3]
    assert '<time datetime="2026-03-11T09:00:00+00:00">' in entries[3]
    # Headings in order.
    levels = [int(h) for h in re.findall(r"<h([1-6])", main_content(html))]
    assert levels[0] == 1 and all(b - a <= 1 for a, b in zip(levels, levels[1:]))


def test_report_page_in_polish_shows_warsaw_time(app, client):
    with app.app_context():
        rid = make_report(requested_at=datetime(2026, 7, 1, 22, 15, tzinfo=timezone.utc)).id
    category, _unit = names(app)
    _, html = get(client, f"/reports/{rid}?lang=pl")
    assert category("ROAD_POTHOLE", "pl") in html
    assert '<time datetime="2026-07-01T22:15:00+00:00">' in html
    assert "2 lipca 2026, 00:15" in html  # CEST, UTC+2


def test_awaiting_moderation_hides_the_text(app, client):
    with app.app_context():
        rid = make_report(requested_at=T0, service_code="OTHER", status="awaiting_moderation",
                          public_description="Jeszcze niesprawdzony tekst",
                          agency_responsible="lckzm").id
    _, html = get(client, f"/reports/{rid}?lang=en")
    assert "Jeszcze niesprawdzony tekst" not in html
    assert "after an operator checks" in html
    _, html = get(client, "/reports?lang=en")
    assert "Jeszcze niesprawdzony tekst" not in html


@pytest.mark.parametrize("path", ["/reports/999999", "/reports/0", "/reports/99999999999999999999"])
def test_unknown_report_is_a_404_page(app, client, path):
    response, html = get(client, path)
    assert response.status_code == 404
    assert "<html" in html and "404" in html


def test_photos_are_thumbnails_linking_to_the_public_copy(app, client):
    from webapp.photos.models import Photo
    with app.app_context():
        rid = make_report(requested_at=T0).id
        report = db.session.get(Report, rid)
        for i in range(2):
            report.photos.append(Photo(position=i, sha256="0" * 64, content_type="image/jpeg",
                                       original_key=f"o{i}", public_key=f"p{i}", thumb_key=f"t{i}",
                                       width=2048, height=1536))
        db.session.commit()
        photo_ids = [p.id for p in report.photos]
    _, html = get(client, f"/reports/{rid}?lang=en")
    for n, pid in enumerate(photo_ids, start=1):
        public = app.url_map.bind("localhost").build("photos.public", {"photo_id": pid})
        thumb = app.url_map.bind("localhost").build("photos.thumb", {"photo_id": pid})
        link = re.search(rf'<a href="{re.escape(public)}">\s*<img src="{re.escape(thumb)}"'
                         rf'\s+alt="([^"]+)"', html)
        assert link, html
        assert f"Photo {n} of 2" in link.group(1)
    _, html = get(client, "/reports")
    assert re.search(r'<img class="thumb" src="[^"]+"\s+alt="[^"]+"', html)
