"""geokb's own streaming result writers say exactly what pyoxigraph's serialisers say."""

import random

import pyoxigraph as ox
import pytest

from kb.sparql import formats, results

QUERY = """SELECT ?s ?o ?n WHERE {
  VALUES (?s ?o ?n) {
    (<http://example.org/a> "plain" 1)
    (<http://example.org/b> "tagged"@fa UNDEF)
    (<http://example.org/c> "2022-10"^^<http://www.w3.org/2001/XMLSchema#gYearMonth> -2.5)
    (<http://example.org/d> "quote \\" comma , tab \\t newline \\n <&>" true)
    (UNDEF "ایران" "x"@en-GB)
  }
}"""


def _ours(fmt: str, limit: int = 100) -> bytes:
    out: list[bytes] = []
    capped = results.cap(ox.Store().query(QUERY), limit)
    results.write(capped, formats.lookup(fmt), out.append)  # type: ignore[arg-type]
    return b"".join(out)


def _native(fmt: str) -> bytes:
    data = ox.Store().query(QUERY).serialize(format=formats.lookup(fmt).ox_format)  # type: ignore[union-attr,arg-type]
    assert data is not None
    return data


def _solutions(data: bytes, fmt: ox.QueryResultsFormat) -> list[list[str]]:
    parsed = ox.parse_query_results(data, format=fmt)
    assert isinstance(parsed, ox.QuerySolutions)
    return [[str(t) for t in sol] for sol in parsed]


@pytest.mark.parametrize(
    "fmt,ox_format",
    [
        ("json", ox.QueryResultsFormat.JSON),
        ("xml", ox.QueryResultsFormat.XML),
        ("tsv", ox.QueryResultsFormat.TSV),
    ],
)
def test_writers_match_pyoxigraph(fmt: str, ox_format: ox.QueryResultsFormat) -> None:
    assert _solutions(_ours(fmt), ox_format) == _solutions(_native(fmt), ox_format)


def test_csv_matches_pyoxigraph() -> None:
    assert _ours("csv").decode() == _native("csv").decode()


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_json_and_xml_are_pyoxigraphs_byte_for_byte(fmt: str) -> None:
    # (the server writes lookups it answers itself with these writers: kb.sparql.direct)
    assert _ours(fmt) == _native(fmt)
    empty = ox.Store().query("SELECT ?s ?o WHERE { ?s ?p ?o }")
    out: list[bytes] = []
    results.write(results.cap(empty, 10), formats.lookup(fmt), out.append)  # type: ignore[arg-type]
    native = ox.Store().query("SELECT ?s ?o WHERE { ?s ?p ?o }").serialize(
        format=formats.lookup(fmt).ox_format  # type: ignore[union-attr,arg-type]
    )
    assert b"".join(out) == native


def test_cap_cuts_and_says_so() -> None:
    capped = results.cap(ox.Store().query(QUERY), 2)
    assert capped.truncated
    assert len(_solutions(_ours("json", 2), ox.QueryResultsFormat.JSON)) == 2
    assert not results.cap(ox.Store().query(QUERY), 5).truncated


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_any_literal_is_written_as_pyoxigraph_writes_it(fmt: str) -> None:
    rng = random.Random(11)
    alphabet = ' \t\n\r\x0b\x0c\x01\x7f"\'<>&\\/,;=?#ab\u00a0\u2028\u3000é\U0001f600'
    store = ox.Store()
    subject = ox.NamedNode("http://example.org/s")
    for i in range(400):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        if i % 3 == 0:
            literal = ox.Literal(text, language="en-gb")
        elif i % 5 == 0:  # RDF 1.2: a language tag with a base direction
            direction = ox.BaseDirection.RTL if i % 2 else ox.BaseDirection.LTR
            literal = ox.Literal(text, language="ar", direction=direction)
        else:
            literal = ox.Literal(text)
        store.add(ox.Quad(subject, ox.NamedNode(f"http://example.org/p{i}"), literal))
    query = "SELECT ?p ?o WHERE { ?s ?p ?o }"
    out: list[bytes] = []
    results.write(results.cap(store.query(query), 1000), formats.lookup(fmt), out.append)  # type: ignore[arg-type]
    assert b"".join(out) == store.query(query).serialize(format=formats.lookup(fmt).ox_format)  # type: ignore[union-attr,arg-type]
