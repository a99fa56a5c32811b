"""Places carry a point ([latitude, longitude]) with its own citations, checked as written and
stored as GeoSPARQL WKT (longitude first)."""

import textwrap

import pyoxigraph as ox
import yaml

from kb.build.mapping import ntriples, to_nodes
from kb.build.records import records_from_yaml
from kb.build.shape_checks import violations
from kb.build.yamlfile import Loader

_PLACE = """\
    territories:
      - id: abu-musa
        label: Abu Musa
        geometry:
          point: {point}
          citations:
            - source: an-atlas
              locator: infobox, Coordinates
              says: The island lies at about 25.87 N, 55.03 E.
    """


def _read(point: str) -> tuple[list, list[str]]:
    root = yaml.compose(textwrap.dedent(_PLACE.format(point=point)), Loader=Loader)
    records, problems = records_from_yaml("data/places.yaml", root)
    return records, [str(p) for p in problems]


def test_a_point_becomes_wkt_longitude_first_with_its_citation() -> None:
    records, problems = _read("[25.87, 55.03]")
    assert problems == []
    [record] = records
    # the one reference, resolved as kb.build.linking would
    resolved = {(r.kinds, r.id): f"https://w3id.org/geokb/id/source/{r.id}" for r in record.refs()}
    triples = ntriples(to_nodes(records, resolved)).triples()
    graph = {(t.subject.value, t.predicate.value): t.object for t in triples}
    place = "https://w3id.org/geokb/id/territory/abu-musa"
    geo = "http://www.opengis.net/ont/geosparql#"
    assert graph[place, geo + "hasGeometry"] == ox.NamedNode(place + "#geometry-1")
    assert graph[place + "#geometry-1", geo + "asWKT"] == ox.Literal(
        "POINT(55.03 25.87)", datatype=ox.NamedNode(geo + "wktLiteral")
    )
    citation = graph[place + "#geometry-1", "https://w3id.org/geokb/ontology#citation"]
    assert citation == ox.NamedNode(place + "#geometry-1-citation-1")
    # the cited source is also a source of the place, as a fact's citations are
    assert graph[place, "http://purl.org/dc/terms/source"].value.endswith("/source/an-atlas")
    source = "https://w3id.org/geokb/id/source/an-atlas"
    assert violations(triples, {source: ["https://w3id.org/geokb/ontology#Source"]}) == []


def test_a_latitude_out_of_range_asks_whether_lat_and_lon_were_swapped() -> None:
    _, problems = _read("[95.0, 26.3]")
    assert problems == [
        "data/places.yaml:5:14: territories[0].geometry.point: latitude 95.0 is out of range "
        "-90..90\n  did you swap latitude and longitude? write [latitude, longitude] in decimal "
        "degrees, e.g. [25.87, 55.03]"
    ]


def test_a_longitude_out_of_range_names_the_range() -> None:
    _, problems = _read("[25.87, 190]")
    assert "territories[0].geometry.point: longitude 190 is out of range -180..180" in problems[0]


def test_degrees_and_minutes_are_refused_with_the_conversion() -> None:
    _, problems = _read('["25°52 N", 55.03]')
    assert "'25°52 N' is not a number in decimal degrees" in problems[0]
    assert "25 + 52/60" in problems[0]


def test_a_single_number_is_not_a_point() -> None:
    _, problems = _read("25.87")
    assert "expected a point: a list of two numbers" in problems[0]


def test_a_point_without_citations_is_refused() -> None:
    root = yaml.compose(
        "territories:\n  - id: x\n    label: X\n    geometry: {point: [1, 2]}\n", Loader=Loader
    )
    _, problems = records_from_yaml("data/places.yaml", root)
    assert [p.field for p in problems] == ["territories[0].geometry.citations"]


def test_a_map_outlines_a_state_by_the_atlas_code_and_reads_wkt_points() -> None:
    from api.maps import numeric_code, point

    assert numeric_code("https://w3id.org/geokb/id/state/IRN") == "364"
    assert numeric_code("https://w3id.org/geokb/id/state/MCO") is None  # too small at 1:110m
    assert numeric_code("https://w3id.org/geokb/id/territory/crimea") is None
    assert point("POINT(55.033 25.867)") == (25.867, 55.033)  # WKT: longitude first
    assert point("POLYGON((0 0, 1 0, 1 1, 0 0))") is None
