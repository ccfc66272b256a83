"""Information for everyone (issue 11): procedures and their search, the versioned rules and
consent, the attachment generated from routing.toml, the privacy notice, the accessibility
statement, and questions to the administrator through a real SMTP server on loopback."""
from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT
from webapp.reports.services import consent_today

CONTENT = ROOT / "content"
from tests.helpers import PROCEDURE_SLUGS as SLUGS, element_attrs  # noqa: E402


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


# --------------------------------------------------------------------------- procedures

def test_at_least_eight_procedures_each_naming_a_unit_and_categories_of_routing(app):
    from webapp.information.procedures import all_procedures
    from webapp.routing.services import current_routing
    with app.app_context():
        routing = current_routing()
        pages = all_procedures(CONTENT, "pl")
    assert len(pages) >= 8
    for page in pages:
        assert page.unit in routing.units, page.slug
        assert page.categories and all(c in routing.services for c in page.categories), page.slug
        # The text names the unit the way routing.toml does.
        assert routing.units[page.unit].name in " ".join(page.text.replace("**", "").split()), page.slug


@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.parametrize("lang", ["pl", "en", "uk"])
def test_every_procedure_page_renders_with_its_unit_and_report_links(client, slug, lang):
    response = client.get(f"/procedures/{slug}?lang={lang}")
    assert response.status_code == 200
    html = _text(response)
    assert html.count("<h1") == 1
    # "Report this problem" links preselect each related category on the form.
    links = re.findall(r'href="/report\?service_code=([A-Z_]+)"', html)
    assert links
    form = _text(client.get(f"/report?service_code={links[0]}"))
    assert f'value="{links[0]}" selected' in form


def test_unknown_procedure_is_404(client):
    assert client.get("/procedures/no-such-page").status_code == 404
    assert client.get("/procedures/..%2Fsecret").status_code == 404


def test_search_without_javascript_is_a_plain_get_form(client):
    page = _text(client.get("/procedures?q=drzew&lang=pl"))
    assert '<form class="filters" role="search" method="get" action="/procedures"' in page
    assert 'name="q" value="drzew"' in page
    assert "/procedures/drzewo-na-terenie-prywatnym" in page
    assert "/procedures/graffiti" not in page
    # The count lives in a status region that is there before any search.
    assert re.search(r'<p id="procedure-count" class="result-count" role="status">\s*2 strony pasują', page)


def test_search_ignores_diacritics_and_case(client):
    page = _text(client.get("/procedures?q=HALAS"))
    assert "/procedures/halas" in page


def test_search_as_you_type_answers_htmx_with_the_list_and_the_count_only(client):
    response = client.get("/procedures?q=sople", headers={"HX-Request": "true", "HX-Target": "procedure-results"})
    html = _text(response)
    assert "HX-Target" in response.headers.get("Vary", "")
    assert html.lstrip().startswith('<div id="procedure-results">')
    assert "<html" not in html and "<h1" not in html
    assert "/procedures/oczyszczanie-i-zima" in html
    assert 'id="procedure-count" hx-swap-oob="innerHTML"' in html
    assert "1 strona pasuje do „sople”" in html
    nothing = _text(client.get("/procedures?q=xyzzy", headers={"HX-Request": "true", "HX-Target": "procedure-results"}))
    assert "0 stron pasuje" in nothing and "/contact" in nothing


def test_report_form_category_help_links_to_the_procedure(client):
    help_ = _text(client.get("/procedures/for-category?service_code=TREE_PRIVATE"))
    assert "/procedures/drzewo-na-terenie-prywatnym" in help_
    assert _text(client.get("/procedures/for-category?service_code=NOPE")).strip() == ""
    form = _text(client.get("/report"))
    assert 'hx-get="/procedures/for-category"' in form and 'id="category-help"' in form


# --------------------------------------------------------------------------- rules

def test_current_rules_show_version_and_effective_date(client):
    page = _text(client.get("/rules?lang=pl"))
    assert "2024-04-16" in page and "16 kwietnia 2024" in page
    assert "obowiązuje od dnia 16 kwietnia 2024 roku" in page
    assert 'href="/rules/attachment"' in page and "/rules/versions" in page


def test_rules_in_another_language_say_the_polish_text_is_the_binding_one(client):
    """The regulamin exists only in Polish: an English or Ukrainian reader is told so, and why
    it is not translated, before the text; the text itself is marked Polish for screen readers."""
    english = _text(client.get("/rules?lang=en"))
    note = "The City of Łódź publishes the rules in Polish only; the Polish text below is the binding one."
    assert note in english
    prose = english.index('<div class="prose" lang="pl">')
    assert english.index(note) < prose < english.index("Portal Łódzkiego Centrum Kontakt z Mieszkańcami")
    assert '<span lang="pl">Tekst przepisany z regulaminu' in english  # the source, not its label
    ukrainian = _text(client.get("/rules?lang=uk"))
    assert "Обов’язковим є польський текст нижче." in ukrainian
    assert '<div class="prose" lang="pl">' in ukrainian
    polish = _text(client.get("/rules?lang=pl"))
    assert note not in polish and "wiążący" not in polish.lower()
    assert '<div class="prose" lang="pl">' in polish


def test_earlier_versions_stay_listed_and_readable(make_app, tmp_path):
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    old = content / "rules" / "regulamin" / "2020-01-01.md"
    old.write_text('---\nversion: "2020-01-01"\neffective: 2020-01-01\ntitle: Regulamin\n---\n\n'
                   '1. Dawna treść regulaminu.\n', encoding="utf-8")
    client = make_app(CONTENT_DIR=str(content)).test_client()
    index = _text(client.get("/rules/versions"))
    assert index.index("/rules/versions/2024-04-16") < index.index("/rules/versions/2020-01-01")
    assert "(obowiązujący)" in index
    earlier = _text(client.get("/rules/versions/2020-01-01"))
    assert "Dawna treść regulaminu." in earlier and "już nie obowiązuje" in earlier
    assert "Dawna treść" not in _text(client.get("/rules"))
    assert client.get("/rules/versions/1999-01-01").status_code == 404


def test_a_version_effective_in_the_future_is_listed_but_not_yet_current(make_app, tmp_path):
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    (content / "rules" / "regulamin" / "2999-01-01.md").write_text(
        '---\nversion: "2999-01-01"\neffective: 2999-01-01\n---\n\nPrzyszła treść.\n', encoding="utf-8")
    client = make_app(CONTENT_DIR=str(content)).test_client()
    assert "Przyszła treść" not in _text(client.get("/rules"))
    assert "/rules/versions/2999-01-01" in _text(client.get("/rules/versions"))


def test_attachment_lists_every_category_with_its_unit_and_mode_from_routing(client, app):
    import tomllib
    declared = tomllib.loads((ROOT / "routing.toml").read_text(encoding="utf-8"))
    expected = {c["code"]: (c["unit"], c["mode"]) for c in declared["categories"]}
    html = client.get("/rules/attachment").get_data(as_text=True)
    rows = re.findall(r'<tr data-code="([A-Z_]+)" data-unit="([a-z_]+)" data-mode="(auto|operator)">', html)
    assert {code: (unit, mode) for code, unit, mode in rows} == expected
    assert len(rows) == len(expected)
    assert "Zarząd Dróg i Transportu w Łodzi" in html and "automatycznie" in html and "za pośrednictwem operatora" in html


def test_consent_versions_match_the_form_and_are_stored_with_a_report(client, app):
    from webapp.information.rules import consent_for, versions
    [consent] = versions(CONTENT, "consent")
    assert _text(client.get(f"/rules/consent/{consent.version}")).count(consent.text("uk")) == 1
    with app.app_context():
        # The form's checkbox label (gettext) is the published text, in every language.
        from flask_babel import force_locale, gettext
        for lang in ("pl", "en", "uk"):
            with app.test_request_context(), force_locale(lang):
                assert gettext("I agree to the processing of my e-mail address to receive updates about this report.") \
                    == consent.text(lang)
        with app.test_request_context():
            assert consent_for(CONTENT, "uk", app.config["CONSENT_VERSION"]) == (consent.version, consent.text("uk"))


def test_a_report_stores_the_consent_version_in_force(make_app, tmp_path):
    """A newer consent file takes over on its effective date without any configuration."""
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    (content / "rules" / "consent" / "2025-01-01.md").write_text(
        '---\nversion: "2025-01-01"\neffective: 2025-01-01\ntext:\n  pl: Zgoda w nowym brzmieniu.\n---\n',
        encoding="utf-8")
    app = make_app(CONTENT_DIR=str(content))
    with app.test_request_context("/?lang=en"):
        assert consent_today("en") == ("2025-01-01", "Zgoda w nowym brzmieniu.")  # no English: Polish


# --------------------------------------------------------------------------- privacy, accessibility

def test_privacy_notice_names_controller_retention_rights_and_contact(make_app):
    client = make_app(EMAIL_RETENTION_DAYS=90, ADMIN_EMAIL="admin@lckzm.lodz.example").test_client()
    page = _text(client.get("/privacy?lang=pl"))
    assert "Prezydent Miasta Łodzi" in page
    assert "90 dni" in page
    assert "cofnięcia w dowolnym momencie" in page and "Prezesa Urzędu Ochrony Danych Osobowych" in page
    assert 'href="/contact?topic=personal_data"' in page
    assert 'href="mailto:admin@lckzm.lodz.example"' in page
    assert "30 dni" in _text(make_app().test_client().get("/privacy"))  # EMAIL_RETENTION_DAYS
    # "Me too" supporters with an e-mail address: the same purpose and the same erasure
    assert "poparciu cudzego zgłoszenia („Ja też”)" in page
    assert "tak samo adres podany przy poparciu zgłoszenia" in page


ACCESSIBILITY_PARTS = {
    "pl": ("Data publikacji strony internetowej: 02.12.2026", "Data ostatniej istotnej aktualizacji: 02.12.2026",
           "częściowo zgodna", "Niezgodności i wyłączenia", "Przygotowanie deklaracji",
           "Informacje zwrotne i dane kontaktowe", "Procedura wnioskowo-skargowa", "7 dni", "2 miesięcy",
           "Rzecznika Praw Obywatelskich", "Dostępność architektoniczna"),
    "en": ("Date of publication of the website: 02.12.2026", "Date of the last major update: 02.12.2026",
           "partially compliant", "Non-compliances and exemptions", "Preparation of this accessibility statement",
           "Feedback and contact information", "Requests and complaints procedure", "7 days", "2 months",
           "Rzecznik Praw Obywatelskich", "Architectural accessibility"),
    "uk": ("Дата публікації вебсайту: 02.12.2026", "Дата останнього суттєвого оновлення: 02.12.2026",
           "частково відповідає", "Невідповідності та винятки", "Підготовка декларації",
           "Зворотний зв", "Процедура запитів і скарг", "7 днів", "2 місяців",
           "Rzecznik Praw Obywatelskich", "Архітектурна доступність"),
}


@pytest.mark.parametrize("lang", ["pl", "en", "uk"])
def test_accessibility_statement_has_the_required_parts_and_is_in_the_footer(make_app, lang):
    client = make_app(ADMIN_EMAIL="admin@lckzm.lodz.example").test_client()
    page = _text(client.get(f"/accessibility?lang={lang}"))
    for part in ACCESSIBILITY_PARTS[lang]:
        assert part in page, part
    assert 'href="/contact?topic=accessibility"' in page and 'href="mailto:admin@lckzm.lodz.example"' in page
    # every {placeholder} of the statement's text was filled in
    assert not re.search(r"\{[a-z_]+\}", page.split('<div class="prose">', 1)[1].split("</article>", 1)[0])
    assert 'href="/accessibility"' in _text(client.get(f"/?lang={lang}"))


SUPPORTERS = {"en": "supporting someone else's report", "uk": "підтримки чужого звернення"}


@pytest.mark.parametrize("lang,retention", [("en", "30 days"), ("uk", "30 днів")])
def test_privacy_notice_in_english_and_ukrainian(make_app, lang, retention):
    client = make_app(EMAIL_RETENTION_DAYS=30, ADMIN_EMAIL=None).test_client()
    page = _text(client.get(f"/privacy?lang={lang}"))
    assert retention in page and "Prezydent Miasta Łodzi" in page and "Prezes Urzędu Ochrony Danych Osobowych" in page
    assert 'href="/contact?topic=personal_data"' in page and "mailto:" not in page.split("<footer")[0]
    assert SUPPORTERS[lang] in page  # "me too" supporters' addresses: same purpose, same erasure



# --------------------------------------------------------------------------- contact

def _contact_form(client, **fields):
    page = client.get("/contact").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = {"csrf_token": token, "client_id": str(uuid.uuid4()), "topic": "question",
            "message": "Czy portal działa też na starszych telefonach?"}
    data.update(fields)
    return data


def test_question_reaches_the_administrator_through_the_outbox_once(make_app, smtp_server):
    from webapp.dispatch.services import process_due
    app = make_app(WTF_CSRF_ENABLED=True, ADMIN_EMAIL="admin@lckzm.lodz.example", **smtp_server.config)
    client = app.test_client()
    data = _contact_form(client, email="jan@example.org", consent="y",
                         message="Czy portal\x07 działa\x00 też na starszych telefonach?\nPozdrawiam")
    first = client.post("/contact", data=data)
    assert first.status_code == 201
    reference = re.search(r'id="contact-reference">(PYT-\d+)<', first.get_data(as_text=True)).group(1)
    again = client.post("/contact", data=data)  # a retry of the same form
    assert again.status_code == 200
    assert reference in again.get_data(as_text=True)
    with app.app_context():
        assert process_due() == 1
        assert process_due() == 0
    [msg] = smtp_server.wait_for(1)
    assert smtp_server.envelopes[0][1] == ["admin@lckzm.lodz.example"]
    assert reference in msg["Subject"] and "Pytanie o działanie portalu" in msg["Subject"]
    assert msg["Reply-To"] == "jan@example.org"
    body = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "Czy portal działa też na starszych telefonach?\nPozdrawiam" in body


def test_question_without_consent_keeps_what_was_typed_and_sends_nothing(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    response = client.post("/contact", data=_contact_form(client, email="jan@example.org"))
    assert response.status_code == 422
    page = _text(response)
    assert "zaznacz zgodę" in page and "Czy portal działa też na starszych telefonach?" in page
    from sqlalchemy import func, select
    from webapp.dispatch.models import OutboxMessage
    from webapp.extensions import db
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_question_errors_are_summed_up_at_the_top_with_links_to_the_fields(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    response = client.post("/contact", data=_contact_form(client, email="jan@example", message="Krótko"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    form = html[html.index('action="/contact"'):]
    summary = form[form.index('id="form-summary"'):form.index('id="topic"')]   # above the first field
    assert 'role="alert"' in summary and "Pytanie nie zostało wysłane" in summary
    for field in ("message", "email", "consent"):
        assert f'href="#{field}"' in summary, field
        assert element_attrs(html, field)["aria-invalid"] == "true", field
    assert element_attrs(html, "form-summary")["tabindex"] == "-1"  # static/js/app.js focuses it
    assert element_attrs(html, "email")["value"] == "jan@example" and ">Krótko</textarea>" in html


def test_question_without_csrf_token_is_refused(make_app):
    client = make_app(WTF_CSRF_ENABLED=True).test_client()
    data = _contact_form(client)
    del data["csrf_token"]
    assert client.post("/contact", data=data).status_code in (400, 422)


def test_contact_page_says_it_is_not_for_reports_and_links_to_the_form(client):
    page = _text(client.get("/contact?topic=accessibility"))
    assert "Nie służy do zgłaszania problemów" in page and 'href="/report"' in page
    assert '<option value="accessibility" selected>' in page


def test_questions_are_rate_limited(make_app):
    app = make_app(RATELIMIT_ENABLED=True, CONTACT_RATE_LIMIT="2 per minute")
    client = app.test_client()
    codes = [client.post("/contact", data=_contact_form(client)).status_code for _ in range(3)]
    assert codes == [201, 201, 429]


@pytest.mark.parametrize("lang", ["en", "uk"])
def test_translated_procedures_match_the_polish_ones(lang):
    from webapp.information.procedures import all_procedures, search
    polish = {p.slug: p for p in all_procedures(CONTENT, "pl")}
    translated = all_procedures(CONTENT, lang)
    assert {p.slug for p in translated} == set(polish)
    for page in translated:
        assert page.lang == lang, page.slug  # every page exists in this language
        assert (page.unit, page.categories) == (polish[page.slug].unit, polish[page.slug].categories), page.slug
    word = {"en": "icicles", "uk": "бурульки"}[lang]
    assert [p.slug for p in search(translated, word)] == ["oczyszczanie-i-zima"]
