"""Routing of reports to city units (routing.toml): the shipped Łódź file, route(), area rules,
validation of broken files, and the ``flask routing`` commands."""
from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.cli import FlaskGroup

from webapp.routing.cli import routing_cli
from webapp.routing.config import RoutingConfigError, load_routing
from webapp.routing.services import UnknownService, current_routing, explain, route

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "routing.toml"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "routing"
# A copy of ../shared/data/lodz_categories.csv, the source table of the shipped file.
CSV_ROWS = list(csv.DictReader((FIXTURES / "lodz_categories.csv").open(encoding="utf-8")))
# English names the shipped file words for residents instead of the source's staff wording
# ("Other / unsure - operator triage").
RESIDENTS_WORDING = {"OTHER": "Other / not sure who handles it"}
PIOTRKOWSKA = (51.7592, 19.4560)
INSIDE_TEST_PARK = (51.7612, 19.4350)


@pytest.fixture(scope="module")
def shipped():
    return load_routing(SHIPPED)


@pytest.fixture(scope="module")
def small():
    return load_routing(FIXTURES / "with_area.toml")


def errors_of(path) -> list[str]:
    with pytest.raises(RoutingConfigError) as info:
        load_routing(path)
    return info.value.errors


# ---------------------------------------------------------------- the shipped file

def test_shipped_file_has_the_37_categories_of_the_source_table_in_order(shipped):
    assert len(CSV_ROWS) == 37
    assert list(shipped.services) == [r["code"] for r in CSV_ROWS]
    for row in CSV_ROWS:
        service = shipped.services[row["code"]]
        assert service.name_pl == row["name_pl"]
        assert service.name_en == RESIDENTS_WORDING.get(row["code"], row["name_en"])
        assert service.confidence == row["status"]
        assert service.evidence == row["evidence"]


def test_every_unit_referenced_exists_and_matches_the_source_unit(shipped):
    assert shipped.operator_unit == "lckzm"
    assert shipped.operator_unit in shipped.units
    assert len(shipped.units) == 11
    for row in CSV_ROWS:
        service = shipped.services[row["code"]]
        assert service.unit in shipped.units
        assert service.group in shipped.groups
        if row["code"] != "HOMELESS":  # "SM / MOPS": two units, the operator decides
            assert shipped.units[service.unit].short == row["unit_short"], row["code"]
    assert shipped.services["HOMELESS"].unit == "mops"


def test_modes_follow_the_rule_stated_at_the_top_of_the_file(shipped):
    for row in CSV_ROWS:
        service = shipped.services[row["code"]]
        if row["code"] in ("OTHER", "HOMELESS") or row["status"] == "plausible":
            assert service.mode == "operator", row["code"]
        else:
            assert row["status"] in ("verified", "partly verified", "verified (older source)")
            assert service.mode == "auto", row["code"]


def test_contact_addresses_are_placeholders_under_a_reserved_domain(shipped):
    for unit in shipped.units.values():
        assert unit.email.endswith(".lodz.example"), unit.id
        assert unit.channel == "email"
        assert re.fullmatch(r"[a-z][a-z0-9_]*", unit.id)


def test_groups_come_in_source_order_and_the_form_gets_every_category_once(shipped):
    source_order = list(dict.fromkeys(r["group_pl"] for r in CSV_ROWS))
    grouped = shipped.grouped()
    assert [g.name_pl for g, _ in grouped] == source_order
    assert sum(len(s) for _, s in grouped) == 37
    public_order = dict((g.id, [s.code for s in members]) for g, members in grouped)["public_order"]
    assert public_order == ["POSTERS", "PARKING", "ABANDONED_VEHICLE", "WASTE_BURNING",
                            "NOISE_ORDER"]


def test_names_in_three_languages_with_polish_fallback(shipped):
    cyrillic = re.compile(r"[\u0400-\u04FF]")
    for service in shipped.services.values():
        assert cyrillic.search(service.name_uk), service.code
    for group in shipped.groups.values():
        assert cyrillic.search(group.name_uk), group.id
    pothole = shipped.service("ROAD_POTHOLE")
    assert pothole.name("uk") == "Вибоїна в дорожньому покритті (яма)"
    assert pothole.name("en").startswith("Pothole")
    assert pothole.name("de") == pothole.name("pl") == "Ubytek w nawierzchni jezdni (dziura)"
    assert shipped.service("NO_SUCH") is None
    assert shipped.service(None) is None


# ---------------------------------------------------------------- route()

def test_pothole_on_piotrkowska_goes_to_zdit_at_once(shipped):
    decision = route(shipped, "ROAD_POTHOLE", *PIOTRKOWSKA)
    assert (decision.unit_id, decision.mode, decision.rule) == ("zdit", "auto", "category:ROAD_POTHOLE")
    assert decision.reason == ("Kategoria „Ubytek w nawierzchni jezdni (dziura)” jest przekazywana "
                               "do: Zarząd Dróg i Transportu w Łodzi.")


def test_other_waits_for_an_operator(shipped):
    decision = route(shipped, "OTHER", *PIOTRKOWSKA)
    assert decision.mode == "operator"
    assert decision.unit_id == "lckzm"
    assert "operator" in decision.reason


def test_unconfirmed_pair_goes_through_the_operator_towards_its_unit(shipped):
    decision = route(shipped, "ROAD_SIGN", *PIOTRKOWSKA)
    assert (decision.unit_id, decision.mode) == ("zdit", "operator")
    assert decision.reason.endswith(
        "Najpierw sprawdza je operator: Urząd Miasta Łodzi – Łódzkie Centrum Kontaktu z Mieszkańcami.")


def test_unknown_category_is_refused(shipped):
    with pytest.raises(UnknownService):
        route(shipped, "ROAD_POTHOL", *PIOTRKOWSKA)


def test_area_rule_sends_a_point_inside_the_polygon_to_its_unit(small):
    inside = route(small, "LITTER", *INSIDE_TEST_PARK)
    assert (inside.unit_id, inside.mode, inside.rule) == ("parks", "auto", "area:test-park")
    assert "„Park testowy”" in inside.reason and "Zarząd Zieleni (test)" in inside.reason
    outside = route(small, "LITTER", *PIOTRKOWSKA)
    assert (outside.unit_id, outside.rule) == ("roads", "category:LITTER")


def test_area_rule_keeps_the_category_mode(small):
    decision = route(small, "GRASS", *INSIDE_TEST_PARK)
    assert (decision.unit_id, decision.mode) == ("parks", "operator")


def test_commented_example_in_the_shipped_file_works_once_uncommented(tmp_path):
    text = SHIPPED.read_text(encoding="utf-8")
    start = text.index("# [[area_rules]]")
    example = "\n".join(line[2:] for line in text[start:].splitlines() if line.startswith("# "))
    area = re.search(r'area = "([^"]+)"', example).group(1)
    (tmp_path / "routing.toml").write_text(text[:start] + example + "\n", encoding="utf-8")
    (tmp_path / area).parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "park.geojson", tmp_path / area)
    config = load_routing(tmp_path / "routing.toml")
    assert len(config.area_rules) == 1
    assert route(config, "LITTER", *INSIDE_TEST_PARK).unit_id == "zzm"
    assert route(config, "LITTER", *PIOTRKOWSKA).unit_id == "wgk"


# ---------------------------------------------------------------- broken files

@pytest.mark.parametrize(("name", "expected"), [
    ("syntax_error.toml", "TOML syntax error: Illegal character '\\n' (at line 6, column 27)"),
    ("unknown_unit.toml", "categories[1] (GRASS).unit: unknown unit 'rods' (known: roads, parks, ops)"),
    ("duplicate_code.toml", "categories[1] (LITTER).code: duplicate category code 'LITTER'"),
    ("bad_mode.toml", "categories[0] (LITTER).mode: 'automatic' is not a mode (use \"auto\" or \"operator\")"),
    ("missing_area.toml", "area_rules[0] (test-park).area: file 'no_such_park.geojson' not found"),
])
def test_broken_file_names_the_key_and_the_problem(name, expected):
    errors = errors_of(FIXTURES / name)
    assert any(e.startswith(expected) for e in errors), errors


def test_every_problem_is_listed_at_once():
    errors = errors_of(FIXTURES / "many_errors.toml")
    assert errors == [
        "units[0] (roads).channel: unknown channel 'fax' (known: email)",
        "units[1] (parks).email: 'parks at units' is not a valid e-mail address "
        "(An email address must have an @-sign.)",
        "operator_unit: unknown unit 'operators' (known: roads, parks, ops)",
        "categories[1] (GRASS).name_uk: missing",
        "categories[1] (GRASS).group: unknown group 'green' (known: clean)",
        "area_rules[0] (test-park).area: the polygon in 'warsaw.geojson' lies outside Łódź "
        "(coordinates must be longitude, latitude in WGS84 degrees)",
    ]


@pytest.mark.parametrize(("area_text", "expected"), [
    ("bowtie.geojson", "the polygon in 'bowtie.geojson' is invalid (Self-intersection"),
    ("point.geojson", "'point.geojson' is not a usable GeoJSON polygon"),
    ("lodz_categories.csv", "'lodz_categories.csv' is not a usable GeoJSON polygon"),
])
def test_unusable_area_files_are_refused(tmp_path, area_text, expected):
    for f in FIXTURES.iterdir():
        shutil.copy(f, tmp_path / f.name)
    text = (FIXTURES / "with_area.toml").read_text(encoding="utf-8")
    (tmp_path / "r.toml").write_text(text.replace("park.geojson", area_text), encoding="utf-8")
    errors = errors_of(tmp_path / "r.toml")
    assert len(errors) == 1 and errors[0].startswith(f"area_rules[0] (test-park).area: {expected}")


def test_wrong_types_and_unknown_keys_are_reported(tmp_path):
    (tmp_path / "r.toml").write_text('foo = 1\nunits = 3\n[[categories]]\nmode = 1\nmoed = "auto"\n',
                                     encoding="utf-8")
    errors = errors_of(tmp_path / "r.toml")
    assert "(top level): unknown key 'foo' (allowed: operator_unit, units, groups, categories, " \
           "area_rules)" in errors
    assert "units: must be a list of tables ([[units]]), got an integer" in errors
    assert "operator_unit: missing" in errors
    assert "groups: missing (expected one or more [[groups]] tables)" in errors
    assert "categories[0].mode: must be a string, got an integer" in errors
    assert any(e.startswith("categories[0]: unknown key 'moed'") for e in errors)


def test_missing_file_is_one_clear_error(tmp_path):
    assert errors_of(tmp_path / "nope.toml") == ["file not found"]


# ---------------------------------------------------------------- the app and the public words

def test_app_loads_the_file_at_start(app):
    with app.app_context():
        config = current_routing()
        assert len(config.services) == 37
        assert config.source == str(SHIPPED)


def test_app_does_not_start_with_a_broken_file(make_app):
    with pytest.raises(RoutingConfigError) as info:
        make_app(ROUTING_FILE=str(FIXTURES / "unknown_unit.toml"))
    assert "categories[1] (GRASS).unit: unknown unit 'rods'" in str(info.value)


def test_explain_speaks_the_page_language(make_app):
    app = make_app(ROUTING_FILE=str(FIXTURES / "with_area.toml"))
    config = load_routing(FIXTURES / "with_area.toml")
    with app.test_request_context("/?lang=uk"):
        text = explain(config, "category:LITTER", "roads")
        assert "«Сміття»" in text and "Zarząd Dróg (test)" in text
        assert not text.startswith("Reports in")  # the sentence itself is Ukrainian
    with app.test_request_context("/?lang=en"):
        assert explain(config, "category:LITTER", "roads") == (
            "Reports in the category “Litter” are sent to Zarząd Dróg (test).")
        assert explain(config, "area:test-park", "parks") == (
            "This place lies in the area “Park testowy”, from which reports in this category "
            "are sent to Zarząd Zieleni (test).")
        # Forwarded since, or a rule no longer in the file: just the unit, never a wrong reason.
        assert explain(config, "category:LITTER", "parks") == "This report is handled by Zarząd Zieleni (test)."
        assert explain(config, "category:GONE", "gone_unit") == "This report is handled by gone_unit."
        assert "operator" in explain(config, "category:GRASS", None)


# ---------------------------------------------------------------- flask routing ...

def test_check_good_file_exits_0(runner):
    result = runner.invoke(args=["routing", "check"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: 11 units, 37 categories, 0 area rules")
    assert "placeholder e-mail addresses" in result.output


def test_check_broken_file_exits_1_with_every_problem(runner):
    result = runner.invoke(args=["routing", "check", str(FIXTURES / "many_errors.toml")])
    assert result.exit_code == 1
    assert "6 problems in the routing file" in result.output
    assert "operator_unit: unknown unit 'operators'" in result.output
    assert "OK:" not in result.output


def test_check_works_when_the_app_itself_cannot_start(monkeypatch):
    """As a ``flask.commands`` entry point the group runs without the app being created."""
    def broken_app():
        load_routing(FIXTURES / "bad_mode.toml")

    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "")  # FlaskGroup.main sets it; undone after the test
    cli = FlaskGroup(create_app=broken_app, load_dotenv=False)
    cli.add_command(routing_cli)
    broken = CliRunner().invoke(cli, ["routing", "check", str(FIXTURES / "bad_mode.toml")])
    assert broken.exit_code == 1
    assert "categories[0] (LITTER).mode: 'automatic' is not a mode" in broken.output
    monkeypatch.setenv("ROUTING_FILE", str(FIXTURES / "with_area.toml"))
    good = CliRunner().invoke(cli, ["routing", "check"])
    assert good.exit_code == 0, good.output
    assert good.output.startswith("OK: 3 units, 2 categories, 1 area rules")


def test_show_prints_the_table(runner):
    result = runner.invoke(args=["routing", "show", str(FIXTURES / "with_area.toml")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert re.fullmatch(r"LITTER +roads +auto", lines[1])
    assert re.fullmatch(r"GRASS +roads +operator", lines[2])
    assert "test-park: LITTER, GRASS -> parks inside park.geojson (Park testowy)" in result.output
    shipped = runner.invoke(args=["routing", "show"])
    assert re.search(r"^ROAD_POTHOLE +zdit +auto +verified$", shipped.output, re.M)


def test_category_attributes_are_validated_with_clear_errors(tmp_path):
    text = SHIPPED.read_text(encoding="utf-8")
    bad = text.replace('datatype = "singlevaluelist"\nrequired = true', 'datatype = "dropdown"\nrequired = "yes"', 1)
    bad = bad.replace('code = "pole_number"\ndatatype = "string"',
                      'code = "pole_number"\ndatatype = "string"\nvalues = []', 1)
    bad = bad.replace('description_en = "How many lamps are out?"\n', '', 1)
    path = tmp_path / "routing.toml"
    path.write_text(bad, encoding="utf-8")
    errors = "\n".join(errors_of(path))
    assert "(TREE_HAZARD).attributes[0] (blocks_road).datatype: 'dropdown' is not a datatype" in errors
    assert "(blocks_road).required: must be true or false" in errors
    assert "(pole_number).values: only a singlevaluelist or multivaluelist has values" in errors
    assert "(lamps_out).description_en: missing" in errors
    # A list type without values.
    path.write_text(text.replace('datatype = "string"', 'datatype = "singlevaluelist"', 1),
                    encoding="utf-8")
    assert any("(pole_number).values: a singlevaluelist needs one or more" in e for e in errors_of(path))


def test_a_group_may_set_its_nearby_radius_and_a_wrong_one_is_named(tmp_path, shipped):
    assert shipped.nearby_metres("STREET_LIGHT", 50) == 30          # roads
    assert shipped.nearby_metres("ILLEGAL_DUMP", 50) == 100         # cleanliness
    assert shipped.nearby_metres("HOMELESS", 50) == 50              # social: the default
    assert shipped.nearby_metres("NOPE", 42) == 42
    text = (FIXTURES / "with_area.toml").read_text(encoding="utf-8")
    for bad, shown in (('"30"', "a string '30'"), ("0", "0"), ("5000", "5000"), ("true", "true/false True")):
        shutil.copytree(FIXTURES, tmp_path, dirs_exist_ok=True)  # the area files it names
        path = tmp_path / "routing.toml"
        path.write_text(text.replace('name_uk = "Чистота"\n', f'name_uk = "Чистота"\nnearby_metres = {bad}\n', 1),
                        encoding="utf-8")
        assert errors_of(path) == [
            f"groups[0] (clean).nearby_metres: must be a number of metres from 5 to 500, got {shown}"]
