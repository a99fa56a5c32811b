"""The small map on territory, facility, dispute and state pages: which states to outline and
which places to mark, as JSON that static/map.js draws over the Natural Earth atlas vendored in
static/vendor/map/ (no tile server).

States are outlined by their ISO 3166-1 numeric code, the atlas's feature id (pycountry gives
the code from the state's alpha-3 id); places are marked at their GeoSPARQL point
(geo:hasGeometry/geo:asWKT "POINT(lon lat)"). A state the 1:110m atlas does not draw (a small
island state) and a place without a point are left out; a page with nothing to draw has no map.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import pycountry
import pyoxigraph as ox

from api import views
from api.pagework import Deadline, Facts
from kb.model import schema

ATLAS = "/static/vendor/map/countries-110m.json"
_ATLAS_FILE = Path(__file__).parent / "static" / "vendor" / "map" / "countries-110m.json"
MAX_POINTS = 200  # places marked on one map
_POINT = re.compile(r"\s*POINT\s*\(\s*(-?[\d.]+)\s+(-?[\d.]+)\s*\)\s*", re.IGNORECASE)


def _node(prop: schema.Property) -> ox.NamedNode:
    return ox.NamedNode(str(prop.iri))


_HAS_GEOMETRY = _node(schema.HAS_GEOMETRY)
_AS_WKT = _node(schema.AS_WKT)
_TERRITORY = _node(schema.DISPUTED_TERRITORY)
_CLAIMANT = _node(schema.CLAIMANT)
_ADMINISTERED_BY = _node(schema.ADMINISTERED_BY)
_PART_OF = _node(schema.PART_OF)
_LOCATED_IN = _node(schema.LOCATED_IN)


@dataclass(frozen=True)
class Place:
    """A marked place: where, its name, its page."""

    lat: float
    lon: float
    label: str
    href: str


@dataclass(frozen=True)
class Outline:
    """A state drawn from the atlas: its ISO numeric code, name, page and role on this map
    ('subject': the page's own state, 'claimant', 'administrator', 'part-of')."""

    code: str
    label: str
    href: str
    role: str


@dataclass(frozen=True)
class Map:
    """What one page's map shows."""

    points: tuple[Place, ...]
    states: tuple[Outline, ...]

    def json(self) -> str:
        """The map as static/map.js reads it from the figure's data-map attribute."""
        return json.dumps({"atlas": ATLAS, **asdict(self)}, ensure_ascii=False)


def point(wkt: str) -> tuple[float, float] | None:
    """(latitude, longitude) of a WKT point, or None if ``wkt`` is not one."""
    m = _POINT.fullmatch(wkt)
    return (float(m.group(2)), float(m.group(1))) if m else None


@cache
def _atlas_codes() -> frozenset[str]:
    topology = json.loads(_ATLAS_FILE.read_text(encoding="utf-8"))
    return frozenset(
        str(g["id"]) for g in topology["objects"]["countries"]["geometries"] if "id" in g
    )


def numeric_code(state_iri: str) -> str | None:
    """The ISO 3166-1 numeric code of a state's IRI, if the atlas draws that state."""
    found = schema.kind_of_iri(state_iri)
    if found is None or found[0].name != "state":
        return None
    country = pycountry.countries.get(alpha_3=found[1])
    code = getattr(country, "numeric", None)
    return code if code in _atlas_codes() else None


def entity_map(facts: Facts, iri: str, titles: views.Titles, deadline: Deadline) -> Map | None:
    """The map of the page of ``iri`` (a territory, facility, dispute or state), or None."""
    found = schema.kind_of_iri(iri)
    if found is None:
        return None
    kind = found[0].name
    node = ox.NamedNode(iri)
    places: list[ox.NamedNode] = []
    states: dict[str, str] = {}  # state IRI -> role (the first role given wins)

    # each once, in the order found (an old build's layout gives a triple once per file)
    def objects(subject: ox.NamedNode, predicate: ox.NamedNode) -> list[ox.NamedNode]:
        found = (q.object for q in facts.quads(subject, predicate))
        return [o for o in dict.fromkeys(found) if isinstance(o, ox.NamedNode)]

    def subjects(predicate: ox.NamedNode, obj: ox.NamedNode) -> list[ox.NamedNode]:
        found = (q.subject for q in facts.quads(None, predicate, obj))
        return [s for s in dict.fromkeys(found) if isinstance(s, ox.NamedNode)]

    def dispute_parties(dispute: ox.NamedNode) -> None:
        for s in objects(dispute, _CLAIMANT):
            states.setdefault(s.value, "claimant")
        for s in objects(dispute, _ADMINISTERED_BY):
            states.setdefault(s.value, "administrator")

    if kind == "state":
        states[iri] = "subject"
        for predicate in (_CLAIMANT, _ADMINISTERED_BY):
            for dispute in subjects(predicate, node):
                places += objects(dispute, _TERRITORY)
        places += subjects(_LOCATED_IN, node)
    elif kind == "territory":
        places.append(node)
        for s in objects(node, _PART_OF):
            states.setdefault(s.value, "part-of")
        for dispute in subjects(_TERRITORY, node):
            dispute_parties(dispute)
    elif kind == "facility":
        places.append(node)
        for where in objects(node, _LOCATED_IN):
            places.append(where)
            states.setdefault(where.value, "part-of")
            for s in objects(where, _PART_OF):
                states.setdefault(s.value, "part-of")
    elif kind == "dispute":
        places += objects(node, _TERRITORY)
        dispute_parties(node)
    else:
        return None
    deadline.check()

    marked: list[Place] = []
    for place in dict.fromkeys(places):  # once each, in the order found
        if len(marked) >= MAX_POINTS:
            break
        for geometry in objects(place, _HAS_GEOMETRY):
            wkt = next(facts.quads(geometry, _AS_WKT), None)
            text = wkt.object if wkt is not None else None
            latlon = point(text.value) if isinstance(text, ox.Literal) else None
            if latlon is not None:
                label = titles.name(place) or place.value.rsplit("/", 1)[-1]
                marked.append(Place(*latlon, label, views.local_href(place.value)))
                break
    outlines = []
    for state, role in states.items():
        code = numeric_code(state)
        if code is not None:
            label = titles.name(ox.NamedNode(state)) or state.rsplit("/", 1)[-1]
            outlines.append(Outline(code, label, views.local_href(state), role))
    if not marked and not outlines:
        return None
    return Map(tuple(marked), tuple(outlines))
