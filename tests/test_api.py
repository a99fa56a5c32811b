import re
from pathlib import Path

import httpx
import pytest
from conftest import MINI, LiveServer, write_data

from kb.cli import main
from kb.sparql.examples import examples

TRANSFERS_IRN_RUS = """
PREFIX gk: <https://w3id.org/geokb/ontology#>
PREFIX dcterms: <http://purl.org/dc/terms/>
SELECT ?transfer ?weapon ?publisher ?title WHERE {
  ?transfer gk:supplier <https://w3id.org/geokb/id/state/IRN> ;
            gk:recipient <https://w3id.org/geokb/id/state/RUS> ;
            gk:weaponSystem ?weapon ;
            dcterms:source ?source .
  ?source dcterms:publisher ?publisher ; dcterms:title ?title .
}"""
JSON = "application/sparql-results+json"


def _rows(resp: httpx.Response) -> list[dict[str, str]]:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith(JSON)
    return [{k: v["value"] for k, v in b.items()} for b in resp.json()["results"]["bindings"]]


def test_shahed_transfer_from_iran_to_russia_with_its_source(http: httpx.Client) -> None:
    rows = _rows(http.get("/sparql", params={"query": TRANSFERS_IRN_RUS}))
    assert {r["transfer"] for r in rows} == {
        "https://w3id.org/geokb/id/transfer/irn-rus-shahed-131-136"
    }
    assert {r["weapon"].rsplit("/", 1)[1] for r in rows} == {"shahed-131", "shahed-136"}
    # the seed article, and Iran's own acknowledgement as Al Arabiya reported it
    assert {"Al-Monitor", "Al Arabiya English"} <= {r["publisher"] for r in rows}
    assert "Can Iran's Shahed drones in Ukraine help ease tension with Russia?" in {
        r["title"] for r in rows
    }


def test_post_form_and_post_body_answer_the_same(http: httpx.Client) -> None:
    by_get = _rows(http.get("/sparql", params={"query": TRANSFERS_IRN_RUS}))
    by_form = _rows(http.post("/sparql", data={"query": TRANSFERS_IRN_RUS}))
    by_body = _rows(
        http.post(
            "/sparql",
            content=TRANSFERS_IRN_RUS.encode(),
            headers={"Content-Type": "application/sparql-query"},
        )
    )
    assert by_get == by_form == by_body


def test_ask_and_construct(http: httpx.Client) -> None:
    ask = http.get(
        "/sparql", params={"query": "ASK { ?s a <https://w3id.org/geokb/ontology#State> }"}
    )
    assert ask.json() == {"head": {}, "boolean": True}
    construct = http.get(
        "/sparql", params={"query": "CONSTRUCT { ?s a ?c } WHERE { ?s a ?c } LIMIT 3"}
    )
    assert construct.headers["content-type"].startswith("text/turtle")


@pytest.mark.parametrize(
    "update",
    [
        "INSERT DATA { <http://a> <http://b> <http://c> }",
        "DELETE WHERE { ?s ?p ?o }",
        "DROP ALL",
    ],
)
def test_updates_are_refused_and_change_nothing(http: httpx.Client, update: str) -> None:
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    before = _rows(http.get("/sparql", params={"query": count}))
    for resp in (
        http.get("/sparql", params={"query": update}),
        http.post("/sparql", data={"update": update}),
        http.post("/sparql", content=update, headers={"Content-Type": "application/sparql-update"}),
    ):
        assert resp.status_code == 403
        assert "read-only" in resp.text
    assert _rows(http.get("/sparql", params={"query": count})) == before


def test_malformed_query_is_400_with_position(http: httpx.Client) -> None:
    resp = http.get("/sparql", params={"query": "SELECT * WHERE { ?s ?p }"})
    assert resp.status_code == 400
    assert "1:25" in resp.text


def test_query_page_offers_the_example_queries(http: httpx.Client) -> None:
    page = http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for ex in examples():
        assert ex.title.replace("'", "\\u0027") in page.text or ex.title in page.text


def test_failed_build_leaves_the_old_store_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_data(tmp_path / "data", MINI)
    assert main(["build"]) == 0
    ask = {"query": "ASK { <https://w3id.org/geokb/id/transfer/t1> ?p ?o }"}
    with LiveServer(tmp_path / ".geokb") as live, httpx.Client(base_url=live.url) as http:
        assert http.get("/sparql", params=ask).json()["boolean"] is True
        (tmp_path / "data" / "transfers.yaml").write_text("arms_transfers:\n  - id: t2\n\tbad\n")
        assert main(["build"]) == 1
        assert http.get("/sparql", params=ask).json()["boolean"] is True
        # a good build is picked up by the running server
        (tmp_path / "data" / "transfers.yaml").unlink()
        assert main(["build"]) == 0
        assert http.get("/sparql", params=ask).json()["boolean"] is False


@pytest.mark.parametrize(
    ("path", "params"),
    [("/sparql", {"query": "ASK {}"}), ("/", {}), ("/id/state/IRN", {}), ("/docs", {})],
)
def test_head_answers_like_get_without_a_body(
    http: httpx.Client, path: str, params: dict[str, str]
) -> None:
    get = http.get(path, params=params)
    head = http.head(path, params=params)
    assert get.status_code == 200
    assert head.status_code == 200, head.text
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    # the length the GET would have (a page may differ by a per-request nonce; the ASK does not)
    assert int(head.headers["content-length"]) > 0
    if path == "/sparql":
        assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["x-frame-options"] == "DENY"


def test_head_on_an_unknown_path_is_404(http: httpx.Client) -> None:
    assert http.head("/no/such/page").status_code == 404


def test_docs_has_the_pages_security_headers_and_no_inline_script(http: httpx.Client) -> None:
    docs = http.get("/docs")
    assert docs.status_code == 200
    csp = docs.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split("script-src")[1][:30]
    assert "frame-ancestors 'none'" in csp
    assert docs.headers["x-frame-options"] == "DENY"
    assert docs.headers["x-content-type-options"] == "nosniff"
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", docs.text, re.DOTALL)
    assert scripts and all(body.strip() == "" and "src=" in attrs for attrs, body in scripts)
    init = http.get("/static/swagger/init.js")
    assert init.status_code == 200 and "SwaggerUIBundle(" in init.text
    assert '"/openapi.json"' in init.text
    assert http.get("/openapi.json").json()["paths"]["/sparql"]
