"""Pages for people: the query page and entity pages."""

import json
import re
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pyoxigraph as ox
from conftest import MINI, LiveServer, write_data
from rdflib import Graph, URIRef
from rdflib.compare import isomorphic

from api.pages import render
from kb.build.pipeline import compile_data
from kb.model.schema import GK, GRAPH_BASE, ID_BASE
from kb.sparql.examples import examples
from kb.stores.local import FILES_NAME, current_build, write_build


def test_query_page_is_yasgui_served_locally_with_examples(http: httpx.Client) -> None:
    page = http.get("/")
    assert page.status_code == 200
    assert 'src="static/yasgui/yasgui.min.js"' in page.text
    assert "cdn" not in page.text.lower()
    assert http.get("/static/yasgui/yasgui.min.js").status_code == 200
    assert http.get("/static/query.js").status_code == 200
    for asset in ("static/query-plugins.js", "static/query.css"):  # result views, layout fix
        assert asset in page.text and http.get("/" + asset).status_code == 200
    assert len(examples()) >= 8
    for ex in examples():
        assert ex.name in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    # a heading for screen readers and outlines, as every other page has
    assert re.search(r'<h1 class="visually-hidden">[^<]*SPARQL[^<]*</h1>', page.text)
    # the VoID link asks for Turtle, which a browser shows: with a browser's Accept the
    # description comes as RDF/XML, which Chromium downloads instead of opening
    void = re.search(r'<a href="(\.well-known/void[^"]*)">VoID</a>', page.text)
    assert void is not None
    shown = http.get("/" + void.group(1), headers={"Accept": "text/html,*/*;q=0.8"})
    assert shown.headers["content-type"].startswith("text/turtle")


def test_openapi_docs_work_offline(http: httpx.Client) -> None:
    docs = http.get("/docs")
    assert docs.status_code == 200
    assert "/static/swagger/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    assert http.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    spec = http.get("/openapi.json").json()
    assert "/sparql" in spec["paths"]


def test_entity_page_html_shows_label_facts_sources_and_incoming(http: httpx.Client) -> None:
    page = http.get("/id/transfer/irn-rus-shahed-131-136", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    text = page.text
    assert "<h1>Shahed-131/136 drones from Iran to Russia</h1>" in text
    assert 'href="/id/state/IRN"' in text and ">Iran</a>" in text
    assert "Can Iran&#x27;s Shahed drones in Ukraine help ease tension with Russia?" in text
    state = http.get("/id/state/RUS", headers={"Accept": "text/html"}).text
    assert 'href="/id/transfer/irn-rus-shahed-131-136"' in state  # incoming link


def test_entity_page_rdf_by_content_negotiation(http: httpx.Client) -> None:
    iri = URIRef("https://w3id.org/geokb/id/state/IRN")
    ttl = http.get("/id/state/IRN", headers={"Accept": "text/turtle"})
    assert ttl.headers["content-type"].startswith("text/turtle")
    g = Graph().parse(data=ttl.text, format="turtle")
    assert (iri, None, None) in g
    jsonld = http.get("/id/state/IRN", headers={"Accept": "application/ld+json"})
    assert jsonld.headers["content-type"].startswith("application/ld+json")
    assert len(Graph().parse(data=jsonld.text, format="json-ld")) == len(g)
    assert (
        http.get("/id/state/IRN?format=jsonld")
        .headers["content-type"]
        .startswith("application/ld+json")
    )
    # an empty format= is no format, as on the lists: the page (it was 406)
    blank = http.get("/id/state/IRN?format=", headers={"Accept": "text/html"})
    assert blank.status_code == 200 and blank.headers["content-type"].startswith("text/html")


def test_unknown_entity_is_404(http: httpx.Client) -> None:
    assert http.get("/id/state/XXX", headers={"Accept": "text/html"}).status_code == 404
    assert http.get("/id/state/XXX", headers={"Accept": "text/turtle"}).status_code == 404


def test_a_404_does_not_copy_a_long_path_whole(http: httpx.Client) -> None:
    long = "x" * 50_000
    for accept in ("text/html", "text/plain"):
        answer = http.get(f"/id/state/{long}", headers={"Accept": accept})
        assert answer.status_code == 404
        assert len(answer.content) < 20_000, len(answer.content)  # not 8 copies of 50 KB


def test_a_kinds_name_without_the_final_slash_leads_to_its_list(http: httpx.Client) -> None:
    # typed as the README names the lists, less the slash: the list, not 'nothing is known'
    moved = http.get("/id/transfer", params={"supplier": "state/IRN"})
    assert moved.status_code == 307
    assert moved.headers["location"] == "/id/transfer/?supplier=state%2FIRN"
    listed = http.get("/id/transfer", headers={"Accept": "text/html"}, follow_redirects=True)
    assert listed.status_code == 200 and "<h1>Arms transfers</h1>" in listed.text
    assert http.get("/id/transfers").status_code == 404  # no such kind


def test_markup_in_data_is_shown_as_text(tmp_path: Path) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>\u202e\u200b\U0001f4a3 "&amp;'
    files = {**MINI, "states.yaml": MINI["states.yaml"].replace("label: Iran", f"label: '{evil}'")}
    store = tmp_path / "store"
    write_build(store, compile_data(write_data(tmp_path / "data", files)))
    with LiveServer(store) as live, httpx.Client(base_url=live.url) as client:
        for path in ("/id/state/IRN", "/id/transfer/t1"):
            page = client.get(path, headers={"Accept": "text/html"}).text
            assert "<script>alert" not in page
            assert "<img src=x" not in page
            assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
            assert "\u202e\u200b\U0001f4a3 &quot;&amp;amp;" in page  # odd Unicode kept, as text
        for path in ("/", "/id/state/IRN", "/sparql"):
            headers = client.get(path).headers
            assert "default-src 'self'" in headers["content-security-policy"]
            assert "script-src 'self'" in headers["content-security-policy"]
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["x-frame-options"] == "DENY"


def test_transfers_register_csv(http: httpx.Client) -> None:
    resp = http.get("/transfers.csv", params={"supplier": "IRN", "recipient": "RUS"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    lines = resp.text.strip().splitlines()
    assert lines[0].startswith("Supplier,Recipient,Designation,Weapon category")
    assert len(lines) == 3  # Shahed-131 and Shahed-136
    assert http.get("/transfers.csv", params={"supplier": "<x>"}).status_code == 400


def test_state_page_has_timeline_network_and_register(http: httpx.Client) -> None:
    page = http.get("/id/state/RUS", headers={"Accept": "text/html"}).text
    assert '<ol class="timeline">' in page
    assert '<time datetime="2014-03">2014-03</time>' in page  # Crimea, at month precision
    assert page.index('datetime="1945"') < page.index('datetime="2022"')  # oldest first
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="network"' in page
    assert ">Iran (1)</text>" in page  # a supplier, on the left
    assert ">India (3)</text>" in page  # a recipient, on the right
    assert '<table class="register">' in page
    assert 'href="/transfers.csv?supplier=RUS"' in page
    assert 'href="/transfers.csv?recipient=RUS"' in page


def test_fact_page_timeline_shows_its_own_dates(http: httpx.Client) -> None:
    page = http.get(
        "/id/administration/falklands-under-argentina-1982", headers={"Accept": "text/html"}
    ).text
    assert '<time datetime="1982-04-02">' in page and '<time datetime="1982-06-14">' in page


def test_ontology_documentation(http: httpx.Client) -> None:
    page = http.get("/ontology")
    assert page.status_code == 200
    text = page.text
    assert "<h1>geokb ontology</h1>" in text
    assert "<code>gk:ArmsTransfer</code>" in text and "<code>gk:supplier</code>" in text
    assert "<code>gk:CAMEO_062</code>: Cooperate militarily" in text
    published = (Path(__file__).resolve().parent.parent / "docs" / "ontology.html").read_text()
    assert published == text


def test_ontology_terms_link_to_the_local_ontology_page(http: httpx.Client) -> None:
    page = http.get("/id/state/IRN", headers={"Accept": "text/html"}).text
    assert 'href="/ontology#State"' in page
    assert 'href="/ontology#UNMemberState"' in page
    ontology = http.get("/ontology").text
    assert "id='State'" in ontology and "id='UNMemberState'" in ontology


HOSTILE = '</textarea><script>alert("x")</script>{{ 6*7 }}{% if 1 %}jinja{% endif %}\'"&'


class _Markup(HTMLParser):
    """The tags a page opens and its text, as a browser's parser reads them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        src = dict(attrs).get("src") or ""
        if tag == "script" and src.startswith("/static/") and len(attrs) <= 2:
            tag = "own-script"  # the site's own script file (base.html), not one from data
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self.tags and self.tags[-1] == "own-script":
            tag = "own-script"
        self.tags.append("/" + tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parsed(page: str) -> _Markup:
    parser = _Markup()
    parser.feed(page)
    parser.close()
    return parser


def _section(page: str, start: str, end: str) -> str:
    begin = page.index(start)
    return page[begin : page.index(end, begin) + len(end)]


def test_hostile_data_is_text_on_every_page_kind(tmp_path: Path) -> None:
    """Labels with markup, quotes and template syntax, on entity, timeline, network, register."""

    def hostile(name: str) -> str:
        return json.dumps(f"{name} {HOSTILE}")  # a YAML double-quoted scalar

    files = {
        "sources.yaml": f"""\
            sources:
              - id: s1
                title: {hostile("Source")}
                publisher: {hostile("Publisher")}
            """,
        "states.yaml": f"""\
            states:
              - id: IRN
                label: {hostile("Iran")}
                alpha2: IR
              - id: RUS
                label: {hostile("Russia")}
                alpha2: RU
            """,
        "transfers.yaml": f"""\
            weapon_systems:
              - id: drone-x
                label: {hostile("Drone")}
                category: {hostile("UAV")}
            arms_transfers:
              - id: t1
                label: {hostile("Transfer")}
                supplier: IRN
                recipient: RUS
                weapon_systems: [drone-x]
                delivery_start_date: 2022-10
                sources: [s1]
              - id: t2
                supplier: IRN
                recipient: RUS
                weapon_systems: [drone-x]
                order_date: "2021"
                sources: [s1]
            """,
    }
    store = tmp_path / "store"
    write_build(store, compile_data(write_data(tmp_path / "data", files)))
    escaped = escape(HOSTILE)
    with LiveServer(store) as live, httpx.Client(base_url=live.url) as client:

        def page(path: str) -> str:
            resp = client.get(path, headers={"Accept": "text/html"})
            assert resp.status_code == 200, path
            text = resp.text
            parsed = _parsed(text)
            assert "script" not in parsed.tags and "textarea" not in parsed.tags, path
            assert "/script" not in parsed.tags and "/textarea" not in parsed.tags, path
            assert "42" not in "".join(parsed.text) and "{{ 6*7 }}" in text, path
            return text

        state = page("/id/state/IRN")
        # the entity: its title and heading
        assert f"<h1>Iran {escaped}</h1>" in state
        assert f"<title>Iran {escaped} — geokb</title>" in state
        # the timeline: a fact's own label, and one made of its parties' labels
        timeline = _section(state, '<ol class="timeline">', "</ol>")
        assert f">Transfer {escaped}</a>" in timeline
        assert (
            f">Iran {escaped} → Russia {escaped}: Drone {escaped} (arms transfer)</a>" in timeline
        )
        assert HOSTILE in "".join(_parsed(timeline).text)
        # the network picture: partners and the state in the middle, as SVG text
        svg = _section(state, '<svg xmlns="http://www.w3.org/2000/svg" class="network"', "</svg>")
        assert f">Russia {escaped} (2)</text>" in svg
        assert f'class="center">Iran {escaped}</text>' in svg
        assert f"<title>Arms transfers to and from Iran {escaped}</title>" in svg
        # the register: every column that shows data
        register = _section(state, '<table class="register">', "</table>")
        for cell in (f"Iran {escaped}", f"Russia {escaped}", f"Drone {escaped}", f"UAV {escaped}"):
            assert cell in register
        assert register.count("<tr>") == 3  # the header and two transfers, no injected rows

        transfer = page("/id/transfer/t1")
        assert f"<h1>Transfer {escaped}</h1>" in transfer
        assert f">Source {escaped}</a></li>" in transfer  # its source
        facts = _section(transfer, '<table class="facts">', "</table>")
        assert f">Drone {escaped}</a>" in facts
        own = page("/id/transfer/t2")  # its heading and own timeline, titled by its parties
        assert f"<h1>Iran {escaped} → Russia {escaped}: Drone {escaped} (arms transfer)</h1>" in own
        assert f">Iran {escaped} → Russia {escaped}: Drone {escaped} (arms transfer)</a>" in own
        assert '<time datetime="2021">2021</time>' in own
        weapon = page("/id/weapon/drone-x")
        assert f"<h1>Drone {escaped}</h1>" in weapon
        assert f"<td>UAV {escaped}</td>" in weapon


def test_query_page_examples_cannot_close_their_script_element() -> None:
    data = [{"name": "x", "title": HOSTILE, "query": f"SELECT * WHERE {{ ?s ?p '{HOSTILE}' }}"}]
    page = render("query.html", examples=data)
    opening = '<script type="application/json" id="example-data">'
    start = page.index(opening) + len(opening)
    blob = page[start : page.index("</script>", start)]
    assert "<" not in blob and ">" not in blob and "&" not in blob and "'" not in blob
    assert json.loads(blob) == data


def test_statements_show_their_own_citations(tmp_path: Path) -> None:
    # Each citation appears under the statement it backs (Wikidata's references), with its
    # source linked, its locator, what it says, and when it was read.
    transfers = MINI["transfers.yaml"].replace(
        "            sources: [test-source]\n",
        "            citations:\n"
        "              - source: test-source\n"
        "                locator: para. 4\n"
        "                says: The first drones arrived in October 2022.\n"
        "                supports: [delivery_start_date]\n"
        "                accessed: 2026-11-25\n"
        "                archived_url: https://web.archive.org/web/2026/https://example.org/a\n"
        "              - source: test-source\n"
        "                locator: p. 2\n"
        "                says: Iran supplied the drones to Russia.\n"
        "                accessed: 2026-11-20\n",
    )
    files = {**MINI, "transfers.yaml": transfers}
    store = tmp_path / "store"
    write_build(store, compile_data(write_data(tmp_path / "data", files)))
    with LiveServer(store) as live, httpx.Client(base_url=live.url) as client:
        page = client.get("/id/transfer/t1", headers={"Accept": "text/html"}).text
    rows = {
        th: td for th, td in re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", page, re.DOTALL)
    }
    date_row = next(td for th, td in rows.items() if "delivery start" in th.lower())
    assert "para. 4" in date_row and "first drones arrived in October 2022" in date_row
    assert 'href="/id/source/test-source"' in date_row and "(read 2026-11-25)" in date_row
    assert 'href="https://web.archive.org/web/2026/https://example.org/a">archived copy' in date_row
    whole = page.split("References for the fact as a whole:", 1)[1].split("</ul>", 1)[0]
    assert "p. 2" in whole and "Iran supplied the drones to Russia." in whole
    assert "para. 4" not in whole


def _html(http: httpx.Client, path: str) -> str:
    page = http.get(path, headers={"Accept": "text/html"})
    assert page.status_code == 200, path
    return page.text


def _headings(page: str) -> list[str]:
    return re.findall(r"<h2>([^<]+)</h2>", page)


def test_records_without_a_label_get_a_title_composed_from_the_model(http: httpx.Client) -> None:
    # the page's heading; the IRI stays visible as its identifier
    admin = _html(http, "/id/administration/gulf-islands-under-iran")
    assert "<h1>Iran administers Abu Musa since 1992</h1>" in admin
    assert "<code>https://w3id.org/geokb/id/administration/gulf-islands-under-iran</code>" in admin
    assert "<title>Iran administers Abu Musa since 1992 — geokb</title>" in admin
    ended = _html(http, "/id/administration/abu-musa-iranian-zone-under-iran")
    assert "<h1>Iran administered Abu Musa from 1971-11-30 to 1992</h1>" in ended
    transfer = _html(http, "/id/transfer/rus-irn-s-300pmu2")
    assert "<h1>Russian Federation → Iran: S-300PMU2 (arms transfer)</h1>" in transfer
    claim = _html(http, "/id/claim/russia-claims-crimea")
    assert "<h1>Russian Federation claims Crimea</h1>" in claim
    # 'Referenced by' and the timeline name records by their titles, not their ids or IRIs
    territory = _html(http, "/id/territory/abu-musa")
    incoming = _section(territory, '<ul class="incoming">', "</ul>")
    assert ">Iran administers Abu Musa since 1992</a>" in incoming
    assert 'title="https://w3id.org/geokb/id/administration/gulf-islands-under-iran"' in incoming
    assert ">https://w3id.org/" not in incoming
    timeline = _section(territory, '<ol class="timeline">', "</ol>")
    assert ">Iran administers Abu Musa since 1992</a>" in timeline
    assert ">gulf-islands-under-iran</a>" not in territory
    # a citation is named after its fact
    source = _html(http, "/id/source/taylor-francis-abu-musa-1992")
    assert ">citation 3 of Iran administers Abu Musa since 1992</a>" in source


def test_properties_come_in_the_models_field_order(http: httpx.Client) -> None:
    from kb.model import schema

    page = _html(http, "/id/transfer/irn-rus-shahed-131-136")
    facts = _section(page, '<table class="facts">', "</table>")
    shown = re.findall(r'<tr><th><a href="[^"]*" title="([^"]+)">', facts)
    kind = schema.KINDS_BY_NAME["transfer"]
    order = [str(f.prop.iri) for f in kind.fields]
    assert shown[0] == str(schema.LABEL.iri) and shown[-1] == str(schema.COMMENT.iri)
    assert shown == sorted(shown, key=order.index)  # label first, the note last
    assert shown.index(str(schema.SUPPLIER.iri)) < shown.index(str(schema.RECIPIENT.iri))
    # labels of properties from the model
    assert ">weapon system</a></th>" in facts and ">comment</a></th>" in facts


def test_empty_sections_are_hidden(http: httpx.Client) -> None:
    source = _html(http, "/id/source/taylor-francis-abu-musa-1992")
    assert "None cited." not in source and "<h2>Sources</h2>" not in source
    assert _headings(source) == ["Facts", "Timeline", "Referenced by"]
    nobody = _html(http, "/id/administration/gulf-islands-under-iran")
    assert "Nothing refers to this." not in nobody and "<h2>Referenced by</h2>" not in nobody
    assert _headings(nobody) == ["Facts", "Sources", "Timeline"]


def _rows(table: str) -> list[str]:
    return re.findall(r"<tr>(.*?)</tr>", table, re.DOTALL)[1:]


def test_a_dispute_page_shows_the_claimants_positions_and_who_administered_when(
    http: httpx.Client,
) -> None:
    page = _html(http, "/id/dispute/abu-musa-and-tunbs")
    headings = _headings(page)
    assert headings.index("Sources") < headings.index("Claims") < headings.index("Administration")
    assert headings.index("Administration") < headings.index("Timeline")
    claims = _rows(_section(page, '<table class="claims">', "</table>"))
    iran = next(r for r in claims if r.startswith('<td><a href="/id/state/IRN"'))
    uae = next(r for r in claims if r.startswith('<td><a href="/id/state/ARE"'))
    assert "The islands are Iranian territory." in iran
    assert "occupied by" in uae and "<td>1971</td>" in uae  # its position, since 1971
    assert 'href="/id/source/ilna-2023-12-22-iran-says-will-not-hesitate"' in iran  # citations
    assert 'href="/id/claim/iran-claims-gulf-islands"' in iran  # the claim's own page
    admin = _rows(_section(page, '<table class="administration">', "</table>"))
    abu_musa = [r for r in admin if ">Abu Musa</a></td>" in r]
    cells = [re.findall(r"<td>(.*?)</td>", r) for r in abu_musa]
    periods = [(re.sub(r"<[^>]+>", "", c[1]), c[2], c[3]) for c in cells]
    assert periods == [
        ("Iran", "1971-11-30", "1992"),
        ("United Arab Emirates", "1971-12-02", "1992"),
        ("Iran", "1992", ""),
    ]
    assert any(">Greater Tunb</a>" in r and ">Iran</a>" in r for r in admin)
    # and a territory page, the disputes it is in
    territory = _html(http, "/id/territory/abu-musa")
    disputes = _section(territory, '<table class="disputes">', "</table>")
    assert 'href="/id/dispute/abu-musa-and-tunbs"' in disputes
    assert ">United Arab Emirates</a>" in disputes and "<td>1971</td>" in disputes
    assert '<table class="administration">' in territory


def test_the_register_has_a_sources_column_and_links_each_row_to_its_transfer(
    http: httpx.Client,
) -> None:
    page = _html(http, "/id/state/IRN")
    register = _section(page, '<table class="register">', "</table>")
    header = re.findall(r"<th>([^<]+)</th>", register)
    assert header[-2:] == ["Sources", "Record"]
    for row in _rows(register):
        cells = re.findall(r"<td>(.*?)</td>", row, re.DOTALL)
        assert 'href="/id/source/' in cells[-2], row  # the cited sources, linked
        assert cells[-1].startswith('<a href="/id/transfer/'), row
    imports = page[page.index("<h3>Imports") :]
    assert (
        '<a href="/id/transfer/rus-irn-s-300pmu2" title="https://w3id.org/geokb/id/transfer/'
        'rus-irn-s-300pmu2">Russian Federation → Iran: S-300PMU2 (arms transfer)</a></td></tr>'
    ) in imports


def test_undated_facts_form_a_group_of_their_own_on_the_timeline(tmp_path: Path) -> None:
    transfers = MINI["transfers.yaml"].rstrip(" ") + (
        "          - id: t2\n"
        "            supplier: IRN\n"
        "            recipient: RUS\n"
        "            weapon_systems: [drone-x]\n"
        "            sources: [test-source]\n"
    )
    store = tmp_path / "store"
    write_build(
        store, compile_data(write_data(tmp_path / "data", {**MINI, "transfers.yaml": transfers}))
    )
    with LiveServer(store) as live, httpx.Client(base_url=live.url) as client:
        page = client.get("/id/state/IRN", headers={"Accept": "text/html"}).text
        own = client.get("/id/transfer/t2", headers={"Accept": "text/html"}).text
    dated = _section(page, '<ol class="timeline">', "</ol>")
    assert 'href="/id/transfer/t1"' in dated and 'href="/id/transfer/t2"' not in dated
    undated = _section(page, '<h3 class="undated">undated</h3>', "</ul>")
    assert ">Iran → Russia: Drone X (arms transfer)</a>" in undated
    assert 'href="/id/transfer/t2"' in undated and 'href="/id/transfer/t1"' not in undated
    assert page.index('<ol class="timeline">') < page.index('<h3 class="undated">')
    # a page whose only fact is undated still has its timeline, just the group
    assert "<h2>Timeline</h2>" in own and '<ol class="timeline">' not in own
    assert '<h3 class="undated">undated</h3>' in own


def test_place_pages_carry_their_map_and_point_with_its_citation(http: httpx.Client) -> None:
    page = http.get("/id/territory/abu-musa", headers={"Accept": "text/html"}).text
    # the point as coordinates leading to the map, its own citation under it
    point = '<a href="#map" title="https://w3id.org/geokb/id/territory/abu-musa#geometry-1">'
    assert point + "25.867° N, 55.033° E</a>" in page and "/id/source/wikimili-abu-musa" in page
    found = re.search(r'<figure class="geokb-map" id="map" data-map="([^"]+)">', page)
    assert found, "the page has a map"
    drawn = json.loads(found.group(1).replace("&quot;", '"').replace("&#x27;", "'"))
    assert drawn["points"] == [
        {"lat": 25.867, "lon": 55.033, "label": "Abu Musa", "href": "/id/territory/abu-musa"}
    ]
    assert {(s["code"], s["role"]) for s in drawn["states"]} == {
        ("364", "claimant"),  # Iran, by its ISO numeric code as the atlas names it
        ("784", "claimant"),  # the United Arab Emirates
    }
    # drawn by the site's own script from files the server serves: no inline script
    assert '<script src="/static/map.js" defer></script>' in page
    assert not re.search(r"<script(?![^>]* src=)", page)
    atlas = http.get(drawn["atlas"])
    assert atlas.status_code == 200 and atlas.json()["type"] == "Topology"
    # a state's page outlines the state; a page with nothing to draw has no map
    state = http.get("/id/state/IRN", headers={"Accept": "text/html"}).text
    assert "&quot;role&quot;: &quot;subject&quot;" in state
    source = http.get("/id/source/wikimili-abu-musa", headers={"Accept": "text/html"}).text
    assert "geokb-map" not in source and "map.js" not in source


def _two_files_say(root: Path, graph: str, triples: list[ox.Triple], *, old_layout: bool) -> None:
    """Make the build under ``root`` hold ``triples`` in ``graph`` too, and if ``old_layout``,
    lay it out as builds were before they wrote the default graph (it is empty then)."""
    build = current_build(root)
    assert build is not None
    store = ox.Store(str(build))
    store.extend(ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(graph)) for t in triples)
    if old_layout:
        store.clear_graph(ox.DefaultGraph())
    store.flush()
    del store  # closes it
    (build / FILES_NAME).unlink()  # the files changed; a build without the list is trusted


def _get(client: httpx.Client, path: str, accept: str) -> str:
    answer = client.get(path, headers={"Accept": accept})
    assert answer.status_code == 200, (path, answer.text)
    return answer.text


def test_a_record_page_lists_a_value_once_whatever_the_store_layout(tmp_path: Path) -> None:
    """A fact two files state is read once: listed once on its record's page, counted once in
    the network, and every page, name and statistic is the same on a build laid out as before
    builds wrote the default graph (there pages read every graph, each file's copy)."""
    data = write_data(tmp_path / "data", MINI)
    t1 = f"{ID_BASE}transfer/t1"
    said = [
        ox.Triple(
            ox.NamedNode(t1),
            ox.NamedNode(f"{GK}weaponSystem"),
            ox.NamedNode(f"{ID_BASE}weapon/drone-x"),
        ),
        ox.Triple(
            ox.NamedNode(t1), ox.NamedNode(f"{GK}supplier"), ox.NamedNode(f"{ID_BASE}state/IRN")
        ),
    ]
    paths = ["/id/transfer/t1", "/id/state/IRN", "/id/state/RUS", "/id/weapon/drone-x"]
    answers: dict[str, list[str]] = {}
    voids: dict[str, Graph] = {}
    for layout in ("new", "old"):
        root = tmp_path / layout
        write_build(root, compile_data(data))
        _two_files_say(root, f"{GRAPH_BASE}data/states.yaml", said, old_layout=layout == "old")
        with LiveServer(root) as live, httpx.Client(base_url=live.url) as client:
            html = [_get(client, p, "text/html") for p in paths]
            turtle = [_get(client, p, "text/turtle") for p in paths]
            names = client.post("/names", data={"iri": [t1, f"{ID_BASE}state/IRN"]}).text
            void = _get(client, "/.well-known/void", "text/turtle")
            answers[layout] = [*html, *turtle, names]
            voids[layout] = Graph().parse(data=void.replace(live.url, ""), format="turtle")
        transfer, _, russia, _ = html
        assert transfer.count(f'title="{ID_BASE}weapon/drone-x">Drone X</a>') == 1
        assert ">Iran (1)</text>" in russia  # one transfer from Iran, not one per file
    assert answers["old"] == answers["new"]
    assert isomorphic(voids["old"], voids["new"])  # entities and classes counted once


def test_a_weapons_category_and_developer_show_their_citation(http: httpx.Client) -> None:
    # an entity's citation sits under the statements it backs, as a fact's does, with its
    # source linked, its locator and what it says
    page = _html(http, "/id/weapon/storm-shadow-scalp-eg")
    rows = dict(re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", page, re.DOTALL))
    for heading in ("category", "developed by"):
        row = next(td for th, td in rows.items() if heading in th.lower())
        assert 'href="/id/source/aerotime-france-uk-restart-storm-shadow-production"' in row
        assert "para. 5" in row and "Matra and British Aerospace" in row
    label = next(td for th, td in rows.items() if th.lower().endswith("label</a>"))
    assert "aerotime" not in label  # the citation backs only the fields it names
    # the source's page names the citation after its weapon
    source = _html(http, "/id/source/aerotime-france-uk-restart-storm-shadow-production")
    assert ">citation 1 of Storm Shadow / SCALP-EG</a>" in source
