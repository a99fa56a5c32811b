"""Step 2 of the data path: turn a YAML node tree into typed records, checked field by field.

A data file is a mapping of sections (``states:``, ``arms_transfers:`` ...) to lists of
records. Each record is a mapping with an ``id`` and the fields its kind allows
(``kb.model.schema``). Every problem found is collected, with its file, line and column.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml
from rdflib import XSD, URIRef

from kb.build import suggest
from kb.build.yamlfile import node_location
from kb.errors import Location, Problem
from kb.model import schema
from kb.model.schema import Kind

_NULLS = ("", "~", "null", "Null", "NULL")
# rdflib's XSD.x is a lookup on every use: these are read once per date value
_XSD_DATE, _XSD_YEAR_MONTH, _XSD_YEAR = XSD.date, XSD.gYearMonth, XSD.gYear


def _quoted(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and bool(node.style)  # '' or None: plain


def _is_null(node: yaml.Node) -> bool:
    # The loader resolves no implicit types (kb.build.yamlfile): a plain scalar spelled as YAML's
    # null is null; a quoted "null" is the text "null".
    return isinstance(node, yaml.ScalarNode) and not node.style and node.value in _NULLS


_DATE_RE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_LANG_RE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")


@dataclass(frozen=True)
class DateValue:
    """A date as written, with the XSD datatype of its precision."""

    text: str
    datatype: URIRef


@dataclass(frozen=True)
class LangString:
    """Text in one language."""

    text: str
    lang: str


@dataclass(frozen=True)
class RefValue:
    """A reference to another record, as written; resolved by ``kb.build.linking``."""

    kinds: tuple[str, ...]
    id: str
    location: Location
    path: str  # where in the file, e.g. 'arms_transfers[0].recipient'


@dataclass(frozen=True)
class UrlValue:
    """An absolute URL."""

    url: str


@dataclass(frozen=True)
class FieldValue:
    """A field of the record a part belongs to, named by its YAML key (``supports``)."""

    key: str
    iri: str  # the field's property


@dataclass(frozen=True)
class PointValue:
    """A WGS84 point, its decimal degrees as written (``schema.Point``)."""

    lat: str
    lon: str

    @property
    def wkt(self) -> str:
        """The point as GeoSPARQL WKT: longitude first."""
        return f"POINT({self.lon} {self.lat})"


@dataclass(frozen=True, eq=False)
class Part:
    """A record nested in another (a citation): its values by key and where each was written.

    Compared by identity: two citations that read alike are still two citations."""

    structure: schema.Structure
    index: int  # its place in its record's list, from 0
    values: Mapping[str, tuple[Value, ...]]
    location: Location
    field_locations: Mapping[str, Location]
    path: str  # where in the file, e.g. 'arms_transfers[3].citations[0]'

    def location_of(self, key: str | None) -> Location:
        """Where field ``key`` was written, or the part itself if it was not."""
        if key is None:
            return self.location
        return self.field_locations.get(key, self.location)

    def iri_text(self, record_iri: str) -> str:
        """The part's IRI, minted under its record's."""
        return self.structure.iri_text(record_iri, self.index)


Value = (
    str
    | int
    | bool
    | DateValue
    | LangString
    | RefValue
    | UrlValue
    | schema.Option
    | FieldValue
    | PointValue
    | Part
)


@dataclass(frozen=True)
class Record:
    """One curated record: its kind, id, values by YAML key and where each was written."""

    kind: Kind
    id: str
    values: Mapping[str, tuple[Value, ...]]
    location: Location
    field_locations: Mapping[str, Location]
    path: str = ""  # where in the file, e.g. 'arms_transfers[3]'

    @property
    def iri(self) -> URIRef:
        """The record's public IRI."""
        return self.kind.iri(self.id)

    def location_of(self, key: str | None) -> Location:
        """Where field ``key`` was written, or the record itself if it was not."""
        if key is None:
            return self.location
        return self.field_locations.get(key, self.location)

    def parts(self) -> list[Part]:
        """The records nested in this one (its citations, its geometry and the geometry's
        citations), in the order written."""
        return _parts(self.values)

    def refs(self) -> list[RefValue]:
        """Every reference the record makes, its parts' included."""
        out: dict[int, RefValue] = {}  # by identity: a citation's source is also in 'sources'
        for values in [self.values, *(p.values for p in self.parts())]:
            for vs in values.values():
                out.update((id(r), r) for r in vs if type(r) is RefValue)
        return list(out.values())


def _parts(values: Mapping[str, tuple[Value, ...]]) -> list[Part]:
    out: list[Part] = []
    for vs in values.values():
        for v in vs:
            if type(v) is Part:
                out.append(v)
                out.extend(_parts(v.values))
    return out


def records_from_yaml(file: str, root: yaml.Node | None) -> tuple[list[Record], list[Problem]]:
    """The records in one parsed data file, and every problem found in it."""
    problems: list[Problem] = []
    records: list[Record] = []
    if root is None:
        problems.append(
            Problem(
                Location(file, 1, 1),
                "",
                "file is empty",
                f"start with a section, one of: {_sections()}",
            )
        )
        return records, problems
    if not isinstance(root, yaml.MappingNode):
        problems.append(
            Problem(
                node_location(file, root),
                "",
                "a data file must be a mapping of sections to lists of records",
                f"start with a section, one of: {_sections()}",
            )
        )
        return records, problems
    for key_node, value_node in root.value:
        section = str(key_node.value)
        kind = schema.KINDS_BY_SECTION.get(section)
        if kind is None:
            problems.append(
                Problem(
                    node_location(file, key_node),
                    section,
                    "unknown section",
                    _did_you_mean(section, schema.KINDS_BY_SECTION, "sections"),
                )
            )
            continue
        if _is_null(value_node):
            continue  # an empty section is allowed: a file being started
        if not isinstance(value_node, yaml.SequenceNode):
            problems.append(
                Problem(
                    node_location(file, value_node),
                    section,
                    "expected a list of records (lines starting with '- ')",
                )
            )
            continue
        for index, item in enumerate(value_node.value):
            path = f"{section}[{index}]"
            record = _record(file, kind, path, item, problems)
            if record is not None:
                records.append(record)
    return records, problems


def _record(
    file: str, kind: Kind, path: str, node: yaml.Node, problems: list[Problem]
) -> Record | None:
    here = node_location(file, node)
    if not isinstance(node, yaml.MappingNode):
        problems.append(
            Problem(here, path, f"expected a {kind.label} record (a mapping of fields)")
        )
        return None
    values: dict[str, tuple[Value, ...]] = {}
    locations: dict[str, Location] = {}
    record_id: str | None = None
    n_before = len(problems)
    for key_node, value_node in node.value:
        key = str(key_node.value)
        where = node_location(file, key_node)
        if key == "id":
            record_id = _id(file, kind, f"{path}.id", value_node, problems)
            locations["id"] = where
            continue
        fld = kind.field(key)
        if fld is None:
            allowed = ["id", *(f.key for f in kind.fields)]
            problems.append(
                Problem(
                    where,
                    f"{path}.{key}",
                    f"unknown field for a {kind.label}",
                    _did_you_mean(key, allowed, "fields"),
                )
            )
            continue
        locations[key] = where
        parsed = _field_values(file, fld, f"{path}.{key}", value_node, problems, kind)
        if parsed:
            values[key] = parsed
    if record_id is None and "id" not in locations:
        problems.append(
            Problem(here, f"{path}.id", "required field missing", f"add 'id:', {kind.id_hint}")
        )
    for fld in kind.fields:
        if fld.required and fld.key not in values and fld.key not in locations:
            if fld.alternative is not None and fld.alternative in locations:
                continue
            also = f" or '{fld.alternative}:'" if fld.alternative else ""
            problems.append(
                Problem(
                    here,
                    f"{path}.{fld.key}",
                    "required field missing",
                    f"add '{fld.key}:'{also} ({fld.prop.definition})",
                )
            )
    if record_id is None or len(problems) > n_before:
        return None
    _cited_sources(kind, values)
    return Record(kind, record_id, values, here, locations, path)


def _cited_sources(kind: Kind, values: dict[str, tuple[Value, ...]]) -> None:
    """Add the source of each citation to the record's sources, once: every cited source is
    a dcterms:source of the fact, as the short form 'sources:' states it."""
    parts = [p for p in _parts(values) if p.structure.name == "citation"]
    if not parts or kind.field("sources") is None:
        return
    sources = list(values.get("sources", ()))
    seen = {(r.kinds, r.id) for r in sources if type(r) is RefValue}
    for part in parts:
        for ref in part.values.get("source", ()):
            if type(ref) is RefValue and (ref.kinds, ref.id) not in seen:
                seen.add((ref.kinds, ref.id))
                sources.append(ref)
    values["sources"] = tuple(sources)


def _part(
    file: str,
    structure: schema.Structure,
    index: int,
    path: str,
    node: yaml.MappingNode,
    problems: list[Problem],
    owner: Kind,
) -> Part | None:
    here = node_location(file, node)
    values: dict[str, tuple[Value, ...]] = {}
    locations: dict[str, Location] = {}
    n_before = len(problems)
    for key_node, value_node in node.value:
        key = str(key_node.value)
        where = node_location(file, key_node)
        fld = structure.field(key)
        if fld is None:
            problems.append(
                Problem(
                    where,
                    f"{path}.{key}",
                    f"unknown field for a {structure.label}",
                    _did_you_mean(key, [f.key for f in structure.fields], "fields"),
                )
            )
            continue
        locations[key] = where
        parsed = _field_values(file, fld, f"{path}.{key}", value_node, problems, owner)
        if parsed:
            values[key] = parsed
    for fld in structure.fields:
        if fld.required and fld.key not in locations:
            problems.append(
                Problem(
                    here,
                    f"{path}.{fld.key}",
                    "required field missing",
                    f"add '{fld.key}:' ({fld.prop.definition})",
                )
            )
    if len(problems) > n_before:
        return None
    return Part(structure, index, values, here, locations, path)


def _id(file: str, kind: Kind, path: str, node: yaml.Node, problems: list[Problem]) -> str | None:
    text = _scalar_text(node)
    if text is None or not kind.id_matches(text):
        shown = text if text is not None else "a non-text value"
        problems.append(
            Problem(
                node_location(file, node),
                path,
                f"'{shown}' is not a valid {kind.label} id",
                f"ids are {kind.id_hint}",
            )
        )
        return None
    if is_placeholder(text):
        problems.append(
            Problem(
                node_location(file, node),
                path,
                f"'{text}' is the placeholder id of a 'geokb new' skeleton",
                f"replace the placeholder id with the record's own: {kind.id_hint}",
            )
        )
        return None
    return text


#: The ids 'geokb new' gives a skeleton (``kb.review.skeleton``): shaped as a slug or a
#: state's code so that nothing else complains, but never valid as a record's own id.
PLACEHOLDER_IDS = ("replace-me", "XXX")
_PLACEHOLDER_RE = re.compile(r"replace-me(?:-[0-9]+)?|XXX")


def is_placeholder(record_id: str) -> bool:
    """Whether ``record_id`` is a placeholder left by 'geokb new'."""
    return _PLACEHOLDER_RE.fullmatch(record_id) is not None


def _field_values(
    file: str,
    fld: schema.Field,
    path: str,
    node: yaml.Node,
    problems: list[Problem],
    owner: Kind,
) -> tuple[Value, ...]:
    if type(fld.prop.range) is schema.Point:
        point = _point(node)
        if type(point) is _Fail:
            problems.append(Problem(node_location(file, node), path, *point))
            return ()
        return (point,)  # type: ignore[return-value]
    if fld.many:
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if not items:
            problems.append(
                Problem(
                    node_location(file, node),
                    path,
                    "empty list",
                    "give at least one value, or leave the field out",
                )
            )
        out: list[Value] = []
        nested = isinstance(fld.prop.range, schema.Nested)
        for i, item in enumerate(items):
            # nested records are always numbered: their paths name them in messages
            where = f"{path}[{i}]" if len(items) > 1 or nested else path
            if nested:
                out.extend(_nested(file, fld, where, i, item, problems, owner))
            else:
                out.extend(_value(file, fld, where, item, problems, owner))
        return tuple(out)
    if isinstance(node, yaml.SequenceNode):
        problems.append(
            Problem(
                node_location(file, node),
                path,
                "expected one value, not a list",
                "this field takes a single value",
            )
        )
        return ()
    if isinstance(fld.prop.range, schema.Nested):
        return tuple(_nested(file, fld, path, 0, node, problems, owner))
    return tuple(_value(file, fld, path, node, problems, owner))


def _nested(
    file: str,
    fld: schema.Field,
    path: str,
    index: int,
    node: yaml.Node,
    problems: list[Problem],
    owner: Kind,
) -> list[Value]:
    rng = fld.prop.range
    assert isinstance(rng, schema.Nested)
    structure = schema.STRUCTURES_BY_NAME[rng.structure]
    if not isinstance(node, yaml.MappingNode):
        text = _scalar_text(node)
        found = f"'{text}'" if text is not None else _node_kind(node)
        first = structure.fields[0].key
        problems.append(
            Problem(
                node_location(file, node),
                path,
                f"expected a {structure.label} (a mapping of fields), found {found}",
                f"write '- {first}: {text}' and the other fields under it"
                if text is not None
                else f"write fields under it: {', '.join(f.key + ':' for f in structure.fields)}",
            )
        )
        return []
    part = _part(file, structure, index, path, node, problems, owner)
    return [] if part is None else [part]


def _value(
    file: str,
    fld: schema.Field,
    path: str,
    node: yaml.Node,
    problems: list[Problem],
    owner: Kind,
) -> list[Value]:
    rng = fld.prop.range
    rng_type = type(rng)
    if type(node) is yaml.ScalarNode and (node.style or node.value not in _NULLS):
        text = node.value
        if rng_type is schema.Ref:  # the commonest kind of value, so first
            return _ref(file, rng, path, node, text, problems)  # type: ignore[arg-type]
        if rng_type is schema.FieldName:
            return _field_name(file, owner, path, node, text, problems)
        found = _READERS[rng_type](rng, text, bool(node.style))
        if type(found) is _Fail:
            problems.append(Problem(node_location(file, node), path, *found))
            return []
        return [found]  # type: ignore[list-item]
    if rng_type is schema.LangText and isinstance(node, yaml.MappingNode):
        out: list[Value] = []
        for k, v in node.value:
            lang, text = str(k.value), _scalar_text(v)
            failed = None
            if not _LANG_RE.fullmatch(lang):
                failed = (f"'{lang}' is not a language tag", "use BCP 47 tags: en, fa, ru, ar")
            elif not text:
                failed = (f"empty text for language '{lang}'", "give the name in that language")
            if failed:
                problems.append(Problem(node_location(file, node), path, *failed))
                return []
            out.append(LangString(text.strip(), lang))  # type: ignore[union-attr]
        return out
    problems.append(
        Problem(
            node_location(file, node),
            path,
            f"expected {_describe(rng)}, found {_node_kind(node)}",
            _example(rng),
        )
    )
    return []


class _Fail(tuple[str, str]):
    """What is wrong with a value, and what would be right."""

    __slots__ = ()


def _text(rng: schema.Text, text: str, quoted: bool) -> Value | _Fail:
    stripped = text.strip()
    if not stripped:
        return _Fail(("empty text", "give a value or leave the field out"))
    if rng.pattern and not _compiled(rng.pattern).fullmatch(text):
        return _Fail((f"'{text}' is not well-formed", f"expected {rng.pattern_hint}"))
    return stripped


def _lang_text(rng: schema.LangText, text: str, quoted: bool) -> Value | _Fail:
    stripped = text.strip()
    if not stripped:
        return _Fail(("empty text", "give a name"))
    return LangString(stripped, "en")


def _integer(rng: schema.Integer, text: str, quoted: bool) -> Value | _Fail:
    if quoted or not _DIGITS.fullmatch(text):
        return _Fail(
            (
                f"'{text}' is not a whole number ≥ 0",
                "write digits only, e.g. 120; leave the field out when unknown",
            )
        )
    return int(text)


def _boolean(rng: schema.Boolean, text: str, quoted: bool) -> Value | _Fail:
    if text not in ("true", "false"):
        return _Fail((f"'{text}' is not true or false", "write true or false"))
    return text == "true"


def _date(rng: schema.Date, text: str, quoted: bool) -> Value | _Fail:
    date = parse_date(text)
    if rng.day and (date is None or date.datatype != _XSD_DATE):
        return _Fail((f"'{text}' is not a full date", "write YYYY-MM-DD, e.g. 2026-11-25"))
    if date is None:
        return _Fail(
            (
                f"'{text}' is not a valid date",
                "write YYYY, YYYY-MM or YYYY-MM-DD (e.g. 2022, 2022-10, 2022-10-13), "
                "at the precision known",
            )
        )
    return date


def _choice(rng: schema.Choice, text: str, quoted: bool) -> Value | _Fail:
    option = rng.option(text)
    if option is None:
        keys = [o.key for o in rng.options]
        if any(o.notation for o in rng.options):  # a code of an outside scheme: CAMEO
            return _Fail((f"'{text}' is not one of the allowed codes", _nearest_code(text, rng)))
        return _Fail(
            (f"'{text}' is not one of the allowed values", _did_you_mean(text, keys, "allowed"))
        )
    return option


def _nearest_code(text: str, rng: schema.Choice) -> str:
    # codes are a tree by their first two digits: '057' is under 05, never next to '07'
    code = suggest.cameo_code(text, (o.key for o in rng.options))
    if code is None:
        roots = ", ".join(o.key for o in rng.options if len(o.key) == 2)
        return f"give a code listed in the schema; the roots are {roots}"
    option = rng.option(code)
    assert option is not None
    under = [o.key for o in rng.options if o.key.startswith(code[:2])]
    zero = "; CAMEO codes keep their leading zero" if text[:1] != "0" == code[0] else ""
    return (
        f"did you mean '{code}' ({option.label})? the codes under {code[:2]} are: "
        f"{', '.join(under)}{zero}"
    )


def _url(rng: schema.Url, text: str, quoted: bool) -> Value | _Fail:
    if not _URL_RE.fullmatch(text):
        return _Fail((f"'{text}' is not an absolute http(s) URL", "e.g. https://example.org/page"))
    return UrlValue(text)


_POINT_HINT = "write [latitude, longitude] in decimal degrees, e.g. [25.87, 55.03]"


def _point(node: yaml.Node) -> PointValue | _Fail:
    """A point written ``[lat, lon]``, each in range, or what is wrong and what would be right."""
    items = node.value if isinstance(node, yaml.SequenceNode) else None
    if items is None or len(items) != 2 or not all(type(i) is yaml.ScalarNode for i in items):
        return _Fail(("expected a point: a list of two numbers", _POINT_HINT))
    lat, lon = (str(i.value).strip().removeprefix("+") for i in items)
    for text in (lat, lon):
        if not _DECIMAL.fullmatch(text):
            degrees = (
                "; convert degrees and minutes: 25°52' is 25 + 52/60 = 25.867"
                if any(c in text for c in "°'\u2032")
                else ""
            )
            return _Fail((f"'{text}' is not a number in decimal degrees", _POINT_HINT + degrees))
    swap = "did you swap latitude and longitude? " if abs(float(lon)) <= 90 else ""
    if not -90 <= float(lat) <= 90:
        return _Fail((f"latitude {lat} is out of range -90..90", swap + _POINT_HINT))
    if not -180 <= float(lon) <= 180:
        return _Fail((f"longitude {lon} is out of range -180..180", _POINT_HINT))
    return PointValue(lat, lon)


_DECIMAL = re.compile(r"[+-]?\d{1,3}(?:\.\d+)?")

_READERS: dict[type, Callable[[Any, str, bool], Value | _Fail]] = {
    schema.Text: _text,
    schema.LangText: _lang_text,
    schema.Integer: _integer,
    schema.Boolean: _boolean,
    schema.Date: _date,
    schema.Choice: _choice,
    schema.Url: _url,
}
_DIGITS = re.compile(r"\d+")
_URL_RE = re.compile(r"https?://[^\s<>\"{}|\\^`]+")


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _ref(
    file: str, rng: schema.Ref, path: str, node: yaml.Node, text: str, problems: list[Problem]
) -> list[Value]:
    # a reference: 'id' or 'kind/id'
    kinds = rng.kinds
    if "/" in text:
        kind_name, _, ref_id = text.partition("/")
        if kind_name not in kinds:
            problems.append(
                Problem(
                    node_location(file, node),
                    path,
                    f"'{kind_name}' is not a kind this field can refer to",
                    f"refer to one of: {', '.join(k + '/<id>' for k in kinds)}",
                )
            )
            return []
        kinds = (kind_name,)
    else:
        ref_id = text
    return [RefValue(kinds, ref_id, node_location(file, node), path)]


def _field_name(
    file: str, owner: Kind, path: str, node: yaml.Node, text: str, problems: list[Problem]
) -> list[Value]:
    keys = {f.key: f for f in schema.value_fields(owner)}
    fld = keys.get(text)
    if fld is None:
        problems.append(
            Problem(
                node_location(file, node),
                path,
                f"'{text}' is not a value field of the {owner.label}",
                _did_you_mean(text, keys, "fields a citation can support"),
            )
        )
        return []
    return [FieldValue(text, str(fld.prop.iri))]


def parse_date(text: str) -> DateValue | None:
    """A date at year, month or day precision, or None if ``text`` is not one."""
    m = _DATE_RE.fullmatch(text)
    if m is None:
        return None
    year, month, day = m.groups()
    try:
        if day is not None:
            datetime.date(int(year), int(month), int(day))
            return DateValue(text, _XSD_DATE)
        if month is not None:
            if not 1 <= int(month) <= 12:
                return None
            return DateValue(text, _XSD_YEAR_MONTH)
    except ValueError:
        return None
    return DateValue(text, _XSD_YEAR)


def _scalar_text(node: yaml.Node) -> str | None:
    if not isinstance(node, yaml.ScalarNode) or _is_null(node):
        return None
    return str(node.value)


def _node_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "nothing (empty value)"


def _describe(rng: schema.Range) -> str:
    return {
        schema.Text: "text",
        schema.LangText: "text, or a mapping of language to text",
        schema.Integer: "a whole number",
        schema.Boolean: "true or false",
        schema.Date: "a date",
        schema.Url: "a URL",
        schema.Choice: "one of a fixed list of values",
        schema.Ref: "an id",
        schema.FieldName: "the name of a field",
        schema.Nested: "a mapping of fields",
        schema.Point: "[latitude, longitude]",
    }[type(rng)]


def _example(rng: schema.Range) -> str:
    if isinstance(rng, schema.Ref):
        return f"give the id of a {' or '.join(rng.kinds)}"
    if isinstance(rng, schema.Date):
        return "write YYYY-MM-DD" if rng.day else "write YYYY, YYYY-MM or YYYY-MM-DD"
    return "give a value or leave the field out"


def _sections() -> str:
    return ", ".join(f"'{s}:'" for s in schema.KINDS_BY_SECTION)


def _did_you_mean(word: str, choices: object, what: str) -> str:
    options = list(choices)  # type: ignore[call-overload]
    close = suggest.closest(word, options)
    listing = ", ".join(options)
    if close:
        return f"did you mean '{close}'? ({what}: {listing})"
    return f"{what}: {listing}"
