"""Finding things, over real HTTP on the real data: /search and /search.json (typos, names in
other languages), the lists at /id/ and /id/<kind>/ (pages, filter, CSV and JSON), the
not-found page's suggestions, hostile queries; and the search index each build writes."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import shutil
import sqlite3
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from conftest import MINI, LiveServer, write_data

from api import search
from api.lookup import Entry, ListQuery, SearchIndex
from api.pagework import Deadline, PageTimeout
from kb.build.manifest import load as load_manifest
from kb.build.pipeline import compile_data
from kb.model import schema
from kb.stores import search_index
from kb.stores.local import FILES_NAME, current_build, damage, open_build, write_build

HTML = {"Accept": "text/html"}
MINI_STATES = textwrap.dedent(MINI["states.yaml"])
MINI_TRANSFERS = textwrap.dedent(
    """\
    weapon_systems:
      - id: drone-x
        label: Drone X
        category: UAV
      - id: drone-y
        label: Drone Y
        category: loitering munition
    arms_transfers:
      - id: t1
        supplier: IRN
        recipient: RUS
        weapon_systems: [drone-y]
        delivery_start_date: 2023
        sources: [test-source]
    """
)


def _suggest(http: httpx.Client, q: str, **params: int | str) -> list[dict[str, str]]:
    r = http.get("/search.json", params={"q": q, **params})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    results: list[dict[str, str]] = r.json()["results"]
    return results


def _links(page: str) -> list[tuple[str, str]]:
    """The links to entity pages in ``page``: (path, text)."""
    found = re.findall(r'<a href="(/id/[^"?/]+/[^"?]+)">([^<]*)</a>', page)
    return [(href, html.unescape(text)) for href, text in found]


def test_two_letters_find_iran_first(http: httpx.Client) -> None:
    results = _suggest(http, "ir")
    assert results[0]["label"] == "Iran"
    assert results[0]["kind"] == "state"
    assert results[0]["url"] == "/id/state/IRN"
    assert results[0]["iri"] == "https://w3id.org/geokb/id/state/IRN"
    assert len(results) == search.SUGGEST_LIMIT


def test_crim_finds_crimea_the_dispute_and_territory_before_sources(http: httpx.Client) -> None:
    results = _suggest(http, "crim", limit=20)
    kinds = [r["kind"] for r in results]
    assert any(r["label"] == "Crimea" and r["kind"] == "territory" for r in results[:3])
    assert results[0]["kind"] == "dispute"  # disputes rank before territories and sources
    if "source" in kinds:
        first_source = kinds.index("source")
        assert "dispute" not in kinds[first_source:] and "territory" not in kinds[first_source:]


def test_matching_ignores_case_and_accents(http: httpx.Client) -> None:
    for q in ("cote", "COTE D IVOIRE", "côte", "Cote d'I"):
        assert _suggest(http, q)[0]["label"] == "Côte d'Ivoire", q
    assert _suggest(http, "turkiye")[0]["label"] == "Türkiye"


def test_misspelt_names_are_found(http: httpx.Client) -> None:
    assert _suggest(http, "Shahid 136")[0]["label"] == "Shahed-136"
    assert {"Crimea"} <= {r["label"] for r in _suggest(http, "Crimia")[:3]}
    page = http.get("/search", params={"q": "Crimia"}, headers=HTML).text
    assert ("/id/territory/crimea", "Crimea") in _links(page)


def test_several_words_find_names_holding_each_in_any_order(http: httpx.Client) -> None:
    shahed = "/id/transfer/irn-rus-shahed-131-136"  # "Shahed-131/136 drones from Iran to Russia"
    for q in ("iran russia", "Russia Iran", "drones russia"):
        assert shahed in [r["url"] for r in _suggest(http, q, limit=50)], q
    page = http.get("/search", params={"q": "iran russia"}, headers=HTML).text
    assert shahed in [href for href, _ in _links(page)]
    # every word must start a word of a name: a stray one finds nothing of it
    assert shahed not in [r["url"] for r in _suggest(http, "iran russia qqq", limit=50)]
    # a list's text filter too, when nothing holds the words as typed
    listed = http.get("/id/transfer/", params={"q": "russia iran", "format": "json"}).json()
    assert "irn-rus-shahed-131-136" in [r["id"] for r in listed["rows"]]
    stray = http.get("/id/transfer/", params={"q": "russia qqq", "format": "json"}).json()
    assert stray["total"] == 0


def test_any_text_is_searched_as_text(http: httpx.Client) -> None:
    # quotes, FTS5 operators and control characters are part of what is looked for
    for q in ('Cri"mea', "Crim\x00ea", "Crimea*", "Crimea OR Iran", "NEAR(Crimea)", "'--"):
        for path in ("/search", "/search.json"):
            found = http.get(path, params={"q": q})
            assert found.status_code == 200, (path, q, found.text[:200])


def test_names_in_other_languages_find_the_entity(http: httpx.Client) -> None:
    assert _suggest(http, "Татарстан")[0]["url"] == "/id/territory/tatarstan"
    assert _suggest(http, "الإمارات")[0]["url"] == "/id/state/ARE"
    # shown by its English label, found by its prefix in Cyrillic too
    assert _suggest(http, "Тата")[0]["label"] == "Tatarstan"


def test_an_exact_label_ranks_before_prefixes_and_substrings(http: httpx.Client) -> None:
    labels = [r["label"] for r in _suggest(http, "iran", limit=50)]
    assert labels[0] == "Iran"
    assert _suggest(http, "IRN")[0]["url"] == "/id/state/IRN"  # ids match too


def test_json_shape_and_limits(http: httpx.Client) -> None:
    r = http.get("/search.json", params={"q": "shahed", "limit": 3})
    body = r.json()
    assert set(body) == {"q", "results", "total", "complete"}
    assert body["q"] == "shahed" and body["complete"] is True
    assert len(body["results"]) == 3 and body["total"] >= 3
    for item in body["results"]:
        assert set(item) == {"label", "kind", "kind_label", "id", "iri", "url"}
        assert item["iri"] == "https://w3id.org/geokb/id/" + item["url"][len("/id/") :]
    assert http.get("/search.json", params={"q": "x", "limit": 0}).status_code == 400
    assert http.get("/search.json", params={"q": "x", "limit": 51}).status_code == 400
    assert http.get("/search.json", params={"q": "x", "limit": "ten"}).status_code == 400
    assert _suggest(http, "") == [] and _suggest(http, "   ") == []


def test_the_search_page_groups_results_by_kind(http: httpx.Client) -> None:
    r = http.get("/search", params={"q": "crim"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    headings = re.findall(r"<h2>([^<]+)</h2>", page)
    assert headings[0] == "Territorial disputes" and "Territories" in headings
    assert ("/id/territory/crimea", "Crimea") in _links(page)
    # the header's box keeps what was asked
    assert re.search(r'<form class="search" action="/search" method="get"', page)
    assert 'name="q" value="crim"' in page
    assert '<script src="/static/search.js" defer></script>' in page
    assert "<script>" not in page  # no inline script


def test_a_search_with_more_matches_than_shown_links_to_each_kinds_list(
    http: httpx.Client,
) -> None:
    page = http.get("/search", params={"q": "c"}).text
    shown = len(re.findall(r'<span class="tag">[^<]+</span></li>', page.split("<h2>Browse")[0]))
    assert shown == search.SEARCH_PAGE_LIMIT, "one letter matches more than a page shows"
    sources = page[page.index("<h2>Sources</h2>") :]
    more = re.search(r'<p class="more"><a href="([^"]+)">All sources matching', sources)
    assert more is not None and html.unescape(more.group(1)) == "/id/source/?q=c"
    listed = http.get("/id/source/", params={"q": "c", "format": "json"}).json()
    in_group = sources.index("</ul>")
    assert listed["total"] > sources[:in_group].count("<li>")  # the rest are reachable
    # a search whose matches all show needs no such links
    assert 'class="more"' not in http.get("/search", params={"q": "crimea"}).text


def test_every_page_has_the_search_box(http: httpx.Client) -> None:
    for path in ("/", "/id/state/IRN", "/id/", "/id/state/", "/search"):
        page = http.get(path, headers=HTML).text
        assert 'action="/search" method="get" role="search"' in page, path


def test_id_lists_the_kinds_with_counts(http: httpx.Client) -> None:
    page = http.get("/id/", headers=HTML)
    assert page.status_code == 200
    kinds = http.get("/id/", params={"format": "json"}).json()["kinds"]
    by_kind = {k["kind"]: k["count"] for k in kinds}
    assert by_kind["state"] >= 190 and by_kind["dispute"] > 0
    assert [k["kind"] for k in kinds][:2] == ["state", "dispute"]
    for k in kinds:
        assert f'<a href="/id/{k["kind"]}/">' in page.text
        assert f'<td class="count">{k["count"]}</td>' in page.text
    assert http.get("/id").status_code in (307, 308)  # to /id/


def test_a_kind_lists_its_entities_by_label_a_hundred_a_page(http: httpx.Client) -> None:
    first = http.get("/id/state/", headers=HTML)
    assert first.status_code == 200
    rows = [link for link in _links(first.text) if link[0].startswith("/id/state/")]
    assert len(rows) == search.PAGE_SIZE
    labels = [label for _, label in rows]
    assert labels == sorted(labels, key=search.fold)
    # the next page is the rows after the last one shown (a keyset cursor); ?page= works too
    last_id = rows[-1][0].rsplit("/", 1)[1]
    assert f'<a href="/id/state/?after={last_id}" rel="next">' in first.text
    after = http.get("/id/state/", params={"after": last_id}, headers=HTML).text
    second = http.get("/id/state/", params={"page": 2}, headers=HTML).text
    assert _links(after) == _links(second)
    more = [link for link in _links(second) if link[0].startswith("/id/state/")]
    total = http.get("/id/", params={"format": "json"}).json()["kinds"][0]["count"]
    assert len(rows) + len(more) == total
    assert not set(rows) & set(more)
    assert '<a href="/id/state/" rel="prev">' in second
    assert http.get("/id/state/", params={"after": "nope"}).status_code == 400
    # past the end: an empty page; not a number: 400
    past = http.get("/id/state/", params={"page": 99}, headers=HTML)
    assert past.status_code == 200 and "No states here." in past.text
    assert http.get("/id/state/", params={"page": "x"}).status_code == 400
    assert http.get("/id/state/", params={"page": 0}).status_code == 400
    assert http.get("/id/state/", params={"format": "xml"}).status_code == 400


# Two administrations of one territory by one state, told apart only by their dates.
ALIKE = {
    **MINI,
    "places.yaml": """\
        territories:
          - id: isle
            label: Isle
            type: region
        administrations:
          - id: isle-under-iran-once
            territory: isle
            administered_by: IRN
            start_date: "1971"
            end_date: "1980"
            sources: [test-source]
          - id: isle-under-iran
            territory: isle
            administered_by: IRN
            start_date: "1992"
            sources: [test-source]
        """,
}


def test_records_alike_but_for_their_dates_are_called_in_search_and_lists_as_on_their_pages(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    write_build(root, compile_data(write_data(tmp_path / "data", ALIKE)))
    with LiveServer(root) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        pages = {}
        for record in ("isle-under-iran-once", "isle-under-iran"):
            path = f"/id/administration/{record}"
            page = client.get(path, headers=HTML).text
            [heading] = re.findall(r"<h1>([^<]*)</h1>", page)
            assert f"<title>{heading} — geokb</title>" in page
            pages[path] = html.unescape(heading)
        assert pages == {
            "/id/administration/isle-under-iran-once": "Iran administered Isle from 1971 to 1980",
            "/id/administration/isle-under-iran": "Iran administers Isle since 1992",
        }
        searched = client.get("/search", params={"q": "isle"}, headers=HTML).text
        listed = client.get("/id/administration/", headers=HTML).text
        for shown in (searched, listed):
            assert {href: text for href, text in _links(shown) if href in pages} == pages
        as_json = [
            *client.get("/search.json", params={"q": "isle"}).json()["results"],
            *client.get("/id/administration/", params={"format": "json"}).json()["rows"],
        ]
        named = {r["iri"].removeprefix(schema.ID_BASE): r["label"] for r in as_json}
        assert {f"/id/{k}": v for k, v in named.items() if f"/id/{k}" in pages} == pages


def test_a_list_filters_and_gives_exactly_its_rows_as_csv_and_json(http: httpx.Client) -> None:
    page = http.get("/id/state/", params={"q": "ir"}, headers=HTML).text
    shown = [link for link in _links(page) if link[0].startswith("/id/state/")]
    assert ("/id/state/IRN", "Iran") in shown and (
        "/id/state/RUS",
        "Russian Federation",
    ) not in shown
    assert 'href="/id/state/?q=ir&amp;format=csv"' in page
    assert 'href="/id/state/?q=ir&amp;format=json"' in page
    r = http.get("/id/state/", params={"q": "ir", "format": "csv"})
    assert r.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(r.text)))
    assert all(
        row["url"] == f"{http.base_url}/id/state/{row['id']}".replace("//id", "/id")
        for row in table
    )
    assert [("/id/state/" + row["id"], row["label"]) for row in table] == shown
    body = http.get("/id/state/", params={"q": "ir", "format": "json"}).json()
    assert all(r["url"].endswith("/id/state/" + r["id"]) for r in body["rows"])
    assert [("/id/state/" + r["id"], r["label"]) for r in body["rows"]] == shown
    assert body["total"] == len(shown) and body["page"] == 1 and body["next"] is None
    # a page's CSV is that page
    page2 = http.get("/id/state/", params={"page": 2, "format": "csv"}).text
    assert len(page2.strip().splitlines()) - 1 == len(
        [link for link in _links(http.get("/id/state/?page=2").text) if "/id/state/" in link[0]]
    )


def test_a_list_that_nothing_matches_says_so_and_offers_the_search(http: httpx.Client) -> None:
    page = http.get("/id/state/", params={"q": "crimia"}, headers=HTML).text
    summary = html.unescape(re.sub(r"<[^>]+>", "", page.split('<p class="summary">')[1]))
    assert summary.startswith("No states match “crimia”."), summary[:80]  # not 'None of 0'
    offer = re.search(r'<a href="(/search\?q=[^"]+)">Search everything', page)
    assert offer is not None and html.unescape(offer.group(1)) == "/search?q=crimia"
    found = http.get(html.unescape(offer.group(1)), headers=HTML).text
    assert ("/id/territory/crimea", "Crimea") in _links(found)


def test_an_unknown_entity_suggests_the_closest(http: httpx.Client) -> None:
    r = http.get("/id/state/IRNN", headers=HTML)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "https://w3id.org/geokb/id/state/IRNN" in r.text
    assert ("/id/state/IRN", "Iran") in _links(r.text)
    assert 'action="/search"' in r.text and 'href="/static/geokb.css"' in r.text
    misspelt = http.get("/id/territory/crimaea", headers=HTML).text
    assert ("/id/territory/crimea", "Crimea") in _links(misspelt)
    # programs still get a plain 404
    plain = http.get("/id/state/IRNN", headers={"Accept": "text/turtle"})
    assert plain.status_code == 404 and plain.headers["content-type"].startswith("text/plain")
    kind = http.get("/id/bogus/", headers=HTML)
    assert kind.status_code == 404 and "bogus" in kind.text


def test_an_unknown_path_is_a_page_for_people_and_plain_for_programs(http: httpx.Client) -> None:
    r = http.get("/crimea", headers=HTML)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "There is no page at /crimea." in r.text
    assert ("/id/territory/crimea", "Crimea") in _links(r.text)
    for accept in (None, "application/json", "*/*"):
        headers = {"Accept": accept} if accept else {}
        r = http.get("/crimea", headers=headers)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/plain")


HOSTILE = '<script>alert("x")</script>'


def test_hostile_queries_are_escaped(http: httpx.Client) -> None:
    for path in ("/search", "/id/state/"):
        page = http.get(path, params={"q": HOSTILE}, headers=HTML).text
        assert "<script>alert" not in page, path
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page, path
    r = http.get("/id/state/" + HOSTILE.replace('"', "%22"), headers=HTML)
    assert r.status_code == 404 and "<script>alert" not in r.text
    r = http.get("/" + HOSTILE.replace('"', "%22"), headers=HTML)
    assert r.status_code == 404 and "<script>alert" not in r.text
    body = http.get("/search.json", params={"q": HOSTILE}).json()
    assert body["results"] == []


def test_very_long_queries_are_bounded(http: httpx.Client) -> None:
    long = "iran " * 3000
    started = time.monotonic()
    r = http.get("/search.json", params={"q": long})
    assert r.status_code == 200
    assert len(r.json()["q"]) <= search.MAX_QUERY_CHARS
    page = http.get("/search", params={"q": long}, headers=HTML)
    assert page.status_code == 200 and len(page.text) < 200_000
    listed = http.get("/id/state/", params={"q": long}, headers=HTML)
    assert listed.status_code == 200
    r = http.get("/id/state/" + "x" * 3000, headers=HTML)
    assert r.status_code == 404
    assert time.monotonic() - started < 20


@pytest.fixture(scope="module")
def mini_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_data(tmp_path_factory.mktemp("mini-data"), MINI)
    root = tmp_path_factory.mktemp("mini-store")
    write_build(root, compile_data(folder))
    build = current_build(root)
    assert build is not None
    return build


def test_each_build_writes_its_search_index(mini_store: Path) -> None:
    assert (mini_store / search_index.INDEX_NAME).is_file()
    assert damage(mini_store.parent.parent) is None  # listed with the store's files
    index = search._index_future(mini_store).result(30)
    assert search._index_future(mini_store).result(30) is index  # opened once per build
    assert index.path == mini_store / search_index.INDEX_NAME
    labels = {e.label for e in _all(index)}
    assert {"Iran", "Russia", "Drone X", "A test source"} <= labels
    # an unlabelled record goes by a title composed from its fields
    [transfer] = [e for e in _all(index) if e.kind == "transfer"]
    assert transfer.label == "Iran → Russia: Drone X (arms transfer)"


def _all(index: SearchIndex) -> list[Entry]:
    found = []
    for kind, _ in index.kinds(Deadline(30)):
        page = index.list_page(ListQuery(kind), 1000, Deadline(30))
        found += page.rows if page else []
    return found


def test_a_build_without_an_index_gets_one_computed(mini_store: Path, tmp_path: Path) -> None:
    old = tmp_path / "old-build"
    shutil.copytree(mini_store, old)
    (old / search_index.INDEX_NAME).unlink()  # as builds made before indexes were
    listed = json.loads((old / FILES_NAME).read_text())
    del listed["files"][search_index.INDEX_NAME]
    (old / FILES_NAME).write_text(json.dumps(listed))
    index = search._open_build_index(old)
    assert not (old / search_index.INDEX_NAME).exists()  # the build folder is not written
    hits, _ = index.search("drone", 5, Deadline(30))
    assert [h.label for h in hits][:1] == ["Drone X"]


def test_a_search_looks_at_the_clock(mini_store: Path) -> None:
    index = SearchIndex(mini_store / search_index.INDEX_NAME)
    deadline = Deadline(0)
    time.sleep(0.01)
    with pytest.raises(PageTimeout):
        index.search("ir", 5, deadline)


def _contents(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """What an index holds, without its row numbers."""
    db = sqlite3.connect(path)
    try:
        by_n = {n: iri for n, iri in db.execute("SELECT n, iri FROM entity")}
        return {
            "entity": sorted(db.execute("SELECT iri, kind, id, label, sort_key, year FROM entity")),
            "term": sorted((t, by_n[n], p, r) for t, n, p, r in db.execute("SELECT * FROM term")),
            "names": sorted((t, by_n[n]) for t, n in db.execute("SELECT name, entity FROM names")),
            "facet": sorted((k, f, v, by_n[n]) for k, f, v, n in db.execute("SELECT * FROM facet")),
            "facet_label": sorted(db.execute("SELECT * FROM facet_label")),
            "kinds": sorted(db.execute("SELECT * FROM kinds")),
            "gram": sorted(db.execute("SELECT * FROM gram")),
        }
    finally:
        db.close()


def _built_and_rebuilt(
    tmp_path: Path, files: dict[str, str], edits: dict[str, str]
) -> tuple[Path, Path, list[str]]:
    """A full build of ``files``, then an incremental one after ``edits`` (file -> its new
    text): both builds, and the graphs the second replaced or removed."""
    folder = write_data(tmp_path / "data", files)
    root = tmp_path / "store"
    write_build(root, compile_data(folder))
    first = current_build(root)
    assert first is not None
    for name, text in edits.items():
        (folder / name).write_text(text, encoding="utf-8")
    compiled = compile_data(folder, load_manifest(first))
    assert not compiled.full
    write_build(root, compiled)
    second = current_build(root)
    assert second is not None
    return first, second, [str(g) for g in (*compiled.removed, *compiled.graphs)]


def _edited_builds(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """A full build of the mini data, then an incremental one after an edit: both builds,
    and the graphs the second replaced or removed."""
    # a state renamed (in other records' titles and facets too), a weapon added, a transfer
    # moved to it; the sources file unchanged
    renamed = MINI_STATES.replace("label: Russia", "label: {en: Russian Federation, ru: Россия}")
    edits = {"states.yaml": renamed, "transfers.yaml": MINI_TRANSFERS}
    return _built_and_rebuilt(tmp_path, MINI, edits)


def _updated(first: Path, second: Path, changed: list[str], folder: Path) -> Path:
    """The index of ``first`` updated in ``folder`` for ``second``'s ``changed`` graphs."""
    folder.mkdir()
    shutil.copy(first / search_index.INDEX_NAME, folder)
    shutil.copy(first / "geokb-manifest.json", folder)
    search_index.write(open_build(second), folder, changed)
    return folder / search_index.INDEX_NAME


def test_an_incremental_build_updates_the_index_as_a_full_one_writes_it(tmp_path: Path) -> None:
    first, second, changed = _edited_builds(tmp_path)
    updated = _updated(first, second, changed, tmp_path / "updated")
    numbers = "SELECT iri, n FROM entity"
    kept = dict(sqlite3.connect(updated).execute(numbers).fetchall())
    before = dict(sqlite3.connect(first / search_index.INDEX_NAME).execute(numbers).fetchall())
    source = schema.ID_BASE + "source/test-source"
    assert kept[source] == before[source]  # updated in place: the unchanged source kept its row
    assert kept == {iri: n for iri, n in kept.items() if iri not in before} | {
        iri: before[iri] for iri in kept if iri in before
    }  # every entity still there kept its number
    whole = tmp_path / "whole"
    whole.mkdir()
    search_index.write(open_build(second), whole)
    assert _contents(updated) == _contents(whole / search_index.INDEX_NAME)
    # the build itself updated the index it copied, the same way
    assert _contents(second / search_index.INDEX_NAME) == _contents(whole / search_index.INDEX_NAME)
    labels = [row[3] for row in _contents(updated)["entity"]]
    assert "Iran → Russian Federation: Drone Y (arms transfer)" in labels


def test_an_update_reaching_most_records_rewrites_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # at scale, a change to the states reaches nearly every record: rewriting is cheaper
    monkeypatch.setattr(search_index, "_REWRITE_MIN", 0)
    first, second, changed = _edited_builds(tmp_path)
    updated = _updated(first, second, changed, tmp_path / "updated")
    whole = tmp_path / "whole"
    whole.mkdir()
    search_index.write(open_build(second), whole)
    rows = "SELECT * FROM entity ORDER BY n"
    assert sqlite3.connect(updated).execute(rows).fetchall() == (
        sqlite3.connect(whole / search_index.INDEX_NAME).execute(rows).fetchall()
    )  # numbered anew, as a whole write numbers them
    assert _contents(updated) == _contents(whole / search_index.INDEX_NAME)


def test_a_full_build_reads_its_index_from_the_graphs_it_loaded_as_from_the_store(
    tmp_path: Path,
) -> None:
    # a label with N-Triples escapes (quotes, a backslash) and one in another script
    data = dict(MINI)
    data["states.yaml"] = MINI_STATES.replace(
        "label: Russia", 'label: {en: "Russian \\"Federation\\" \\\\ RF", ru: Россия}'
    )
    root = tmp_path / "store"
    write_build(root, compile_data(write_data(tmp_path / "data", data)))
    build = current_build(root)
    assert build is not None
    whole = tmp_path / "whole"
    whole.mkdir()
    search_index.write(open_build(build), whole)  # read from the store
    held = _contents(build / search_index.INDEX_NAME)
    assert held == _contents(whole / search_index.INDEX_NAME)
    assert 'Russian "Federation" \\ RF' in [row[3] for row in held["entity"]]


PLACE = textwrap.dedent(
    """\
    territories:
      - id: isle
        label: Isle
        type: island
    """
)
CHAIN = textwrap.dedent(
    """\
    disputes:
      - id: isle-dispute
        territories: [isle]
        claimants: [IRN, RUS]
        sources: [test-source]
    sovereignty_claims:
      - id: irn-claims-isle
        dispute: isle-dispute
        claimant: IRN
        sources: [test-source]
      - id: rus-claims-isle
        dispute: isle-dispute
        claimant: RUS
        sources: [test-source]
    assertions:
      - id: rus-denies-the-claim
        about: claim/irn-claims-isle
        stance: denied
        statement: Russia says the claim has no basis.
        asserted_by: RUS
        sources: [test-source]
    """
)


def test_an_incremental_build_renames_a_territory_three_steps_away(tmp_path: Path) -> None:
    # an assertion about a claim that names no territory is titled by the claim's dispute's
    # territories: a territory renamed (in its own file) reaches that title in three steps
    files = {**MINI, "place.yaml": PLACE, "chain.yaml": CHAIN}
    renamed = {"place.yaml": PLACE.replace("label: Isle", "label: New Isle")}
    _, second, _ = _built_and_rebuilt(tmp_path, files, renamed)
    whole = tmp_path / "whole"
    whole.mkdir()
    search_index.write(open_build(second), whole)
    titles = {row[0]: str(row[3]) for row in _contents(second / search_index.INDEX_NAME)["entity"]}
    assert titles[schema.ID_BASE + "assertion/rus-denies-the-claim"].endswith(
        "Iran claims New Isle"
    )
    assert _contents(second / search_index.INDEX_NAME) == _contents(whole / search_index.INDEX_NAME)
