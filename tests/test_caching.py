"""HTTP caching (api/caching.py): validators and freshness on every read answer, 304 for a
client's current copy (before the query runs), and nothing stored that is of the moment."""

from __future__ import annotations

import asyncio
import os
import shutil
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import httpx
from conftest import MINI, LiveServer, OxigraphServer, write_data
from starlette.types import Receive, Scope, Send

from api.caching import HttpCaching, build_of
from api.settings import Settings
from api.state import ServedStore
from kb.build.pipeline import compile_data
from kb.cli import main as geokb_main
from kb.stores.local import current_build, write_build
from kb.stores.remote import RemoteStore

ASK = "ASK { <https://w3id.org/geokb/id/state/IRN> ?p ?o }"
READS = [
    ("/sparql", {"query": ASK}, "application/sparql-results+json"),
    ("/sparql", {"query": ASK}, "text/csv"),
    ("/sparql", {}, "text/turtle"),  # the service description
    ("/id/state/IRN", {}, "text/html"),
    ("/id/state/IRN", {}, "text/turtle"),
    ("/id/state/IRN", {"format": "jsonld"}, "*/*"),
    ("/id/", {}, "text/html"),
    ("/id/state/", {}, "text/html"),
    ("/id/state/", {"format": "csv"}, "*/*"),
    ("/id/state/", {"format": "json"}, "*/*"),
    ("/search", {"q": "iran"}, "text/html"),
    ("/search.json", {"q": "iran"}, "*/*"),
    ("/.well-known/void", {}, "text/turtle"),
    ("/", {}, "text/html"),
]


def test_every_read_answer_carries_validators_and_freshness(http: httpx.Client) -> None:
    etags = set()
    modified = set()
    for path, params, accept in READS:
        resp = http.get(path, params=params, headers={"Accept": accept})
        assert resp.status_code == 200, (path, params, resp.text)
        assert resp.headers["cache-control"] == "public, max-age=60", path
        assert resp.headers["etag"].startswith('W/"'), path
        assert "accept" in resp.headers["vary"].lower().replace(" ", "").split(","), path
        etags.add(resp.headers["etag"])
        modified.add(resp.headers["last-modified"])
    # one build: one time; each URL and format: its own ETag
    assert len(modified) == 1 and len(etags) == len(READS)
    assert parsedate_to_datetime(modified.pop()).year >= 2025


def test_a_current_copy_gets_304_before_the_query_runs(http: httpx.Client) -> None:
    params = {"query": ASK}
    resp = http.get("/sparql", params=params)
    etag = resp.headers["etag"]
    assert resp.headers["x-geokb-cache"] in ("hit", "miss")  # set by the query route
    for held in (etag, f'W/"other", {etag.removeprefix("W/")}', f'"x", {etag}'):
        again = http.get("/sparql", params=params, headers={"If-None-Match": held})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == "public, max-age=60"
        assert again.headers["last-modified"] == resp.headers["last-modified"]
        assert "x-geokb-cache" not in again.headers  # the query route never ran
    assert http.head("/sparql", params=params, headers={"If-None-Match": etag}).status_code == 304
    other = http.get("/sparql", params=params, headers={"If-None-Match": 'W/"other"'})
    assert other.status_code == 200 and other.json()["boolean"] is True
    # another format is another representation: the copy held is not it
    csv = http.get("/sparql", params=params, headers={"If-None-Match": etag, "Accept": "text/csv"})
    assert csv.status_code == 200 and csv.headers["etag"] != etag
    # a browser asking from another origin can read the 304
    origin = {"If-None-Match": etag, "Origin": "https://a.example"}
    cors = http.get("/sparql", params=params, headers=origin)
    assert cors.status_code == 304 and cors.headers["access-control-allow-origin"] == "*"


def test_if_none_match_star_and_if_modified_since(http: httpx.Client) -> None:
    page = http.get("/id/state/IRN", headers={"Accept": "text/turtle"})
    built = page.headers["last-modified"]
    turtle = {"Accept": "text/turtle"}
    assert http.get("/id/state/IRN", headers={**turtle, "If-None-Match": "*"}).status_code == 304
    # '*' is about an answer that exists: a missing entity is still a 404
    missing = http.get("/id/state/XXX", headers={**turtle, "If-None-Match": "*"})
    assert missing.status_code == 404 and missing.headers["cache-control"] == "no-store"
    since = http.get("/id/state/IRN", headers={**turtle, "If-Modified-Since": built})
    assert since.status_code == 304 and since.content == b""
    before = formatdate(parsedate_to_datetime(built).timestamp() - 1, usegmt=True)
    older = http.get("/id/state/IRN", headers={**turtle, "If-Modified-Since": before})
    assert older.status_code == 200 and older.text == page.text
    for odd in ("yesterday", f"{built}, {built}"):
        resp = http.get("/id/state/IRN", headers={**turtle, "If-Modified-Since": odd})
        assert resp.status_code == 200
    # If-None-Match decides when both are sent (RFC 9110 13.2.2)
    both = {**turtle, "If-None-Match": 'W/"other"', "If-Modified-Since": built}
    assert http.get("/id/state/IRN", headers=both).status_code == 200


def test_errors_random_answers_and_posts_are_not_stored(http: httpx.Client) -> None:
    for path, params in [
        ("/sparql", {"query": "SELECT WHERE {"}),  # 400
        ("/id/state/XXX", {}),  # 404
        ("/sparql", {"query": "SERVICE"}),  # 400/403
    ]:
        resp = http.get(path, params=params, headers={"Accept": "text/plain"})
        assert resp.status_code >= 400
        assert resp.headers["cache-control"] == "no-store" and "etag" not in resp.headers
    # a person asking /sparql without a query is sent to the query page: not kept either
    moved = http.get("/sparql", headers={"Accept": "text/html"})
    assert moved.status_code == 303 and moved.headers["cache-control"] == "no-store"
    # answers meant to differ each time are never kept
    rand = http.get("/sparql", params={"query": "SELECT (RAND() AS ?r) WHERE {}"})
    assert rand.status_code == 200 and rand.headers["cache-control"] == "no-store"
    assert "etag" not in rand.headers
    posted = http.post("/sparql", data={"query": ASK})
    assert posted.status_code == 200 and "etag" not in posted.headers
    assert "public" not in posted.headers.get("cache-control", "")


def _mini_store(root: Path, data: Path) -> Path:
    write_build(root, compile_data(data))
    build = current_build(root)
    assert build is not None
    return build


def test_replicas_of_one_build_agree(tmp_path: Path) -> None:
    settings = Settings()
    data = write_data(tmp_path / "data", MINI)
    build = _mini_store(tmp_path / "a", data)
    # shipped as the deployment guide says: the folder with its files' times (cp -a), then
    # a relative 'current' link
    copy = tmp_path / "replica"
    shutil.copytree(build, copy / "builds" / build.name, copy_function=shutil.copy2)
    os.symlink(f"builds/{build.name}", copy / "current")
    served = ServedStore(copy)
    try:
        assert next(iter(served.get().named_graphs()), None) is not None
        assert build_of(served.current_path(), settings) == build_of(build, settings)
    finally:
        served.close()
    # the same data built elsewhere by the same code: the same ETags (the time differs)
    elsewhere = _mini_store(tmp_path / "b", data)
    assert build_of(elsewhere, settings).identity == build_of(build, settings).identity
    # limits that change answers: other ETags (a new build: tests/test_nginx.py)
    fewer = Settings(max_rows=10)
    assert build_of(build, fewer).identity != build_of(build, settings).identity


def test_a_remote_store_gets_max_age_and_its_answers_own_etag(tmp_path: Path) -> None:
    # a replica cannot see when a push lands without asking the store: the ETag is the
    # answer's bytes', known once the query ran (more in tests/test_remote.py)
    oxigraph = OxigraphServer(tmp_path / "oxigraph-data")
    oxigraph.start()
    try:
        data = write_data(tmp_path / "data", MINI)
        build = ["build", "--data", str(data), "--store", oxigraph.query_url, "--quiet"]
        assert geokb_main(build) == 0
        remote = RemoteStore.from_urls(oxigraph.query_url)
        settings = Settings(remote=remote, max_rows=1, cache_max_age_s=5)
        with LiveServer(settings) as live, httpx.Client(base_url=live.url, timeout=30) as http:
            resp = http.get("/sparql", params={"query": ASK})
            assert resp.status_code == 200 and resp.json()["boolean"] is True
            assert resp.headers["cache-control"] == "public, max-age=5"  # --cache-max-age
            assert resp.headers["etag"] and "last-modified" not in resp.headers
            current = http.get("/sparql", params={"query": ASK}, headers={"If-None-Match": "*"})
            assert current.status_code == 304
            # an answer cut at --max-rows is not kept
            cut = http.get("/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o } LIMIT 3"})
            assert cut.status_code == 200 and cut.headers["x-geokb-truncated"].startswith("true")
            assert cut.headers["cache-control"] == "no-store" and "etag" not in cut.headers
    finally:
        oxigraph.stop()


def test_static_files_keep_their_own_validators_and_get_max_age(http: httpx.Client) -> None:
    css = http.get("/static/swagger/swagger-ui.css")
    assert css.status_code == 200 and css.headers["cache-control"] == "public, max-age=60"
    held = {"If-None-Match": css.headers["etag"]}
    again = http.get("/static/swagger/swagger-ui.css", headers=held)
    assert again.status_code == 304 and again.headers["cache-control"] == "public, max-age=60"


def test_a_route_that_chooses_its_own_cache_control_keeps_it() -> None:
    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"cache-control", b"private, no-cache"), (b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"mine"})

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=HttpCaching(route, Settings(), None))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/anything")

    resp = asyncio.run(get())
    assert resp.text == "mine" and resp.headers["cache-control"] == "private, no-cache"
    assert "etag" not in resp.headers
