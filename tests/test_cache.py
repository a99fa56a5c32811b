"""Repeated queries are answered from memory, but never across builds or for volatile ones."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from conftest import MINI, LiveServer, write_data

from api.cache import Answer, ResultCache
from kb.cli import main
from kb.sparql.reading import read

JSON = {"Accept": "application/sparql-results+json"}
TRANSFERS = "SELECT ?t WHERE { ?t a <https://w3id.org/geokb/ontology#ArmsTransfer> } ORDER BY ?t"


def test_a_repeated_query_is_a_hit_with_the_same_answer(real_store: Path) -> None:
    query = {"query": TRANSFERS + " # cache test"}
    with LiveServer(real_store) as live, httpx.Client(base_url=live.url, headers=JSON) as http:
        first, second = http.get("/sparql", params=query), http.get("/sparql", params=query)
        as_csv = http.get("/sparql", params={**query, "format": "csv"})
    assert (first.headers["x-geokb-cache"], second.headers["x-geokb-cache"]) == ("miss", "hit")
    assert first.content == second.content and len(first.json()["results"]["bindings"]) > 50
    assert second.headers["content-type"] == first.headers["content-type"]
    assert as_csv.headers["x-geokb-cache"] == "miss"  # another format is another answer
    assert as_csv.text.startswith("t\r\n")


def test_volatile_queries_are_never_kept(real_store: Path) -> None:
    query = {"query": "SELECT (RAND() AS ?r) (STRUUID() AS ?u) WHERE {}"}
    with LiveServer(real_store) as live, httpx.Client(base_url=live.url, headers=JSON) as http:
        answers = [http.get("/sparql", params=query) for _ in range(2)]
    assert [a.headers["x-geokb-cache"] for a in answers] == ["bypass", "bypass"]
    assert answers[0].json() != answers[1].json()
    assert read("select (now () as ?t) {}").volatile and not read("SELECT ?random {}").volatile


def test_a_new_build_is_never_answered_from_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_data(tmp_path / "data", MINI)
    assert main(["build", "--quiet"]) == 0
    query = {"query": TRANSFERS}
    with LiveServer(tmp_path / ".geokb") as live, httpx.Client(base_url=live.url) as http:
        http.get("/sparql", params=query, headers=JSON)
        before = http.get("/sparql", params=query, headers=JSON)
        assert before.headers["x-geokb-cache"] == "hit"
        text = (tmp_path / "data" / "transfers.yaml").read_text()
        (tmp_path / "data" / "transfers.yaml").write_text(text.replace("id: t1", "id: t9"))
        assert main(["build", "--quiet"]) == 0
        after = http.get("/sparql", params=query, headers=JSON)
    assert after.headers["x-geokb-cache"] == "miss"
    [row] = after.json()["results"]["bindings"]
    assert row["t"]["value"].endswith("/transfer/t9")


def test_the_cache_keeps_within_its_budget_and_drops_the_least_recent() -> None:
    cache = ResultCache(max_bytes=800)  # entries up to 100 bytes
    for i in range(10):
        cache.put("build-1", i, Answer(False, bytes(90)))
    assert cache.get("build-1", 0) is None and cache.get("build-1", 9) is not None
    assert sum(cache.get("build-1", i) is not None for i in range(10)) == 8
    cache.put("build-1", "big", Answer(False, bytes(101)))
    assert cache.get("build-1", "big") is None  # too big to keep
    assert cache.get("build-2", 9) is None  # another build: nothing kept applies
    cache.put("build-2", 1, Answer(True, b"x"))
    assert cache.get("build-1", 9) is None and cache.get("build-2", 1) == Answer(True, b"x")


def test_a_streamed_answer_is_kept_only_once_it_has_ended() -> None:
    cache = ResultCache(max_bytes=1000)

    async def whole() -> AsyncIterator[bytes]:
        yield b"ab"
        yield b"cd"

    async def cut() -> AsyncIterator[bytes]:
        yield b"ab"
        raise TimeoutError  # the worker was stopped mid-answer

    async def read(key: str, chunks: AsyncIterator[bytes]) -> list[bytes]:
        return [c async for c in cache.keep_stream("b", key, False, chunks)]

    assert asyncio.run(read("whole", whole())) == [b"ab", b"cd"]
    assert cache.get("b", "whole") == Answer(False, b"abcd")
    with pytest.raises(TimeoutError):
        asyncio.run(read("cut", cut()))
    assert cache.get("b", "cut") is None


def test_long_queries_count_against_the_budget() -> None:
    cache = ResultCache(max_bytes=8000)
    for i in range(100):  # tiny answers, 900-character queries
        cache.put("b", i, Answer(False, b"{}"), key_size=900)
    assert sum(cache.get("b", i) is not None for i in range(100)) == 8
