from pathlib import Path

import pyoxigraph as ox
from conftest import MINI, as_rdflib, write_data
from hypothesis import given, settings
from hypothesis import strategies as st
from rdflib import DCTERMS, RDF, RDFS, XSD, Literal, URIRef

from kb.build.mapping import ntriples
from kb.build.pipeline import compile_data, graph_iri
from kb.model.schema import GK

T1 = URIRef("https://w3id.org/geokb/id/transfer/t1")
IRN = URIRef("https://w3id.org/geokb/id/state/IRN")


def test_transfer_maps_to_contract_terms(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data", MINI)
    compiled = compile_data(data)
    g = as_rdflib(compiled.graphs[graph_iri(data, data / "transfers.yaml")].triples())
    assert (T1, RDF.type, GK.ArmsTransfer) in g
    assert (T1, RDF.type, GK.Fact) in g
    assert (T1, GK.supplier, IRN) in g
    assert (T1, GK.recipient, URIRef("https://w3id.org/geokb/id/state/RUS")) in g
    assert (T1, GK.weaponSystem, URIRef("https://w3id.org/geokb/id/weapon/drone-x")) in g
    assert (T1, DCTERMS.source, URIRef("https://w3id.org/geokb/id/source/test-source")) in g
    assert (T1, GK.deliveryStartDate, Literal("2022-10", datatype=XSD.gYearMonth)) in g


def test_state_gets_codes_and_language_tagged_label(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data", MINI)
    g = as_rdflib(compile_data(data).graphs[graph_iri(data, data / "states.yaml")].triples())
    assert (IRN, GK.iso3166Alpha3, Literal("IRN")) in g
    assert (IRN, GK.iso3166Alpha2, Literal("IR")) in g
    assert (IRN, RDFS.label, Literal("Iran", lang="en")) in g


def test_each_file_is_its_own_named_graph_plus_the_ontology(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data", MINI)
    names = {str(i) for i in compile_data(data).graphs}
    assert names == {
        "https://w3id.org/geokb/graph/data/sources.yaml",
        "https://w3id.org/geokb/graph/data/states.yaml",
        "https://w3id.org/geokb/graph/data/transfers.yaml",
        "https://w3id.org/geokb/graph/ontology",
    }


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(), min_size=1, max_size=5), st.sampled_from(["en", "fa", "zh-Hant"]))
def test_ntriples_are_written_as_pyoxigraph_writes_them(texts: list[str], lang: str) -> None:
    s, p = "https://w3id.org/geokb/id/source/s", str(GK.note)
    terms: list[ox.NamedNode | ox.Literal] = [ox.Literal(t) for t in texts]
    terms += [ox.Literal(t, language=lang) for t in texts]
    terms += [ox.Literal(t, datatype=ox.NamedNode(str(XSD.gYear))) for t in texts]
    terms.append(ox.NamedNode("https://example.org/a?b=c#d"))
    written = ntriples({s: {p: terms}})
    expected = [ox.Triple(ox.NamedNode(s), ox.NamedNode(p), t) for t in terms]
    assert written.data == ox.serialize(expected, format=ox.RdfFormat.N_TRIPLES)
    assert written.count == len(terms)
    assert written.triples() == expected


def test_weapon_citation_becomes_a_node_backing_its_developer(tmp_path: Path) -> None:
    # an entity's citation takes the fact's path: a gk:Citation node under the entity's IRI,
    # and its source one of the entity's dcterms:source
    transfers = MINI["transfers.yaml"].replace(
        "            category: UAV\n",
        "            category: UAV\n"
        "            developed_by: [state/IRN]\n"
        "            citations:\n"
        "              - source: test-source\n"
        "                locator: para. 3\n"
        "                says: An Iranian-designed drone.\n"
        "                supports: [category, developed_by]\n",
    )
    data = write_data(tmp_path / "data", {**MINI, "transfers.yaml": transfers})
    g = as_rdflib(compile_data(data).graphs[graph_iri(data, data / "transfers.yaml")].triples())
    weapon = URIRef("https://w3id.org/geokb/id/weapon/drone-x")
    cited = URIRef(f"{weapon}#citation-1")
    assert (weapon, GK.developedBy, IRN) in g
    assert (weapon, GK.citation, cited) in g
    assert (cited, RDF.type, GK.Citation) in g
    assert (cited, GK.locator, Literal("para. 3")) in g
    assert {o for o in g.objects(cited, GK.supports)} == {GK.category, GK.developedBy}
    assert (weapon, DCTERMS.source, URIRef("https://w3id.org/geokb/id/source/test-source")) in g
