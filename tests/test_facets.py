"""Browsing a kind like Datasette, over real HTTP on the real data: facets with counts and
labels, filters that combine and can be removed, sort, the keyset cursor, and CSV/JSON of
exactly the rows shown; and CSV cells a spreadsheet would run as formulas, escaped."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import MINI, LiveServer, write_data

from api import search
from kb.build.pipeline import compile_data
from kb.stores.local import write_build

HTML = {"Accept": "text/html"}


def _json(http: httpx.Client, path: str, **params: str) -> dict:  # type: ignore[type-arg]
    r = http.get(path, params={**params, "format": "json"})
    assert r.status_code == 200, r.text
    body: dict = r.json()  # type: ignore[type-arg]
    return body


def _facet(body: dict, name: str) -> dict[str, tuple[str, int]]:  # type: ignore[type-arg]
    """A facet of a list's JSON: value -> (label, count)."""
    [found] = [f for f in body["facets"] if f["facet"] == name]
    return {v["value"]: (v["label"], v["count"]) for v in found["values"]}


def test_transfers_have_the_facets_a_reader_expects_with_labels_and_counts(
    http: httpx.Client,
) -> None:
    body = _json(http, "/id/transfer/")
    names = [f["facet"] for f in body["facets"]]
    for wanted in ("supplier", "recipient", "category", "year", "transfer_status", "confidence"):
        assert wanted in names
    suppliers = _facet(body, "supplier")
    assert suppliers["state/USA"][0] == "United States"  # a label, not an id
    assert _facet(body, "transfer_status")["TransferDelivered"][0] == "delivered"
    disputes = _json(http, "/id/dispute/")
    assert {"claimant", "administrator"} <= {f["facet"] for f in disputes["facets"]}
    assert _facet(disputes, "claimant")["state/CHN"][0] == "China"


def test_filters_narrow_the_rows_and_the_counts_and_combine(http: httpx.Client) -> None:
    everything = _json(http, "/id/transfer/")
    usa = _facet(everything, "supplier")["state/USA"][1]
    only = _json(http, "/id/transfer/", supplier="state/USA")
    assert only["total"] == len(only["rows"]) == usa < everything["total"]
    assert all(row["supplier"] == ["United States"] for row in only["rows"])
    # the other facets count the filtered rows only
    assert sum(c for _, c in _facet(only, "recipient").values()) >= usa
    assert set(_facet(only, "supplier")) == {"state/USA"}
    recipient, (label, n) = next(iter(_facet(only, "recipient").items()))
    both = http.get(
        "/id/transfer/",
        params=[("supplier", "state/USA"), ("recipient", recipient), ("format", "json")],
    ).json()
    assert both["total"] == n and all(row["recipient"] == [label] for row in both["rows"])
    assert http.get("/id/transfer/", params={"colour": "red"}).status_code == 400


def test_the_page_links_each_value_and_a_way_to_remove_a_filter(http: httpx.Client) -> None:
    page = http.get("/id/transfer/", params={"supplier": "state/FRA"}, headers=HTML).text
    assert "supplier: <strong>France</strong>" in page
    removal = re.search(r'<a class="remove" href="([^"]*)"', page)
    assert removal is not None and html.unescape(removal.group(1)) == "/id/transfer/"
    added = re.findall(r'<a href="(/id/transfer/\?supplier=state%2FFRA&amp;recipient=[^"]+)"', page)
    assert added, "each recipient links to the list with both filters"
    narrower = http.get(html.unescape(added[0]), headers=HTML).text
    assert narrower.count('<a class="remove"') == 2


def _facet_links(page: str, facet: str) -> list[str]:
    """The links of one facet's values on a list page, unescaped."""
    found = re.search(rf'<section class="facet" data-facet="{facet}">(.*?)</section>', page, re.S)
    assert found is not None, f"no facet {facet!r} on the page"
    return [html.unescape(h) for h in re.findall(r'<li[^>]*><a href="([^"]+)"', found.group(1))]


def test_a_facet_shows_all_its_values_when_asked(http: httpx.Client) -> None:
    page = http.get("/id/transfer/", headers=HTML).text
    distinct = _json(http, "/id/transfer/", all_values="recipient")
    everyone = _facet(distinct, "recipient")
    assert len(everyone) > len(_facet(_json(http, "/id/transfer/"), "recipient")), (
        "the real data has more recipients than a facet shows at first"
    )
    assert len(_facet_links(page, "recipient")) < len(everyone)
    more = re.search(r'<a href="([^"]*all_values=recipient[^"]*)"[^>]*>show all (\d+)</a>', page)
    assert more is not None and int(more.group(2)) == len(everyone)
    full = http.get(html.unescape(more.group(1)), headers=HTML).text
    assert len(_facet_links(full, "recipient")) == len(everyone)
    assert "show all" in full  # the other facets are still cut, each with its own link
    assert http.get("/id/transfer/", params={"all_values": "colour"}).status_code == 400


def test_no_link_offers_a_filter_past_the_limit(http: httpx.Client) -> None:
    """Following value links adds filters; once the list's limit is in force, the other
    values are shown without links (the list would refuse them), and every link works."""
    href, added = "/id/dispute/", 0
    while True:
        page = http.get(href, headers=HTML).text
        facets = "".join(re.findall(r'<section class="facet".*?</section>', page, re.S))
        offered = [html.unescape(h) for h in re.findall(r'<li><a href="([^"]+)"', facets)]
        if not offered or added > search.MAX_FILTERS:
            break
        href, added = offered[0], added + 1
    assert added == search.MAX_FILTERS, "the real data has a dispute with enough facet values"
    assert 'class="full"' in page, "the values past the limit are shown, not linked"
    for link in re.findall(r'<a href="(/id/dispute/\?[^"]+)"', page):
        assert http.get(html.unescape(link), headers=HTML).status_code == 200, link


def test_sort_by_a_column_either_way(http: httpx.Client) -> None:
    up = [r["label"] for r in _json(http, "/id/dispute/")["rows"]]
    down = [r["label"] for r in _json(http, "/id/dispute/", sort_desc="label")["rows"]]
    assert down == list(reversed(up))
    years = [r["year"] for r in _json(http, "/id/transfer/", sort="year")["rows"]]
    dated = [int(y[0]) for y in years if y]
    assert dated == sorted(dated) and years[-1] == []  # undated rows last
    late = [r["year"] for r in _json(http, "/id/transfer/", sort_desc="year")["rows"]]
    assert [int(y[0]) for y in late if y] == sorted(dated, reverse=True)
    assert http.get("/id/state/", params={"sort": "year"}).status_code == 400
    assert http.get("/id/state/", params={"sort": "id", "sort_desc": "id"}).status_code == 400


def test_the_cursor_continues_in_the_lists_order(http: httpx.Client) -> None:
    first = _json(http, "/id/state/", sort_desc="id")
    assert first["next"] is not None and "after=" in first["next"]
    ids = [r["id"] for r in first["rows"]]
    assert ids == sorted(ids, reverse=True)
    rest = http.get(first["next"]).json()
    more = [r["id"] for r in rest["rows"]]
    assert more and max(more) < min(ids) and more == sorted(more, reverse=True)


def test_csv_and_json_hold_exactly_the_rows_shown(http: httpx.Client) -> None:
    params = {"recipient": "state/UKR", "sort_desc": "label"}
    page = http.get("/id/transfer/", params=params, headers=HTML).text
    shown = re.findall(r'<tr><td><a href="/id/transfer/([^"]+)">', page)
    assert shown
    csv_href = re.search(r'<link rel="alternate" type="text/csv" href="([^"]+)"', page)
    assert csv_href is not None
    table = list(csv.DictReader(io.StringIO(http.get(html.unescape(csv_href.group(1))).text)))
    assert [row["id"] for row in table] == shown
    assert all(row["recipient"] == "Ukraine" for row in table)
    assert [r["id"] for r in _json(http, "/id/transfer/", **params)["rows"]] == shown


FORMULAS = {
    **MINI,
    "transfers.yaml": """\
        weapon_systems:
          - id: drone-x
            label: "=HYPERLINK(\\"http://example.invalid\\",\\"click\\")"
            category: "-2+3"
          - id: drone-y
            label: "@SUM(1)"
            category: UAV
        arms_transfers:
          - id: t1
            supplier: IRN
            recipient: RUS
            weapon_systems: [drone-x]
            quantity_ordered: 12
            delivery_start_date: 2022-10
            sources: [test-source]
        """,
}


@pytest.fixture(scope="module")
def formulas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    folder = write_data(tmp_path_factory.mktemp("formula-data"), FORMULAS)
    root: Path = tmp_path_factory.mktemp("formula-store")
    write_build(root, compile_data(folder))
    with LiveServer(root) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def test_csv_cells_that_start_a_formula_are_escaped(formulas: httpx.Client) -> None:
    rows = list(csv.DictReader(io.StringIO(formulas.get("/id/weapon/?format=csv").text)))
    by_id = {row["id"]: row for row in rows}
    assert by_id["drone-x"]["label"] == '\'=HYPERLINK("http://example.invalid","click")'
    assert by_id["drone-x"]["category"] == "'-2+3"
    assert by_id["drone-y"]["label"] == "'@SUM(1)"
    register = list(csv.DictReader(io.StringIO(formulas.get("/transfers.csv").text)))
    assert register[0]["Designation"].startswith("'=HYPERLINK")
    assert register[0]["Number ordered"] == "12"  # numbers are left as they are
    # the JSON and the page keep the values as they are
    body = formulas.get("/id/weapon/", params={"format": "json"}).json()
    assert {r["label"] for r in body["rows"]} == {
        '=HYPERLINK("http://example.invalid","click")',
        "@SUM(1)",
    }
