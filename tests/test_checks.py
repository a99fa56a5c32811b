from pathlib import Path

from conftest import MINI, write_data
from rdflib import DCTERMS, Literal, URIRef

from kb.checks import shacl_problems
from kb.linking import link
from kb.mapping import to_graph
from kb.pipeline import compile_data
from kb.records import records_from_yaml
from kb.schema import GK
from kb.yamlfile import read_yaml

T1 = URIRef("https://w3id.org/geokb/id/transfer/t1")


def _mini_graph(tmp_path: Path):  # type: ignore[no-untyped-def]
    data = write_data(tmp_path / "data", MINI)
    records = []
    for f in sorted(data.glob("*.yaml")):
        found, _ = records_from_yaml(f.name, read_yaml(f))
        records += found
    catalog, problems = link(records)
    assert problems == []
    return to_graph(catalog, catalog), catalog


def test_real_data_has_zero_shacl_violations() -> None:
    compiled = compile_data(Path(__file__).parent.parent / "data")
    assert compiled.triple_count() > 0  # compile_data raises on any violation


def test_fact_without_source_is_a_located_violation(tmp_path: Path) -> None:
    graph, catalog = _mini_graph(tmp_path)
    graph.remove((T1, DCTERMS.source, None))
    [problem] = shacl_problems(graph, catalog.by_iri())
    assert str(problem).startswith("transfers.yaml:11:5: sources: required field missing")

    assert "arms transfer 't1'" in str(problem)


def test_negative_quantity_and_foreign_property_are_violations(tmp_path: Path) -> None:
    graph, catalog = _mini_graph(tmp_path)
    graph.add((T1, GK.quantityDelivered, Literal(-5)))
    graph.add((T1, GK.madeUp, Literal("x")))
    problems = [str(p) for p in shacl_problems(graph, catalog.by_iri())]
    assert len(problems) == 2
    assert any("quantity_delivered" in p for p in problems)
    assert any("madeUp is not part of the model" in p for p in problems)
