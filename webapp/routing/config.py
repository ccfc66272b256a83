"""Reading and validating ``routing.toml``: city units, category groups, categories (Open311
services) and area rules.

The file is edited by city administrators (see ``docs/routing.md``), so validation collects
*every* problem and names the key of each one, e.g.
``categories[3] (ROAD_SIGN).unit: unknown unit 'zdt' (known: zdit, wgk, ...)``.
Messages are English: they are read in a terminal or a start-up log, not by residents.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from shapely.validation import explain_validity

from webapp.geo.boundary import Boundary

#: Languages a category or group name is given in; the first is the fallback.
LANGUAGES = ("pl", "en", "uk")
#: Regulamin pkt 3: reports are forwarded "automatycznie lub za pośrednictwem operatora".
MODES = ("auto", "operator")
#: Dispatch channels the outbox can deliver today.
CHANNELS = ("email",)
#: The Łódź gmina polygon (PRG, GUGiK) that every area rule must lie in.
DEFAULT_BOUNDARY_FILE = Path(__file__).resolve().parent.parent / "geo" / "data" / "lodz_boundary.geojson"
#: Share of an area polygon (by area) allowed outside Łódź: tolerates polygons drawn from a
#: different, slightly offset source along the city limit, refuses misplaced or swapped lon/lat.
MAX_OUTSIDE_SHARE = 0.01

_ID_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class RoutingConfigError(ValueError):
    """``routing.toml`` cannot be used.

    ``errors`` lists every problem found, each naming the key and the problem; ``str(error)``
    is a message with the file path and all of them, one per line.
    """

    def __init__(self, path: str | Path, errors: list[str]):
        self.path = str(path)
        self.errors = list(errors)
        count = len(self.errors)
        lines = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(f"{self.path}: {count} problem{'s' if count != 1 else ''} "
                         f"in the routing file:\n{lines}")


def _pick(names: dict[str, str], lang: str) -> str:
    return names.get((lang or "pl").split("_")[0].split("-")[0].lower()) or names["pl"]


@dataclass(frozen=True)
class Unit:
    """A city unit that acts on reports (UMŁ department or municipal body).

    ``id`` is a short ASCII key (``"zdit"``), ``name`` the official Polish name, ``short`` its
    abbreviation, ``email`` where dispatches go, ``channel`` how (only ``"email"`` today).
    """

    id: str
    name: str
    short: str
    email: str
    channel: str


@dataclass(frozen=True)
class Group:
    """A group of categories, shown as one ``<optgroup>`` in the report form.
    ``nearby_metres``: radius of the form's "already reported?" hint for its categories
    (None: the app's ``DUPLICATE_RADIUS_METRES``)."""

    id: str
    name_pl: str
    name_en: str
    name_uk: str
    nearby_metres: float | None = None

    def name(self, lang: str) -> str:
        """The name in ``lang`` ("pl", "en", "uk"); Polish for any other language."""
        return _pick({"pl": self.name_pl, "en": self.name_en, "uk": self.name_uk}, lang)


ATTRIBUTE_TYPES = ("string", "number", "text", "singlevaluelist", "multivaluelist")


@dataclass(frozen=True)
class AttributeValue:
    """One choice of a list attribute: ``key`` is stored and sent, the names are shown."""

    key: str
    name_pl: str
    name_en: str
    name_uk: str

    def name(self, lang: str) -> str:
        return _pick({"pl": self.name_pl, "en": self.name_en, "uk": self.name_uk}, lang)


@dataclass(frozen=True)
class Attribute:
    """An extra question of a category (Open311 service definition ``attribute``): ``code``
    names the answer, ``datatype`` is one of :data:`ATTRIBUTE_TYPES`, ``values`` the choices of
    a (single|multi)valuelist, ``description_*`` the question in each language."""

    code: str
    datatype: str
    required: bool
    description_pl: str
    description_en: str
    description_uk: str
    values: tuple[AttributeValue, ...] = ()

    def description(self, lang: str) -> str:
        return _pick({"pl": self.description_pl, "en": self.description_en,
                      "uk": self.description_uk}, lang)


@dataclass(frozen=True)
class Service:
    """A report category (Open311 service; ``code`` is the ``service_code``).

    ``unit`` is the id of the unit that must act, ``mode`` is ``"auto"`` (dispatched at once) or
    ``"operator"`` (waits for an operator of ``RoutingConfig.operator_unit``). ``confidence`` and
    ``evidence`` record how sure the city is of the category → unit pair and why.
    """

    code: str
    name_pl: str
    name_en: str
    name_uk: str
    group: str
    unit: str
    mode: str
    confidence: str = ""
    evidence: str = ""
    #: Extra questions (``[[categories.attributes]]``), in the file's order.
    attributes: tuple[Attribute, ...] = ()

    def name(self, lang: str) -> str:
        """The name in ``lang`` ("pl", "en", "uk"); Polish for any other language."""
        return _pick({"pl": self.name_pl, "en": self.name_en, "uk": self.name_uk}, lang)


@dataclass(frozen=True)
class AreaRule:
    """Reports in ``services`` whose point lies inside ``boundary`` go to ``unit`` instead of the
    category's unit. ``area`` is the GeoJSON file as written in routing.toml (relative to it);
    ``boundary`` the loaded polygon (:class:`webapp.geo.boundary.Boundary`, WGS84)."""

    id: str
    name: str
    services: tuple[str, ...]
    unit: str
    area: str
    boundary: Boundary = field(compare=False, repr=False)


@dataclass
class RoutingConfig:
    """The whole routing file, validated. ``services`` keeps the file's order."""

    units: dict[str, Unit]
    groups: dict[str, Group]
    services: dict[str, Service]
    area_rules: list[AreaRule]
    operator_unit: str
    source: str

    def service(self, code) -> Service | None:
        """The category with service_code ``code``, or None (also for a non-string ``code``)."""
        return self.services.get(code) if isinstance(code, str) else None

    # Names for pages, e-mails and the API. Reports keep codes and ids that a later edit of
    # routing.toml may remove, so every lookup falls back to the stored code or id.

    def category_name(self, code: str, lang: str = "pl") -> str:
        """Name of category ``code`` in ``lang`` ("pl"/"en"/"uk", Polish for any other); the
        bare code when the category is no longer in the file."""
        service = self.service(code)
        return service.name(lang) if service is not None else code

    def group_name(self, code: str, lang: str = "pl") -> str | None:
        """Name of the group of category ``code`` in ``lang``, or None when unknown."""
        service = self.service(code)
        group = self.groups.get(service.group) if service is not None else None
        return group.name(lang) if group is not None else None

    def nearby_metres(self, code: str, default: float) -> float:
        """Radius in metres of the "already reported?" hint for category ``code``: its group's
        ``nearby_metres``, else ``default`` (also for an unknown code)."""
        service = self.service(code)
        group = self.groups.get(service.group) if service is not None else None
        found = group.nearby_metres if group is not None else None
        return float(found) if found is not None else float(default)

    def unit_name(self, unit_id: str | None) -> str | None:
        """Official (Polish) name of unit ``unit_id``; the id itself when the unit is no longer
        in the file; None for no unit."""
        if not unit_id:
            return None
        unit = self.units.get(unit_id)
        return unit.name if unit is not None else unit_id

    def grouped(self) -> list[tuple[Group, list[Service]]]:
        """Categories by group for the form's ``<optgroup>``s: groups in file order, each with its
        categories in file order; groups without categories are left out."""
        result = []
        for group in self.groups.values():
            members = [s for s in self.services.values() if s.group == group.id]
            if members:
                result.append((group, members))
        return result


class _Collector:
    """Reads typed values out of TOML tables, recording a problem per bad key."""

    def __init__(self):
        self.errors: list[str] = []

    def add(self, message: str) -> None:
        self.errors.append(message)

    def table_list(self, data: dict, key: str, *, required: bool) -> list[tuple[int, dict]]:
        value = data.get(key)
        if value is None:
            if required:
                self.add(f"{key}: missing (expected one or more [[{key}]] tables)")
            return []
        if not isinstance(value, list):
            self.add(f"{key}: must be a list of tables ([[{key}]]), got {_type(value)}")
            return []
        tables = []
        for i, item in enumerate(value):
            if isinstance(item, dict):
                tables.append((i, item))
            else:
                self.add(f"{key}[{i}]: must be a table, got {_type(item)}")
        if required and not value:
            self.add(f"{key}: is empty (expected one or more [[{key}]] tables)")
        return tables

    def string(self, table: dict, key: str, where: str, *, required: bool = True,
               pattern: re.Pattern | None = None, hint: str = "") -> str | None:
        """``table[key]`` when it is a (non-empty, if required) string matching ``pattern``;
        else None, with the problem recorded under ``where.key`` (``key`` at the top level)."""
        name = f"{where}.{key}" if where else key
        if key not in table:
            if required:
                self.add(f"{name}: missing")
            return None
        value = table[key]
        if not isinstance(value, str):
            self.add(f"{name}: must be a string, got {_type(value)}")
            return None
        if required and not value.strip():
            self.add(f"{name}: must not be empty")
            return None
        if pattern is not None and not pattern.match(value):
            self.add(f"{name}: {value!r} is not valid ({hint})")
            return None
        return value

    def entries(self, data: dict, key: str, id_key: str, *, allowed: tuple[str, ...],
                pattern: re.Pattern, hint: str, required: bool = True):
        """Yield ``(where, id, table)`` for each ``[[key]]`` table: ``id`` is its ``id_key``
        value when valid (else None, with the problem recorded) and ``where`` names the table
        in messages (``units[3] (zdit)``); unknown keys are recorded too."""
        for i, table in self.table_list(data, key, required=required):
            where = f"{key}[{i}]"
            ident = self.string(table, id_key, where, pattern=pattern, hint=hint)
            if ident:
                where = f"{key}[{i}] ({ident})"
            self.unknown_keys(table, allowed, where)
            yield where, ident, table

    def keep(self, found: dict, ident: str | None, value, where: str, *, id_key: str,
             label: str) -> None:
        """Put ``value`` under ``ident`` in ``found``, recording a duplicate; a ``value`` of
        None (the table had problems) still makes the id known, so references to it are not
        reported a second time."""
        if not ident:
            return
        if ident in found:
            self.add(f"{where}.{id_key}: duplicate {label} {ident!r}")
        elif value is not None:
            found[ident] = value
        else:
            found.setdefault(ident, None)

    def unknown_keys(self, table: dict, allowed: tuple[str, ...], where: str) -> None:
        for key in table:
            if key not in allowed:
                self.add(f"{where}: unknown key {key!r} (allowed: {', '.join(allowed)})")


def _type(value) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true/false",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _known(ids) -> str:
    ids = list(ids)
    return ", ".join(ids) if ids else "none defined"


_UNIT_KEYS = ("id", "name", "short", "email", "channel")
_GROUP_KEYS = ("id", "name_pl", "name_en", "name_uk", "nearby_metres")
#: Bounds of a group's ``nearby_metres``: below a few metres GPS noise hides every duplicate,
#: above a few hundred the hint lists unrelated reports.
NEARBY_METRES_RANGE = (5, 500)
_SERVICE_KEYS = ("code", "name_pl", "name_en", "name_uk", "group", "unit", "mode",
                 "confidence", "evidence", "attributes")
_ATTRIBUTE_KEYS = ("code", "datatype", "required", "description_pl", "description_en",
                   "description_uk", "values")
_VALUE_KEYS = ("key", "name_pl", "name_en", "name_uk")
_AREA_KEYS = ("id", "name", "services", "unit", "area")
_TOP_KEYS = ("operator_unit", "units", "groups", "categories", "area_rules")
_ID_HINT = "use 1-32 lower-case ASCII letters, digits, '_' or '-'"


def load_routing(path: str | Path, *, boundary: Boundary | None = None) -> RoutingConfig:
    """Read and validate the routing file at ``path`` (TOML, UTF-8).

    ``boundary`` is the city polygon that area rules must lie in (WGS84); by default the Łódź
    PRG polygon in ``webapp/geo/data``, read only when the file has area rules. Area files are
    resolved relative to the routing file's folder.

    Returns a :class:`RoutingConfig`. Raises :class:`RoutingConfigError` listing all problems:
    unreadable file, TOML syntax error (with line and column), missing keys, wrong types,
    unknown keys, references to unknown units, groups or categories, duplicate ids or codes,
    a mode other than "auto"/"operator", a bad e-mail address, an unknown channel, and a
    missing, unreadable, invalid or outside-Łódź area polygon.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RoutingConfigError(path, ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RoutingConfigError(path, [f"cannot read the file: {exc}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The message ends with "(at line N, column M)".
        raise RoutingConfigError(path, [f"TOML syntax error: {exc}"]) from None

    c = _Collector()
    c.unknown_keys(data, _TOP_KEYS, "(top level)")
    units = _read_units(c, data)
    operator_unit = _read_operator_unit(c, data, units)
    groups = _read_groups(c, data)
    services = _read_services(c, data, units, groups)
    area_rules = _read_area_rules(c, data, units, services, folder=path.parent, city=boundary)
    if c.errors:
        raise RoutingConfigError(path, c.errors)
    return RoutingConfig(units=units, groups=groups, services=services, area_rules=area_rules,
                         operator_unit=operator_unit, source=str(path))


# One reader per section of the file. Each records its problems in the collector and returns
# what it could read; an id that is known but broken maps to None, so references to it are not
# reported a second time.

def _read_units(c: _Collector, data: dict) -> dict[str, Unit | None]:
    units: dict[str, Unit | None] = {}
    for where, uid, t in c.entries(data, "units", "id", allowed=_UNIT_KEYS, pattern=_ID_RE,
                                   hint=_ID_HINT + ", e.g. 'zdit'"):
        name = c.string(t, "name", where)
        short = c.string(t, "short", where)
        email = c.string(t, "email", where)
        channel = c.string(t, "channel", where)
        email = _email(c, email, where)
        if channel is not None and channel not in CHANNELS:
            c.add(f"{where}.channel: unknown channel {channel!r} (known: {', '.join(CHANNELS)})")
            channel = None
        unit = Unit(uid, name, short, email, channel) \
            if None not in (name, short, email, channel) else None
        c.keep(units, uid, unit, where, id_key="id", label="unit id")
    return units


def _email(c: _Collector, email: str | None, where: str) -> str | None:
    if email is None:
        return None
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        c.add(f"{where}.email: {email!r} is not a valid e-mail address ({exc})")
        return None
    return email


def _check_unit(c: _Collector, value, where: str, units: dict) -> bool:
    if value is not None and value not in units:
        c.add(f"{where}.unit: unknown unit {value!r} (known: {_known(units)})")
        return False
    return value is not None


def _read_operator_unit(c: _Collector, data: dict, units: dict) -> str | None:
    operator_unit = c.string(data, "operator_unit", "")
    if operator_unit is not None and operator_unit not in units:
        c.add(f"operator_unit: unknown unit {operator_unit!r} (known: {_known(units)})")
    return operator_unit


def _read_groups(c: _Collector, data: dict) -> dict[str, Group | None]:
    groups: dict[str, Group | None] = {}
    for where, gid, t in c.entries(data, "groups", "id", allowed=_GROUP_KEYS, pattern=_ID_RE,
                                   hint=_ID_HINT + ", e.g. 'roads'"):
        names = [c.string(t, f"name_{lang}", where) for lang in LANGUAGES]
        nearby = _nearby_metres(c, t, where)
        group = Group(gid, *names, nearby_metres=nearby) if None not in names else None
        c.keep(groups, gid, group, where, id_key="id", label="group id")
    return groups


def _nearby_metres(c: _Collector, table: dict, where: str) -> float | None:
    """A group's optional ``nearby_metres``: a number within :data:`NEARBY_METRES_RANGE`;
    None when absent or wrong (then with the problem recorded)."""
    if "nearby_metres" not in table:
        return None
    value = table["nearby_metres"]
    low, high = NEARBY_METRES_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        shown = f"{value!r}" if isinstance(value, (int, float)) and not isinstance(value, bool) \
            else f"{_type(value)} {value!r}"
        c.add(f"{where}.nearby_metres: must be a number of metres from {low} to {high}, "
              f"got {shown}")
        return None
    return float(value)


def _read_services(c: _Collector, data: dict, units: dict, groups: dict
                   ) -> dict[str, Service | None]:
    services: dict[str, Service | None] = {}
    for where, code, t in c.entries(data, "categories", "code", allowed=_SERVICE_KEYS,
                                    pattern=_CODE_RE, hint="use 1-64 ASCII letters, digits, "
                                    "'_', '.' or '-', e.g. 'ROAD_POTHOLE'"):
        names = [c.string(t, f"name_{lang}", where) for lang in LANGUAGES]
        group = c.string(t, "group", where)
        if group is not None and group not in groups:
            c.add(f"{where}.group: unknown group {group!r} (known: {_known(groups)})")
            group = None
        unit = c.string(t, "unit", where)
        unit_ok = _check_unit(c, unit, where, units)
        mode = c.string(t, "mode", where)
        if mode is not None and mode not in MODES:
            c.add(f"{where}.mode: {mode!r} is not a mode (use \"auto\" or \"operator\")")
            mode = None
        confidence = c.string(t, "confidence", where, required=False) or ""
        evidence = c.string(t, "evidence", where, required=False) or ""
        attributes = _read_attributes(c, t, where)
        service = Service(code, *names, group, unit, mode, confidence, evidence, attributes) \
            if None not in (*names, group, mode, attributes) and unit_ok else None
        c.keep(services, code, service, where, id_key="code", label="category code")
    return services


def _read_attributes(c: _Collector, table: dict, where: str) -> tuple[Attribute, ...] | None:
    """The category's ``[[categories.attributes]]``; None when any is wrong (recorded)."""
    before = len(c.errors)
    attributes, seen = [], set()
    for awhere, code, t in c.entries(table, "attributes", "code", allowed=_ATTRIBUTE_KEYS,
                                     pattern=_CODE_RE, hint="use 1-64 ASCII letters, digits, "
                                     "'_', '.' or '-', e.g. 'pole_number'", required=False):
        awhere = f"{where}.{awhere}"
        if code in seen:
            c.add(f"{awhere}.code: duplicate attribute code {code!r}")
        seen.add(code)
        datatype = c.string(t, "datatype", awhere)
        if datatype is not None and datatype not in ATTRIBUTE_TYPES:
            c.add(f"{awhere}.datatype: {datatype!r} is not a datatype "
                  f"(use one of {', '.join(ATTRIBUTE_TYPES)})")
        required = t.get("required", False)
        if not isinstance(required, bool):
            c.add(f"{awhere}.required: must be true or false, got {_type(required)}")
        descriptions = [c.string(t, f"description_{lang}", awhere) for lang in LANGUAGES]
        values = _read_values(c, t, awhere, datatype)
        if code and datatype in ATTRIBUTE_TYPES and None not in descriptions \
                and isinstance(required, bool) and values is not None:
            attributes.append(Attribute(code, datatype, required, *descriptions, values))
    return tuple(attributes) if len(c.errors) == before else None


def _read_values(c: _Collector, table: dict, where: str, datatype: str | None
                 ) -> tuple[AttributeValue, ...] | None:
    is_list = datatype in ("singlevaluelist", "multivaluelist")
    if not is_list:
        if "values" in table:
            c.add(f"{where}.values: only a singlevaluelist or multivaluelist has values")
            return None
        return ()
    if not isinstance(table.get("values"), list) or not table["values"]:
        c.add(f"{where}.values: a {datatype} needs one or more [[...values]] tables "
              "(key, name_pl, name_en, name_uk)")
        return None
    values, keys = [], set()
    for vwhere, key, t in c.entries(table, "values", "key", allowed=_VALUE_KEYS,
                                    pattern=_CODE_RE, hint="use 1-64 ASCII letters, digits, "
                                    "'_', '.' or '-'", required=True):
        vwhere = f"{where}.{vwhere}"
        if key in keys:
            c.add(f"{vwhere}.key: duplicate value {key!r}")
        keys.add(key)
        names = [c.string(t, f"name_{lang}", vwhere) for lang in LANGUAGES]
        if key and None not in names:
            values.append(AttributeValue(key, *names))
    return tuple(values) if values else None


def _read_area_rules(c: _Collector, data: dict, units: dict, services: dict, *, folder: Path,
                     city: Boundary | None) -> list[AreaRule]:
    area_rules: list[AreaRule] = []
    area_ids: set[str] = set()
    for where, rid, t in c.entries(data, "area_rules", "id", allowed=_AREA_KEYS,
                                   pattern=_ID_RE, hint=_ID_HINT, required=False):
        if rid in area_ids:
            c.add(f"{where}.id: duplicate area rule id {rid!r}")
            rid = None
        elif rid:
            area_ids.add(rid)
        name = c.string(t, "name", where)
        unit = c.string(t, "unit", where)
        unit_ok = _check_unit(c, unit, where, units)
        codes = _service_list(c, t, where, services)
        area = c.string(t, "area", where)
        shape = None
        if area is not None:
            if city is None:
                city = Boundary.from_file(DEFAULT_BOUNDARY_FILE)
            shape = _load_area(c, folder / area, area, where, city)
        if rid and name is not None and unit_ok and codes is not None and shape is not None:
            area_rules.append(AreaRule(rid, name, codes, unit, area, shape))
    return area_rules


def _service_list(c: _Collector, table: dict, where: str, services: dict) -> tuple[str, ...] | None:
    if "services" not in table:
        c.add(f"{where}.services: missing (a list of category codes)")
        return None
    value = table["services"]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        c.add(f"{where}.services: must be a non-empty list of category codes, e.g. "
              f"[\"PARK_FACILITY\"]")
        return None
    ok = True
    for j, code in enumerate(value):
        if code not in services:
            c.add(f"{where}.services[{j}]: unknown category {code!r}")
            ok = False
    return tuple(value) if ok else None


def _load_area(c: _Collector, file: Path, written: str, where: str, city: Boundary) -> Boundary | None:
    """Load one area polygon, recording why it cannot be used."""
    if not file.is_file():
        c.add(f"{where}.area: file {written!r} not found (looked for {file})")
        return None
    try:
        area = Boundary.from_file(file)
    except Exception as exc:  # noqa: BLE001 - any unreadable GeoJSON is one clear message
        c.add(f"{where}.area: {written!r} is not a usable GeoJSON polygon "
              f"({type(exc).__name__}: {exc})")
        return None
    geometry = area.geometry
    if not geometry.is_valid:
        c.add(f"{where}.area: the polygon in {written!r} is invalid ({explain_validity(geometry)})")
        return None
    if geometry.area == 0:
        c.add(f"{where}.area: the polygon in {written!r} has no area")
        return None
    outside = geometry.difference(city.geometry).area / geometry.area
    if outside >= 1.0 - 1e-9:
        c.add(f"{where}.area: the polygon in {written!r} lies outside Łódź "
              "(coordinates must be longitude, latitude in WGS84 degrees)")
        return None
    if outside > MAX_OUTSIDE_SHARE:
        c.add(f"{where}.area: {outside:.0%} of the polygon in {written!r} lies outside Łódź")
        return None
    return area
