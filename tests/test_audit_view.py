"""The admin's audit trail and API-key page read as Polish, not as code: every recorded action
has a translated label (its code stays as small secondary text), before/after are definition
lists, and rate limits are words ("100 na godzinę")."""
from __future__ import annotations

import re
from pathlib import Path

from flask_babel import force_locale

from tests.factories import make_report
from tests.helpers import csrf_token, staff_client
from webapp.moderation.audit_labels import ACTION_LABELS
from webapp.moderation.ratelimit_text import describe

WEBAPP = Path(__file__).resolve().parent.parent / "webapp"


def test_every_recorded_action_has_a_label():
    recorded = set()
    for path in WEBAPP.rglob("*.py"):
        for call in re.findall(r'\brecord\(\s*((?:"[a-z_.]+"(?:\s+if\s+\w+\s+else\s+)?)+)',
                               path.read_text(encoding="utf-8")):
            recorded.update(re.findall(r'"([a-z_.]+)"', call))
    assert {"switch.set", "report.merge", "photo.show", "user.create"} <= recorded
    assert recorded - set(ACTION_LABELS) == set()


def test_audit_page_shows_labels_and_readable_changes(app):
    admin, _, _ = staff_client(app, "admin@lodz.example", "admin")
    token = csrf_token(admin, "/admin/switches")
    assert admin.post("/admin/switches", data={"csrf_token": token, "name": "photos",
                                               "enabled": "0"}).status_code == 303
    with app.app_context():
        rid = make_report(status="awaiting_moderation", service_code="TRAFFIC_LIGHT").id
    admin.post(f"/admin/reports/{rid}/reject",
               data={"csrf_token": csrf_token(admin, "/admin/queue"), "reason": "outside_lodz"})
    page = admin.get("/admin/audit/?lang=pl").get_data(as_text=True)
    # Actions by name, the code only as secondary text.
    assert '<span class="audit-action">Zmieniono przełącznik</span> <code class="audit-code">switch.set</code>' in page
    assert "Odrzucono zgłoszenie" in page and "Przełącznik: Przesyłanie zdjęć" in page
    # Before/after as definition lists, not JSON.
    assert "<dt>Włączony</dt><dd>tak</dd>" in page and "<dt>Włączony</dt><dd>nie</dd>" in page
    assert "<dt>Status</dt><dd>Odrzucone</dd>" in page
    assert '{"enabled"' not in page and "{&#34;" not in page
    # The filter lists labels; the value stays the code the query needs.
    options = dict(re.findall(r'<option value="([a-z_.]+)" ?[^>]*>([^<]+)</option>', page))
    assert options["switch.set"] == "Zmieniono przełącznik"
    assert options["report.reject"] == "Odrzucono zgłoszenie"
    assert options["login"] == "Zalogowanie"
    # Each cell names its column for the card layout (the header row is not shown).
    assert 'data-label="Przed"' in page and 'data-label="Czynność"' in page


def test_rate_limits_are_words_in_the_ui_language(app):
    with app.test_request_context("/"):
        with force_locale("pl"):
            assert describe("100 per hour;10 per minute") == "100 na godzinę; 10 na minutę"
            assert describe("5/2 hours") == "5 na 2 godziny"
            assert describe("nonsense") == "nonsense"  # shown as stored, not hidden
            assert describe("") == ""
        with force_locale("uk"):
            assert describe("100 per hour") == "100 на годину"
    admin, _, _ = staff_client(app, "admin@lodz.example", "admin")
    admin.post("/admin/apikeys/", data={"csrf_token": csrf_token(admin, "/admin/apikeys/"),
                                        "name": "Łódź Fixer", "contact": "dev@example.org",
                                        "rate_limit": "100 per hour;10 per minute"})
    page = admin.get("/admin/apikeys/?lang=pl").get_data(as_text=True)
    assert "100 na godzinę; 10 na minutę" in page
    assert "<code>100 per hour;10 per minute</code>" not in page
