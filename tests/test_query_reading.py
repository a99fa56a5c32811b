"""The query reader reads a query as the engine does: every decision on its tokens.

Besides the cases the outside security test found, the reader is checked against the engine
itself: queries made of fragments joined with no space, or with comments, line breaks and
escapes between them, are run by pyoxigraph in this process (no sandbox) against a loopback
listener. Whatever the reader lets through never reaches the listener, never returns more
rows than the LIMIT the reader read, and has the result shape the reader said.
"""

from __future__ import annotations

import time

import pyoxigraph as ox
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_safety import Listener

from kb.errors import QueryError, QueryRefused, QueryTooLong
from kb.sparql.reading import MAX_NESTING, MAX_PARTS, ReadingCache, read


def test_the_reported_service_bypasses_are_refused() -> None:
    for query in [
        "SELECT ?secret WHERE { ?a ?b ?c .SERVICE <http://127.0.0.1:9/x> { ?x ?y ?secret } }",
        "PREFIX ex: <http://a/> SELECT * WHERE { VALUES ?z { ex:a\\# } SERVICE <http://b/> {} }",
        "SELECT * WHERE { ?s ?p ?o }service<http://b/>{}",
        "SELECT * WHERE { ?s ?p 1.SERVICE <http://b/> {} }",
        'SELECT * WHERE { ?s ?p """a"b"""SERVICE <http://b/> {} }',
    ]:
        with pytest.raises(QueryRefused, match="SERVICE"):
            read(query)


def test_the_limit_is_the_one_the_engine_reads() -> None:
    # '<2)#>' is not an IRI to the engine: the comparison, then a comment that hides LIMIT.
    assert read("SELECT * WHERE { ?s ?p ?o } ORDER BY(1<2)#> LIMIT 5").limit is None
    assert read("SELECT * WHERE { ?s ?p ?o } ORDER BY(1<2)#>\nLIMIT 5").limit == 5
    assert read("SELECT * WHERE { ?s ?p ?o FILTER(?o<?s)#> }\n} LIMIT 3").limit == 3
    assert read("SELECT * { SELECT * { ?s ?p ?o } LIMIT 1 }").limit is None
    assert read('SELECT * WHERE { ?s ?p "LIMIT 5" }').limit is None
    assert read("SELECT * WHERE { ?s ?p ?o } limit 00").limit == 0


def test_volatile_functions_are_seen_through_comments() -> None:
    assert read("SELECT ?r WHERE { BIND(RAND #\n() AS ?r) }").volatile
    assert read("SELECT (now() AS ?t) {}").volatile
    assert not read("SELECT ?random WHERE { ?random ?p 'RAND()' } # NOW()").volatile


def test_updates_are_refused_wherever_they_stand() -> None:
    for query in ["INSERT DATA { <a:a> <a:b> <a:c> }", "#x\nload <http://a/>", "CLEAR ALL"]:
        with pytest.raises(QueryRefused, match="read-only"):
            read(query)
    # words inside strings, IRIs, prefixed names and comments are not keywords
    reading = read('SELECT * WHERE { ?s ex:DELETE "INSERT" . ?s <http://x/DROP> ?o } # LOAD')
    assert reading.form == "SELECT" and reading.shape == "solutions"


def test_the_dataset_clause_is_seen() -> None:
    assert read("SELECT * FROM <http://g> WHERE { ?s ?p ?o }").has_dataset
    assert read("SELECT * FROM NAMED <http://g> { GRAPH ?g { ?s ?p ?o } }").has_dataset
    assert not read("SELECT * WHERE { ?s <http://x/FROM> ?o }").has_dataset


@pytest.mark.parametrize(
    "query",
    [
        "ASK { FILTER(" + "!" * 50_000 + "true) }",
        "ASK { FILTER(" + "+" * 30_000 + "1) }",
        "ASK " + "{" * 5000 + "}" * 5000,
        "ASK { FILTER(" + "(" * 5000 + "true" + ")" * 5000 + ") }",
        "ASK { FILTER(1" + "+1" * 30_000 + ") }",
        "SELECT * WHERE {" + " UNION ".join(["{}"] * 30_000) + "}",
        "SELECT * WHERE {" + "".join(f" BIND(1 AS ?v{i})" for i in range(5000)) + "}",
        'PREFIX ex: <http://a/> ASK { VALUES ?x { ex:a\\# } ' + "{" * 5000 + "}" * 5000 + "}",
    ],
)
def test_queries_that_would_crash_the_engine_are_refused(query: str) -> None:
    with pytest.raises(QueryError, match="crash"):
        read(query[:100_000] if len(query) > 100_000 else query)


def test_long_lists_that_do_not_nest_are_fine() -> None:
    many = ", ".join(f"<http://a/{i}>" for i in range(5000))
    assert read(f"SELECT * WHERE {{ ?s ?p ?o FILTER(?s IN ({many})) }}").form == "SELECT"
    values = " ".join(f"<http://a/{i}>" for i in range(5000))
    assert read(f"SELECT * WHERE {{ VALUES ?s {{ {values} }} }}").form == "SELECT"
    assert read("ASK " + "{" * MAX_NESTING + "}" * MAX_NESTING) is not None
    assert read("ASK { FILTER(1" + "+1" * (MAX_PARTS - 1) + ") }") is not None


def test_unreadable_and_unclosed_queries_say_where() -> None:
    with pytest.raises(QueryError, match="line 2, column 3"):
        read("SELECT *\n  \u00a7 WHERE {}")
    with pytest.raises(QueryError, match="unclosed '\\{'"):
        read("SELECT * WHERE { ?s ?p ?o ")
    with pytest.raises(QueryError, match="closes nothing"):
        read("SELECT * WHERE { } }")
    with pytest.raises(QueryError, match="not a SPARQL query"):
        read("PREFIX a: <http://a/>")
    with pytest.raises(QueryTooLong):
        read("ASK {}" + " " * 100, max_chars=50)


def test_sparql_12_syntax_is_read() -> None:
    for query in [
        "SELECT * WHERE { <<?s ?p ?o>> ?q ?r . ?s ?p ?o {| ?q ?r |} } LIMIT 9",
        "ASK { FILTER(<<( <a:a> <a:b> <a:c> )>> = ?x) }",
        'VERSION "1.2" SELECT * WHERE { ?s ?p "x"@en--ltr }',
        "SELECT * WHERE { ?s ?p ?o FILTER(<< <a:a> <a:b> <a:c> >> = ?s) }",
    ]:
        assert read(query).form in ("SELECT", "ASK")


def test_a_repeated_text_is_read_once() -> None:
    cache = ReadingCache(size=2)
    first = cache.read("ASK {}")
    assert cache.read("ASK {}") is first
    with pytest.raises(QueryRefused):
        cache.read("CLEAR ALL")
    with pytest.raises(QueryRefused):
        cache.read("CLEAR ALL")


def test_the_kept_readings_are_bounded_by_their_texts_characters() -> None:
    cache = ReadingCache(size=1024, chars=100_000)
    texts = [f"ASK {{}} # {n} " + "\U0001f600" * 30_000 for n in range(10)]  # long, cheap
    for text in texts:
        cache.read(text)
    assert cache._held <= 100_000
    # the newest three are kept (read again, they are the same reading); the oldest are not
    assert cache.read(texts[-1]) is cache.read(texts[-1])
    assert len(cache._kept) == 3
    first_again = cache.read(texts[0])  # read anew: it had been let go
    assert first_again is cache.read(texts[0])


# -- the reader against the engine ------------------------------------------------------------

_FRAGMENTS = [
    "SELECT", "*", "?s", "?p", "?o", "WHERE", "{", "}", "(", ")", ".", ";", ",", "<",
    "<=", ">", "1", "2", "LIMIT", "2", "ORDER", "BY", "FILTER", "BIND", "AS", "?r", "#>",
    "#", "\n", "\r", "<http://a/p>", "<http://a/#x>", "ex:a\\#", "ex:b.c", '"a#b"', "'x'",
    '"""q"b"""', "SERVICE", "<http://127.0.0.1:PORT/x>", "{?x ?y ?z}", "RAND", "()",
    "OPTIONAL", "UNION", "VALUES", "ASK", "CONSTRUCT", "DESCRIBE", "a", "[", "]", "|", "/",
    "!", "+", "-", "^^", "@en", "_:b", "$v", "\\", "<<", ">>", "{|", "|}", "OFFSET", "1.",
    "SILENT", "GRAPH", "FROM", "NAMED",
]  # fmt: skip
_GLUE = ["", " ", "#c\n", "\n", "\t", "#<\n", "\r\n"]


def _store() -> ox.Store:
    store = ox.Store()
    for i in range(5):
        for j in range(3):
            store.add(
                ox.Quad(
                    ox.NamedNode(f"http://a/{i}"),
                    ox.NamedNode("http://a/p"),
                    ox.Literal(str(j)),
                    ox.NamedNode("http://a/g"),
                )
            )
    return store


@example([("(", ""), ("1", ""), ("<", ""), ("2", ""), (")", ""), ("#>", " "), ("LIMIT", " "),
          ("1", "")], "SELECT * WHERE { ?s ?p ?o } ORDER BY ")
@example([(".", ""), ("SERVICE", " "), ("<http://127.0.0.1:PORT/x>", " "), ("{?x ?y ?z}", "")],
         "SELECT * WHERE { ?s ?p ?o ")
@example([("VALUES", " "), ("?o", " "), ("{", " "), ("ex:a\\#", " "), ("}", " "),
          ("SERVICE", " "), ("<http://127.0.0.1:PORT/x>", " "), ("{?x ?y ?z}", "")],
         "PREFIX ex: <http://a/> SELECT ?s WHERE { ?s ?p ?o ")
@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(st.tuples(st.sampled_from(_FRAGMENTS), st.sampled_from(_GLUE)), max_size=24),
    st.sampled_from(
        [
            "SELECT * WHERE { ?s ?p ?o ",
            "PREFIX ex: <http://a/> SELECT ?s WHERE { ?s ?p ?o ",
            "SELECT * WHERE { ?s ?p ?o } ORDER BY ",
            "ASK { ",
            "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o ",
        ]
    ),
)
def test_what_the_reader_lets_through_does_what_it_read(
    parts: list[tuple[str, str]], head: str
) -> None:
    query = head + "".join(f + g for f, g in parts).replace("PORT", str(_LISTENER.port))
    for tail in ("", " }", " } LIMIT 2", " }\n} LIMIT 2"):
        text = query + tail
        try:
            reading = read(text)
        except QueryError:
            continue
        try:
            result = _STORE.query(text, use_default_graph_as_union=True)
            rows = list(result) if not isinstance(result, ox.QueryBoolean) else None
        except (SyntaxError, OSError, RuntimeError, ValueError):
            continue
        assert not _LISTENER.connections, text
        if reading.shape == "solutions":
            assert not isinstance(result, ox.QueryTriples), text
        else:
            assert isinstance(result, ox.QueryTriples), text
        if reading.limit is not None and rows is not None:
            assert len(rows) <= reading.limit, text


def test_and_nothing_the_reader_let_through_reached_the_listener() -> None:
    time.sleep(0.3)  # the listener's thread accepts within 0.1 s
    assert _LISTENER.connections == 0


_STORE = _store()
_LISTENER = Listener()
