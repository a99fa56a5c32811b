"""The remote backend against a real Oxigraph server process (from the oxigraph package)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import MINI, LiveServer, OxigraphServer, write_data

from api.settings import Settings
from kb.cli import main
from kb.stores.remote import RemoteStore

ASK_T1 = "ASK { <https://w3id.org/geokb/id/transfer/t1> ?p ?o }"


@pytest.fixture()
def oxigraph(tmp_path: Path) -> Iterator[OxigraphServer]:
    server = OxigraphServer(tmp_path / "oxigraph-data")
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_data(tmp_path / "data", MINI)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_build_pushes_graphs_and_query_reads_them(
    oxigraph: OxigraphServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "--store", oxigraph.query_url]) == 0
    out = capsys.readouterr().out
    assert "full push" in out and "pushed data/transfers.yaml" in out
    assert main(["query", ASK_T1, "--store", oxigraph.query_url]) == 0
    assert capsys.readouterr().out.strip() == "yes"
    # the second build finds nothing to do; an edit pushes one graph
    assert main(["build", "--store", oxigraph.query_url]) == 0
    assert "up to date" in capsys.readouterr().out
    (project / "data" / "transfers.yaml").write_text(
        (project / "data" / "transfers.yaml").read_text().replace("2022-10", "2023")
    )
    assert main(["build", "--store", oxigraph.query_url]) == 0
    out = capsys.readouterr().out
    assert "incremental push" in out and out.count("pushed ") == 1


def test_serve_forwards_to_the_remote_store_with_the_same_rules(
    oxigraph: OxigraphServer, project: Path
) -> None:
    assert main(["build", "--store", oxigraph.query_url]) == 0
    settings = Settings(remote=RemoteStore.from_urls(oxigraph.query_url), max_rows=2)
    with LiveServer(settings) as live, httpx.Client(base_url=live.url) as http:
        assert http.get("/sparql", params={"query": ASK_T1}).json()["boolean"] is True
        rows = http.get("/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o }"})
        assert len(rows.json()["results"]["bindings"]) == 2
        assert rows.headers["x-geokb-truncated"].startswith("true")
        csv = http.get(
            "/sparql", params={"query": "SELECT ?s WHERE { ?s ?p ?o } LIMIT 1", "format": "csv"}
        )
        assert csv.headers["content-type"].startswith("text/csv")
        assert http.get("/sparql", params={"query": "DROP ALL"}).status_code == 403
        service = f"SELECT * WHERE {{ SERVICE <{oxigraph.query_url}> {{ ?s ?p ?o }} }}"
        assert http.get("/sparql", params={"query": service}).status_code == 403
    count = httpx.get(
        oxigraph.query_url,
        params={"query": "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"},
        headers={"Accept": "application/sparql-results+json"},
    )
    assert int(json.loads(count.text)["results"]["bindings"][0]["n"]["value"]) > 0


def test_store_down_fails_clearly_and_a_retry_finishes(
    oxigraph: OxigraphServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    oxigraph.stop()
    assert main(["build", "--store", oxigraph.query_url]) == 1
    err = capsys.readouterr().err
    assert "failed" in err and oxigraph.query_url in err
    oxigraph.start()
    assert main(["build", "--store", oxigraph.query_url]) == 0
    assert main(["query", ASK_T1, "--store", oxigraph.query_url]) == 0
    assert capsys.readouterr().out.strip().endswith("yes")


def test_credentials_are_sent_but_never_printed(
    oxigraph: OxigraphServer,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GEOKB_STORE_TOKEN", "s3cret-token")
    remote = RemoteStore.from_urls(oxigraph.query_url)
    assert remote.headers == {"Authorization": "Bearer s3cret-token"}
    assert "s3cret" not in repr(remote)
    oxigraph.stop()
    assert main(["build", "--store", oxigraph.query_url]) == 1
    captured = capsys.readouterr()
    assert "s3cret" not in captured.out + captured.err


def test_paused_store_times_out_and_the_retry_finishes(
    oxigraph: OxigraphServer,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os
    import signal

    from kb.build.pipeline import compile_data
    from kb.errors import StoreError

    assert main(["build", "--store", oxigraph.query_url]) == 0
    (project / "data" / "transfers.yaml").write_text(
        (project / "data" / "transfers.yaml").read_text().replace("2022-10", "2021")
    )
    monkeypatch.setenv("GEOKB_STORE_TIMEOUT", "1")
    remote = RemoteStore.from_urls(oxigraph.query_url)
    compiled = compile_data(Path("data"), remote.manifest())
    assert oxigraph.process is not None
    os.kill(oxigraph.process.pid, signal.SIGSTOP)
    try:
        with pytest.raises(StoreError) as info:
            remote.push(compiled)
    finally:
        os.kill(oxigraph.process.pid, signal.SIGCONT)
    message = str(info.value)
    assert "Graphs already pushed: none" in message
    assert "run the same build again" in message
    # the manifest was not updated, so the next build pushes the edited file again
    capsys.readouterr()
    assert main(["build", "--store", oxigraph.query_url]) == 0
    assert "pushed data/transfers.yaml" in capsys.readouterr().out
    date = (
        "SELECT ?d WHERE { <https://w3id.org/geokb/id/transfer/t1> "
        "<https://w3id.org/geokb/ontology#deliveryStartDate> ?d }"
    )
    assert main(["query", date, "--store", oxigraph.query_url]) == 0
    assert "2021" in capsys.readouterr().out


def test_an_oxigraph_base_url_is_enough() -> None:
    remote = RemoteStore.from_urls("http://127.0.0.1:7878/")
    assert (remote.query_url, remote.update_url, remote.gsp_url) == (
        "http://127.0.0.1:7878/query",
        "http://127.0.0.1:7878/update",
        "http://127.0.0.1:7878/store",
    )
    fuseki = RemoteStore.from_urls(
        "http://h:3030/ds/query", "http://h:3030/ds/update", "http://h:3030/ds/data"
    )
    assert fuseki.gsp_url == "http://h:3030/ds/data"


def test_a_remote_build_prints_like_a_local_one(
    oxigraph: OxigraphServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "--store", oxigraph.query_url, "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    (project / "data" / "transfers.yaml").unlink()  # nothing refers to its records
    (project / "data" / "weapons.yaml").write_text(
        "weapon_systems:\n  - id: drone-x\n    label: Drone X\n    category: UAV\n"
    )
    assert main(["build", "--store", oxigraph.query_url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["removed"] == ["https://w3id.org/geokb/graph/data/transfers.yaml"]
    assert "https://w3id.org/geokb/graph/data/weapons.yaml" in report["pushed"]
    assert main(["build", "--store", oxigraph.query_url]) == 0
    assert "up to date" in capsys.readouterr().out


# -- a small proxy in front of the Oxigraph server: digest authentication, extra headers ------


class Proxy:
    """An HTTP proxy on 127.0.0.1 in front of the Oxigraph server, in a thread. With
    ``digest`` it asks every request for HTTP Digest credentials (RFC 7616, MD5, qop=auth);
    ``headers`` are added to the query answers; with ``fail``, every request is answered
    with that status and text."""

    def __init__(
        self,
        upstream: OxigraphServer,
        digest: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
        fail: tuple[int, bytes] | None = None,
    ) -> None:
        import hashlib
        import http.client
        import http.server
        import re
        import threading

        def md5(text: str) -> str:
            return hashlib.md5(text.encode()).hexdigest()

        seen: list[str] = []
        self.seen = seen

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def authorized(self) -> bool:
                if digest is None:
                    return True
                header = self.headers.get("Authorization", "")
                fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header))
                if not header.startswith("Digest ") or fields.get("username") != digest[0]:
                    return False
                ha1 = md5(f"{digest[0]}:test:{digest[1]}")
                ha2 = md5(f"{self.command}:{fields.get('uri')}")
                expected = md5(
                    f"{ha1}:{fields.get('nonce')}:{fields.get('nc')}:{fields.get('cnonce')}:"
                    f"{fields.get('qop')}:{ha2}"
                )
                return fields.get("response") == expected

            def relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not self.authorized():
                    self.send_response(401)
                    self.send_header(
                        "WWW-Authenticate", 'Digest realm="test", nonce="n0nce", qop="auth"'
                    )
                    self.send_header("Content-Length", "12")
                    self.end_headers()
                    self.wfile.write(b"unauthorized")
                    return
                seen.append(f"{self.command} {self.path.split('?')[0]}")
                if fail is not None:  # the store's own error status and text
                    self.send_response(fail[0])
                    self.send_header("Content-Length", str(len(fail[1])))
                    self.end_headers()
                    self.wfile.write(fail[1])
                    return
                connection = http.client.HTTPConnection("127.0.0.1", upstream.port, timeout=30)
                forwarded = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "authorization", "connection")
                }
                connection.request(self.command, self.path, body or None, forwarded)
                answer = connection.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(name, value)
                if self.path.startswith("/query"):
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = relay

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/query"

    def __enter__(self) -> Proxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


COUNT_ALL = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
COUNT_GRAPHS = "SELECT (COUNT(DISTINCT ?g) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"


def _count(result: object) -> int:
    import pyoxigraph as ox

    assert isinstance(result, ox.QuerySolutions)
    value = next(iter(result))["n"]
    assert isinstance(value, ox.Literal)
    return int(value.value)


def test_the_store_reason_is_given_decoded(
    oxigraph: OxigraphServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "--store", oxigraph.query_url, "--quiet"]) == 0
    # a query the store refuses: its own words, not a Python bytes repr
    assert main(["query", "SELECT * WHERE { ?s ?p }", "--store", oxigraph.query_url]) == 1
    err = capsys.readouterr().err
    assert "SPARQL syntax error (from the store): error at 1:" in err
    assert "b'" not in err and 'b"' not in err and "\\n" not in err
    settings = Settings(remote=RemoteStore.from_urls(oxigraph.query_url))
    with LiveServer(settings) as live, httpx.Client(base_url=live.url) as http:
        resp = http.get("/sparql", params={"query": "SELECT * WHERE { ?s ?p }"})
        # geokb's own reading refuses it first; a query it reads but the store refuses:
        assert resp.status_code == 400 and "b'" not in resp.text
    # a GSP endpoint that is not one: the store's 404 and its text
    bad = f"http://127.0.0.1:{oxigraph.port}/nowhere"
    code = main(["build", "--store", oxigraph.query_url, "--full", "--gsp-url", bad, "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "answered 404" in err and "b'" not in err


def test_the_store_time_limit_is_a_503(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = OxigraphServer(tmp_path / "slow", "--timeout-s", "1")
    server.start()
    try:
        triples = "".join(f"<http://s/{i}> <http://p> <http://o/{i}> .\n" for i in range(2000))
        httpx.put(
            f"http://127.0.0.1:{server.port}/store",
            params={"graph": "http://g"},
            content=triples,
            headers={"Content-Type": "application/n-triples"},
        ).raise_for_status()
        slow = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
        settings = Settings(remote=RemoteStore.from_urls(server.query_url))
        with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=30) as http:
            resp = http.get("/sparql", params={"query": slow})
        assert resp.status_code == 503, resp.text
        assert "time limit" in resp.text and "cancelled" in resp.text
        assert main(["query", slow, "--store", server.query_url]) == 1
        assert "time limit" in capsys.readouterr().err
    finally:
        server.stop()


def test_a_503_from_the_store_is_a_503(oxigraph: OxigraphServer, project: Path) -> None:
    from kb.errors import QueryTimeout
    from kb.stores.remote import remote_run

    # Fuseki answers a query past its time limit with 503 and a line of text
    with (
        Proxy(oxigraph, fail=(503, b"Query timed out\r\n")) as proxy,
        pytest.raises(QueryTimeout, match="Query timed out"),
    ):
        remote_run(RemoteStore(proxy.query_url), "ASK {}")


def test_update_and_gsp_urls_are_derived_only_for_known_layouts(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def urls(url: str) -> tuple[str | None, str | None, str | None]:
        r = RemoteStore.from_urls(url)
        return r.query_url, r.update_url, r.gsp_url

    assert urls("http://h:3030/ds/query") == (
        "http://h:3030/ds/query",
        "http://h:3030/ds/update",
        "http://h:3030/ds/data",
    )
    assert urls("http://h:3030/ds/sparql")[1:] == (
        "http://h:3030/ds/update",
        "http://h:3030/ds/data",
    )
    assert urls("http://h:8890/sparql")[1:] == (
        "http://h:8890/sparql",
        "http://h:8890/sparql-graph-crud",
    )
    assert urls("http://h:8890/sparql-auth")[2] == "http://h:8890/sparql-graph-crud-auth"
    assert urls("http://h/repositories/kb")[1:] == (None, None)  # GraphDB: not guessed
    assert main(["build", "--store", "http://127.0.0.1:9/repositories/kb"]) == 1
    err = capsys.readouterr().err
    assert "--update-url" in err and "--gsp-url" in err and "Fuseki" in err
    # one given: the other is not guessed
    given = RemoteStore.from_urls("http://h/query", update_url="http://h/u")
    assert (given.update_url, given.gsp_url) == ("http://h/u", None)


def test_a_failed_full_push_keeps_the_old_manifest_and_a_rerun_finishes(
    oxigraph: OxigraphServer,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kb.stores.remote import RemoteStoreError, remote_run

    assert main(["build", "--store", oxigraph.query_url, "--quiet"]) == 0
    remote = RemoteStore.from_urls(oxigraph.query_url)
    before = remote.manifest()
    count = _count(remote_run(remote, COUNT_ALL))
    real_put = RemoteStore._put
    calls: list[str] = []

    def failing_put(self: RemoteStore, iri: str, graph: object) -> None:
        calls.append(iri)
        if len(calls) == 2:
            raise RemoteStoreError("the store went away")
        real_put(self, iri, graph)  # type: ignore[arg-type]

    monkeypatch.setattr(RemoteStore, "_put", failing_put)
    assert main(["build", "--store", oxigraph.query_url, "--full"]) == 1
    assert "run the same build again" in capsys.readouterr().err
    monkeypatch.setattr(RemoteStore, "_put", real_put)
    assert remote.manifest() == before  # not dropped, not replaced
    assert _count(remote_run(RemoteStore.from_urls(oxigraph.query_url), COUNT_ALL)) == count
    assert main(["build", "--store", oxigraph.query_url]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["build", "--store", oxigraph.query_url, "--full", "--quiet"]) == 0
    assert remote.manifest() == before


def test_queries_see_what_the_embedded_store_shows(oxigraph: OxigraphServer, project: Path) -> None:
    from kb.sparql.query import run
    from kb.stores.local import open_current
    from kb.stores.remote import remote_run

    assert main(["build", "--quiet"]) == 0
    assert main(["build", "--store", oxigraph.query_url, "--quiet"]) == 0
    store = open_current(Path(".geokb"))[0]
    remote = RemoteStore.from_urls(oxigraph.query_url)
    for query in (COUNT_ALL, COUNT_GRAPHS):
        assert _count(remote_run(remote, query)) == _count(run(store, query)), query
    manifest = "ASK { ?s <https://w3id.org/geokb/ontology#manifestJson> ?m }"
    assert not bool(remote_run(remote, manifest))
    # a client's own dataset is the client's: the manifest graph can be named
    manifest_graph = "https://w3id.org/geokb/graph/manifest"
    assert bool(remote_run(remote, manifest, default_graphs=(manifest_graph,)))
    settings = Settings(remote=remote)
    with LiveServer(settings) as live, httpx.Client(base_url=live.url) as http:
        answer = http.get("/sparql", params={"query": COUNT_ALL}).json()
    assert int(answer["results"]["bindings"][0]["n"]["value"]) == _count(run(store, COUNT_ALL))


def test_the_store_row_cap_is_reported_as_truncation(
    oxigraph: OxigraphServer, project: Path
) -> None:
    assert main(["build", "--store", oxigraph.query_url, "--quiet"]) == 0
    with Proxy(oxigraph, headers={"X-SPARQL-MaxRows": "3"}) as proxy:
        settings = Settings(remote=RemoteStore.from_urls(proxy.query_url))
        with LiveServer(settings) as live, httpx.Client(base_url=live.url) as http:
            resp = http.get("/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o } LIMIT 3"})
    assert resp.status_code == 200
    assert "remote store cut the result at its limit of 3 rows" in resp.headers["x-geokb-truncated"]


def test_digest_authentication_for_queries_updates_and_gsp(
    oxigraph: OxigraphServer,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GEOKB_STORE_AUTH", "digest")
    monkeypatch.setenv("GEOKB_STORE_USER", "geokb")
    monkeypatch.setenv("GEOKB_STORE_PASSWORD", "s3cret")
    with Proxy(oxigraph, digest=("geokb", "s3cret")) as proxy:
        assert main(["build", "--store", proxy.query_url, "--quiet"]) == 0  # GSP PUTs
        assert main(["query", ASK_T1, "--store", proxy.query_url]) == 0
        assert capsys.readouterr().out.strip() == "yes"
        # SPARQL Update instead of GSP
        update = proxy.query_url.replace("/query", "/update")
        assert main(["build", "--store", proxy.query_url, "--update-url", update, "--full"]) == 0
        assert "PUT /store" in proxy.seen and "POST /update" in proxy.seen
        monkeypatch.setenv("GEOKB_STORE_PASSWORD", "wrong")
        assert main(["query", ASK_T1, "--store", proxy.query_url]) == 1
        err = capsys.readouterr().err
        assert "401" in err and "wrong" not in err and "s3cret" not in err


def test_remote_answers_carry_an_etag_of_their_bytes_and_revalidate(
    oxigraph: OxigraphServer, project: Path
) -> None:
    """A cache in front of a remote-backed endpoint can revalidate: the ETag is the answer's
    own (it changes with the store's data and the format), and a current copy gets 304."""
    assert main(["build", "--store", oxigraph.query_url, "--quiet"]) == 0
    settings = Settings(remote=RemoteStore.from_urls(oxigraph.query_url))
    count = {"query": COUNT_ALL}
    with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=30) as http:
        first = http.get("/sparql", params=count)
        etag = first.headers["etag"]
        assert first.status_code == 200 and etag.startswith('"')  # strong: the bytes'
        assert http.get("/sparql", params=count).headers["etag"] == etag
        assert first.headers["cache-control"] == "public, max-age=60"
        assert "last-modified" not in first.headers  # the store does not say when it changed
        csv = http.get("/sparql", params={**count, "format": "csv"})
        assert csv.status_code == 200 and csv.headers["etag"] not in (etag, "")

        def ask(tags: str) -> httpx.Response:
            return http.get("/sparql", params=count, headers={"If-None-Match": tags})

        for tags in (etag, f'"other", W/{etag}', "*"):
            current = ask(tags)
            assert current.status_code == 304 and current.content == b"", tags
            assert current.headers["etag"] == etag
            assert current.headers["cache-control"] == "public, max-age=60"
        stale = ask('"other"')
        assert stale.status_code == 200 and stale.json() == first.json()
        for headers in ({}, {"If-None-Match": etag}, {"Origin": "https://example.org"}):
            got = http.get("/sparql", params=count, headers=headers)
            head = http.head("/sparql", params=count, headers=headers)
            assert head.status_code == got.status_code and head.content == b""
            assert [h for h in got.headers.multi_items() if h[0] != "date"] == [
                h for h in head.headers.multi_items() if h[0] != "date"
            ]
        # the store's data changes under the server: the old copy is no longer current
        graph = "https://w3id.org/geokb/graph/data/transfers.yaml"
        httpx.post(
            oxigraph.query_url.replace("/query", "/update"),
            content=f"INSERT DATA {{ GRAPH <{graph}> {{ <urn:x:s> <urn:x:p> <urn:x:o> }} }}",
            headers={"Content-Type": "application/sparql-update"},
        ).raise_for_status()
        changed = ask(etag)
        assert changed.status_code == 200 and changed.headers["etag"] != etag
        n = int(changed.json()["results"]["bindings"][0]["n"]["value"])
        assert n == int(first.json()["results"]["bindings"][0]["n"]["value"]) + 1
        # a query meant to differ each time: never stored, never 304
        rand = http.get(
            "/sparql", params={"query": "SELECT (RAND() AS ?r) {}"}, headers={"If-None-Match": "*"}
        )
        assert rand.status_code == 200 and rand.headers["cache-control"] == "no-store"
        assert "etag" not in rand.headers
        assert "etag" not in http.post("/sparql", data=count).headers  # caches keep no POST
        # a large answer goes out in pieces, and still has its tag in the head
        values = " ".join(str(i) for i in range(100))
        rows = {"query": f"SELECT * {{ VALUES ?a {{ {values} }} VALUES ?b {{ {values} }} }}"}
        large = http.get("/sparql", params=rows)
        assert large.headers.get("transfer-encoding") == "chunked"
        assert len(large.json()["results"]["bindings"]) == 10_000
        again = http.get("/sparql", params=rows, headers={"If-None-Match": large.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
