"""The quick test for valid values must never pass what the full checks would flag."""

import pyoxigraph as ox
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.build.shape_checks import _check, _conforms, _rules
from kb.model import schema

XSD = "http://www.w3.org/2001/XMLSchema#"
ID = "https://w3id.org/geokb/id/"
STATE = ID + "state/IRN"
TRANSFER = ID + "transfer/t1"
TYPES = {STATE: {str(schema.KINDS_BY_NAME["state"].cls)}, TRANSFER: {str(schema.FACT)}}
DATATYPES = [XSD + t for t in ("string", "integer", "gYear", "gYearMonth", "date", "boolean")]
TEXTS = ["", "x", "IR", "ir", "IRN", "12", "-3", "²", "+4", "2022", "2022-10", "true", "http://a"]

TERMS = st.one_of(
    st.sampled_from(
        [
            ox.NamedNode(STATE),
            ox.NamedNode(TRANSFER),
            ox.NamedNode("http://example.org/x"),
            ox.NamedNode("ftp://example.org/x"),
            ox.NamedNode(f"{schema.GK}Confirmed"),
            ox.NamedNode(f"{schema.GK}HighConfidence"),
            ox.BlankNode("b"),
        ]
    ),
    st.builds(
        lambda text, dt: ox.Literal(text, datatype=ox.NamedNode(dt)),
        st.sampled_from(TEXTS),
        st.sampled_from(DATATYPES),
    ),
    st.builds(
        lambda text, lang: ox.Literal(text, language=lang),
        st.sampled_from(TEXTS),
        st.sampled_from(["en", "fa", "ru"]),
    ),
)
RULES = [rule for rules, _ in _rules().values() for rule in rules]


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(RULES), st.lists(TERMS, min_size=1, max_size=3))
def test_values_the_quick_test_passes_have_no_violations(rule, values) -> None:  # type: ignore[no-untyped-def]
    def type_of(iri: str) -> set[str]:
        return TYPES.get(iri, set())

    if _conforms(values, rule, type_of):
        found: list[object] = []
        _check("http://focus", values, rule, type_of, found)  # type: ignore[arg-type]
        assert found == [], (rule.path, values)


def test_the_quick_test_passes_the_valid_values_of_the_real_data() -> None:
    from collections import defaultdict

    from conftest import DATA

    from kb.build.pipeline import compile_data

    compiled = compile_data(DATA)
    by_node: dict[str, dict[str, list[ox.Literal | ox.NamedNode]]] = defaultdict(dict)
    types: dict[str, set[str]] = defaultdict(set)
    for iri, graph in compiled.graphs.items():
        if "/data/" in iri:
            for t in graph.triples():
                by_node[t.subject.value].setdefault(t.predicate.value, []).append(t.object)  # type: ignore[arg-type]
                if t.predicate.value.endswith("#type"):
                    types[t.subject.value].add(t.object.value)  # type: ignore[union-attr]
    rules = _rules()
    passed = checked = 0
    for node, props in by_node.items():
        for cls in types[node]:
            for rule in rules.get(cls, ((), None))[0]:
                if rule.path in props:
                    passed += _conforms(props[rule.path], rule, types.__getitem__)
                    checked += 1
    # labels in several languages are left to the full check; nearly all else is quick
    assert checked > 2000
    assert passed / checked > 0.95
