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
