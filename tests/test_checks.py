from pathlib import Path

import pytest
from conftest import MINI, as_rdflib, write_data
from rdflib import DCTERMS, Literal, URIRef

from kb.build.linking import id_entries, index_ids, resolve_refs
from kb.build.mapping import ntriples, to_nodes
from kb.build.pipeline import compile_data
from kb.build.records import records_from_yaml
from kb.build.reference_checks import shacl_problems
from kb.build.yamlfile import read_yaml
from kb.model.schema import GK

T1 = URIRef("https://w3id.org/geokb/id/transfer/t1")


def _mini_graph(tmp_path: Path):  # type: ignore[no-untyped-def]
    data = write_data(tmp_path / "data", MINI)
    records = []
    for f in sorted(data.glob("*.yaml")):
        found, _ = records_from_yaml(f.name, read_yaml(f))
        records += found
    index, problems = index_ids(id_entries(records))
    resolved, unresolved = resolve_refs(records, index)
    assert problems == unresolved == []
    by_iri = {r.iri: r for r in records}
    return as_rdflib(ntriples(to_nodes(records, resolved)).triples()), by_iri


def test_real_data_has_zero_shacl_violations() -> None:
    compiled = compile_data(Path(__file__).parent.parent / "data")
    assert compiled.triple_count() > 0  # compile_data raises on any violation


def _one_pass_engine(graph, records):  # type: ignore[no-untyped-def]
    from kb.build.checks import shape_problems
    from kb.model.rdf import ox_quads

    return shape_problems(ox_quads(graph), lambda: records)


ENGINES = pytest.mark.parametrize(
    "engine", [shacl_problems, _one_pass_engine], ids=["pyshacl", "one-pass"]
)


@ENGINES
def test_fact_without_source_is_a_located_violation(tmp_path: Path, engine) -> None:  # type: ignore[no-untyped-def]
    graph, by_iri = _mini_graph(tmp_path)
    graph.remove((T1, DCTERMS.source, None))
    [problem] = engine(graph, by_iri)
    assert str(problem).startswith("transfers.yaml:11:5: sources: required field missing")

    assert "arms transfer 't1'" in str(problem)


@ENGINES
def test_negative_quantity_and_foreign_property_are_violations(tmp_path: Path, engine) -> None:  # type: ignore[no-untyped-def]
    graph, by_iri = _mini_graph(tmp_path)
    graph.add((T1, GK.quantityDelivered, Literal(-5)))
    graph.add((T1, GK.madeUp, Literal("x")))
    problems = [str(p) for p in engine(graph, by_iri)]
    assert len(problems) == 2
    assert any("quantity_delivered" in p for p in problems)
    assert any("madeUp is not part of the model" in p for p in problems)


# --- the SPARQL engine finds what pyshacl finds ------------------------------------------

S1 = URIRef("https://w3id.org/geokb/id/source/test-source")
IRN = URIRef("https://w3id.org/geokb/id/state/IRN")
XSD_NS = "http://www.w3.org/2001/XMLSchema#"


def _pyshacl_findings(graph) -> set[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    from pyshacl import validate
    from rdflib import RDF, SH, Graph

    from kb.model.ontology import ontology_graph, shapes_graph

    shapes, ont = Graph(), Graph()
    shapes += shapes_graph()
    ont += ontology_graph()
    _, report, _ = validate(graph, shacl_graph=shapes, ont_graph=ont, inference="none")
    return {
        (
            str(report.value(r, SH.focusNode)),
            str(report.value(r, SH.resultPath)),
            str(report.value(r, SH.sourceConstraintComponent)),
        )
        for r in report.subjects(RDF.type, SH.ValidationResult)
    }


def _one_pass_findings(graph) -> set[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    from kb.build.shape_checks import violations
    from kb.model.rdf import ox_quads

    return {(v.focus, str(v.path), str(v.component)) for v in violations(ox_quads(graph))}


def _corruptions():  # type: ignore[no-untyped-def]
    from rdflib import RDFS, XSD

    w = URIRef("https://w3id.org/geokb/id/weapon/drone-x")
    return {
        "no source": lambda g: g.remove((T1, DCTERMS.source, None)),
        "two suppliers": lambda g: g.add((T1, GK.supplier, URIRef(str(IRN).replace("IRN", "RUS")))),
        "negative quantity": lambda g: g.add((T1, GK.quantityDelivered, Literal(-5))),
        "text quantity": lambda g: g.add((T1, GK.quantityOrdered, Literal("many"))),
        "string date": lambda g: g.set((T1, GK.deliveryStartDate, Literal("2022-10"))),
        "wrong class": lambda g: g.set((T1, GK.recipient, w)),
        "literal reference": lambda g: g.set((T1, GK.supplier, Literal("IRN"))),
        "two labels in one language": lambda g: g.add(
            (IRN, RDFS.label, Literal("Persia", lang="en"))
        ),
        "bad code": lambda g: g.set((IRN, GK.iso3166Alpha2, Literal("ir"))),
        "foreign property": lambda g: g.add((T1, GK.madeUp, Literal("x"))),
        "unknown status": lambda g: g.add((T1, GK.transferStatus, GK.Stolen)),
        "literal url": lambda g: g.add(
            (S1, URIRef("https://schema.org/url"), Literal("https://x"))
        ),
        "empty title": lambda g: g.set((S1, DCTERMS.title, Literal(""))),
        "untyped label": lambda g: g.set((w, RDFS.label, Literal("Drone"))),
        "boolean as text": lambda g: g.add(
            (T1, GK.licensedProduction, Literal("yes", datatype=XSD.string))
        ),
    }


def test_shape_checks_find_exactly_what_pyshacl_finds(tmp_path: Path) -> None:
    clean, _ = _mini_graph(tmp_path)
    assert _pyshacl_findings(clean) == _one_pass_findings(clean) == set()
    for name, corrupt in _corruptions().items():
        graph, _ = _mini_graph(tmp_path / name.replace(" ", "-"))
        corrupt(graph)
        expected = _pyshacl_findings(graph)
        assert expected, f"{name}: pyshacl found nothing"
        assert _one_pass_findings(graph) == expected, name


def test_shape_checks_agree_with_pyshacl_on_the_real_data() -> None:
    from rdflib import Graph

    compiled = compile_data(Path(__file__).parent.parent / "data")
    union = Graph()
    for iri, graph in compiled.graphs.items():
        if not iri.endswith("/ontology"):
            union += as_rdflib(graph.triples())
    assert _pyshacl_findings(union) == _one_pass_findings(union) == set()


# --- citations: nested nodes, checked and located like records -------------------------

CITED = {
    **MINI,
    "transfers.yaml": """\
        weapon_systems:
          - id: drone-x
            label: Drone X
            category: UAV
        arms_transfers:
          - id: t1
            supplier: IRN
            recipient: RUS
            weapon_systems: [drone-x]
            delivery_start_date: 2022-10
            citations:
              - source: test-source
                locator: p. 3
                supports: [delivery_start_date]
                accessed: 2026-11-25
        """,
}
C1 = URIRef(f"{T1}#citation-1")


def _cited_graph(tmp_path: Path):  # type: ignore[no-untyped-def]
    data = write_data(tmp_path / "data", CITED)
    records = []
    for f in sorted(data.glob("*.yaml")):
        found, problems = records_from_yaml(f.name, read_yaml(f))
        assert problems == []
        records += found
    index, _ = index_ids(id_entries(records))
    resolved, unresolved = resolve_refs(records, index)
    assert unresolved == []
    return as_rdflib(ntriples(to_nodes(records, resolved)).triples()), {r.iri: r for r in records}


def test_citation_shapes_find_exactly_what_pyshacl_finds(tmp_path: Path) -> None:
    from rdflib import XSD

    clean, _ = _cited_graph(tmp_path)
    assert _pyshacl_findings(clean) == _one_pass_findings(clean) == set()
    corruptions = {
        "no cited source": lambda g: g.remove((C1, GK.citedSource, None)),
        "two cited sources": lambda g: g.add((C1, GK.citedSource, IRN)),
        "month accessed": lambda g: g.set(
            (C1, GK.accessed, Literal("2026-11", datatype=XSD.gYearMonth))
        ),
        "literal supports": lambda g: g.set((C1, GK.supports, Literal("date"))),
        "citation of another class": lambda g: g.add((T1, GK.citation, S1)),
        "foreign property": lambda g: g.add((C1, GK.madeUp, Literal("x"))),
        "multi-line says": lambda g: g.add((C1, GK.says, Literal("one\ntwo"))),
    }
    for name, corrupt in corruptions.items():
        graph, _ = _cited_graph(tmp_path / name.replace(" ", "-"))
        corrupt(graph)
        expected = _pyshacl_findings(graph)
        assert expected, f"{name}: pyshacl found nothing"
        assert _one_pass_findings(graph) == expected, name


@ENGINES
def test_a_citation_violation_names_the_citation_field(tmp_path: Path, engine) -> None:  # type: ignore[no-untyped-def]
    graph, by_iri = _cited_graph(tmp_path)
    graph.remove((C1, GK.locator, None))
    graph.add((C1, GK.locator, Literal("")))
    [problem] = engine(graph, by_iri)
    assert str(problem).startswith(
        "transfers.yaml:13:9: arms_transfers[0].citations[0].locator: "
    ), str(problem)
    assert "arms transfer 't1', citation-1" in str(problem)
