"""Citations end to end: the YAML contract into RDF, the confidence rule, the provenance
report's numbers and the example query on a small build."""

import json
import textwrap
from pathlib import Path

import pyoxigraph as ox
import pytest
from conftest import as_rdflib, write_data
from rdflib import DCTERMS, RDF, XSD, Literal, URIRef

from kb.build.pipeline import compile_data, graph_iri
from kb.cli import main
from kb.errors import DataError
from kb.model.schema import GK
from kb.review import provenance
from kb.sparql.examples import examples

ID = "https://w3id.org/geokb/id/"
T1 = URIRef(ID + "transfer/t1")
C1 = URIRef(ID + "transfer/t1#citation-1")

STATES = """\
    states:
      - id: IRN
        label: Iran
        alpha2: IR
      - id: RUS
        label: Russia
        alpha2: RU
    """
SOURCES = """\
    sources:
      - id: news-a
        title: A news report
        publisher: A Wire
        type: news
      - id: news-b
        title: Another news report
        publisher: B Wire
        type: news
      - id: mod
        title: A ministry statement
        publisher: Ministry of Defence
        type: official
        identifier: PR-2022-17
        edition: "2022"
    weapon_systems:
      - id: drone-x
        label: Drone X
        category: UAV
    """

FACTS = """\
    arms_transfers:
      # backed: one located citation of the whole fact; high through an official source
      - id: t1
        supplier: IRN
        recipient: RUS
        weapon_systems: [drone-x]
        delivery_start_date: 2022-10
        sources: [news-a]
        citations:
          - source: mod
            locator: para. 2
            says: The first drones arrived in October 2022.
            accessed: 2026-11-25
            archived_url: https://web.archive.org/web/2026/https://example.org/mod
        status: confirmed
        confidence: high
      # backed: supports cover every value field; high through two sources
      - id: t2
        supplier: IRN
        recipient: RUS
        weapon_systems: [drone-x]
        quantity_delivered: 10
        citations:
          - source: news-a
            locator: p. 3
            supports: [supplier, recipient, weapon_systems]
          - source: news-b
            locator: para. 7
            supports: [quantity_delivered]
        confidence: high
      # not backed: supports leave quantity_delivered uncovered
      - id: t3
        supplier: IRN
        recipient: RUS
        weapon_systems: [drone-x]
        quantity_delivered: 5
        citations:
          - source: news-a
            locator: p. 4
            supports: [supplier, recipient, weapon_systems]
        confidence: medium
      # not backed: generic citation (no locator)
      - id: t4
        supplier: IRN
        recipient: RUS
        weapon_systems: [drone-x]
        citations:
          - source: news-b
        confidence: low
      # not backed: the short form only
      - id: t5
        supplier: IRN
        recipient: RUS
        weapon_systems: [drone-x]
        sources: [news-a]
      # not backed: inferred, though its premise is located
      - id: t6
        supplier: IRN
        recipient: RUS
        weapon_systems: [drone-x]
        citations:
          - source: news-a
            locator: p. 9
        status: inferred
        basis: Drone X is only made in Iran, and Russia fields it (t1).
        as_of: 2026-11-25
        confidence: medium
    """


def _data(tmp_path: Path, facts: str = FACTS) -> Path:
    return write_data(
        tmp_path / "data",
        {"states.yaml": STATES, "sources.yaml": SOURCES, "facts.yaml": facts},
    )


def test_the_yaml_contract_round_trips_into_rdf(tmp_path: Path) -> None:
    data = _data(tmp_path)
    compiled = compile_data(data)
    g = as_rdflib(compiled.graphs[graph_iri(data, data / "facts.yaml")].triples())
    src = {name: URIRef(ID + f"source/{name}") for name in ("news-a", "news-b", "mod")}
    # dcterms:source for the short form and for every cited source
    assert set(g.objects(T1, DCTERMS.source)) == {src["news-a"], src["mod"]}
    assert (T1, GK.citation, C1) in g
    assert (C1, RDF.type, GK.Citation) in g
    assert (C1, GK.citedSource, src["mod"]) in g
    assert (C1, GK.locator, Literal("para. 2")) in g
    assert (C1, GK.says, Literal("The first drones arrived in October 2022.")) in g
    assert (C1, GK.accessed, Literal("2026-11-25", datatype=XSD.date)) in g
    assert (C1, GK.archivedUrl, None) in g
    assert (T1, GK.status, GK.Confirmed) in g
    t2 = URIRef(ID + "transfer/t2")
    assert set(g.objects(URIRef(f"{t2}#citation-2"), GK.supports)) == {GK.quantityDelivered}
    assert set(g.objects(t2, DCTERMS.source)) == {src["news-a"], src["news-b"]}
    t6 = URIRef(ID + "transfer/t6")
    assert (t6, GK.status, GK.Inferred) in g
    assert (t6, GK.basis, None) in g
    assert (t6, GK.asOf, Literal("2026-11-25", datatype=XSD.date)) in g
    s = as_rdflib(compiled.graphs[graph_iri(data, data / "sources.yaml")].triples())
    assert (src["mod"], GK.sourceType, GK.OfficialSource) in s
    assert (src["mod"], DCTERMS.identifier, Literal("PR-2022-17")) in s
    assert (src["mod"], GK.edition, Literal("2022")) in s


def _errors(tmp_path: Path, facts: str) -> list[str]:
    with pytest.raises(DataError) as caught:
        compile_data(_data(tmp_path, facts))
    return [str(p) for p in caught.value.problems]


TRANSFER = """\
    arms_transfers:
      - id: t1
        supplier: IRN
        recipient: RUS
        weapon_systems: [drone-x]
    """


def test_the_confidence_rule(tmp_path: Path) -> None:
    cases = {
        # high from one news source, located
        "citations: [{source: news-a, locator: p. 1}]\nconfidence: high": (
            "facts.yaml:7:5: arms_transfers[0].confidence: high confidence is not supported "
            "by the citations (located citations of 1 source(s): news-a)"
        ),
        # medium from a generic citation
        "citations: [{source: mod}]\nconfidence: medium": (
            "facts.yaml:7:5: arms_transfers[0].confidence: medium confidence needs at least "
            "one citation with a locator"
        ),
        # inferred: a basis is required, and high is refused
        "sources: [mod]\nstatus: inferred\nconfidence: high": (
            "facts.yaml:7:5: arms_transfers[0].basis: an inferred fact must say what it is "
            "inferred from",
            "facts.yaml:8:5: arms_transfers[0].confidence: an inferred fact cannot have high "
            "confidence",
        ),
    }
    for n, (extra, expected) in enumerate(cases.items()):
        facts = (
            TRANSFER.rstrip(" ")
            + "\n".join("        " + line for line in extra.splitlines())
            + "\n"
        )
        errors = _errors(tmp_path / str(n), facts)
        wanted = (expected,) if isinstance(expected, str) else expected
        assert len(errors) == len(wanted), errors
        for text, error in zip(wanted, sorted(errors), strict=True):
            assert text in error, error
            assert "\n  " in error  # with a hint


def test_the_provenance_report(tmp_path: Path) -> None:
    found = provenance.report(_data(tmp_path))
    assert (found.facts, found.backed) == (6, 2)
    [transfers] = [k for k in found.kinds if k.kind == "transfer"]
    assert (transfers.facts, transfers.backed) == (6, 2)
    why = {u.id: u.reason for u in found.unbacked}
    assert why == {
        "t3": "no located citation supports: quantity_delivered",
        "t4": "no citation with a locator",
        "t5": "no citations",
        "t6": "inferred: rests on its basis, not on a source stating it",
    }
    assert all(u.location.file.endswith("facts.yaml") and u.location.line for u in found.unbacked)
    assert found.as_dict()["share"] == round(2 / 6, 4)


def test_check_provenance_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _data(tmp_path)
    assert main(["check", "--provenance", "--data", str(data)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("2 of 6 facts (33.3%)")
    assert "facts.yaml:" in text and "transfer 't5': no citations" in text
    assert main(["check", "--provenance", "--json", "--data", str(data)]) == 0
    assert '"backed": 2' in capsys.readouterr().out


def test_the_example_query_finds_inferred_and_generic_facts(tmp_path: Path) -> None:
    compiled = compile_data(_data(tmp_path))
    store = ox.Store()
    for iri, graph in compiled.graphs.items():
        graph_name = ox.NamedNode(str(iri))
        store.extend(ox.Quad(t.subject, t.predicate, t.object, graph_name) for t in graph.triples())
    [query] = [e.query for e in examples() if e.name.startswith("14-")]
    rows = store.query(query, use_default_graph_as_union=True)
    assert isinstance(rows, ox.QuerySolutions)
    found = {(str(r["fact"].value).rsplit("/", 1)[-1], r["why"].value) for r in rows}
    assert found == {
        ("t4", "no citation with a locator"),
        ("t5", "no citation with a locator"),
        ("t6", "inferred"),
    }


ENTITIES = """\
    weapon_systems:
      # backed: one located citation supports both value fields
      - id: drone-y
        label: Drone Y
        category: UAV
        developed_by: [state/IRN]
        citations:
          - source: news-a
            locator: para. 4
            supports: [category, developed_by]
      # not backed: the citation backs the class, not the maker
      - id: drone-z
        label: Drone Z
        category: UAV
        developed_by: [state/IRN]
        citations:
          - source: news-b
            locator: para. 1
            supports: [category]
    non_state_actors:
      # not backed: the short form names a source, not the place in it
      - id: rebels
        label: The Rebels
        actor_type: armed-group
        sources: [news-a]
    international_organizations:
      # a name only: nothing to back, counted apart
      - id: league
        label: The League
    territories:
      # backed: a whole-entity citation backs its type; the point has its own located one
      - id: isle
        label: The Isle
        type: island
        citations:
          - source: mod
            locator: section 2
        geometry:
          point: [25.9, 55.0]
          citations:
            - source: news-a
              locator: infobox, Coordinates
              supports: [geometry]
    facilities:
      # not backed: its place is cited, its point read from a source without a locator
      - id: works
        label: The Works
        located_in: territory/isle
        citations:
          - source: news-b
            locator: para. 2
            supports: [located_in]
        geometry:
          point: [25.9, 55.1]
          citations:
            - source: news-a
    """


def test_entities_are_counted_apart_from_facts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _data(tmp_path)
    (data / "entities.yaml").write_text(textwrap.dedent(ENTITIES), encoding="utf-8")
    found = provenance.report(data)
    assert (found.facts, found.backed) == (6, 2)  # the facts' figures do not move
    ents = found.entities
    # drone-x (sources.yaml, no citation) and the five above with a value besides the name
    assert (ents.entities, ents.backed, ents.name_only) == (6, 2, 1)
    missing = {u.id: (u.location.file.rsplit("/", 1)[-1], u.fields) for u in ents.unbacked}
    assert missing == {
        "drone-x": ("sources.yaml", ("category",)),
        "drone-z": ("entities.yaml", ("developed_by",)),
        "rebels": ("entities.yaml", ("actor_type",)),
        "works": ("entities.yaml", ("geometry",)),
    }
    assert all(u.location.line for u in ents.unbacked)
    assert main(["check", "--provenance", "--data", str(data)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("2 of 6 facts (33.3%)")
    assert "\nentities: 2 of 6 backed (33.3%)" in text and "1 more give only a name" in text
    assert "entities.yaml:12:5: weapon 'drone-z': no located citation supports: developed_by" in (
        text
    )
    assert main(["check", "--provenance", "--json", "--data", str(data)]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert as_json["backed"] == 2
    assert as_json["entities"]["kinds"]["weapon"] == {"entities": 3, "backed": 1, "share": 0.3333}
    [works] = [u for u in as_json["entities"]["unbacked"] if u["id"] == "works"]
    assert (works["kind"], works["fields"]) == ("facility", ["geometry"])
    assert works["file"].endswith("entities.yaml") and works["line"] == 46
