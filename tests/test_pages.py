"""Pages for people: the query page and entity pages."""

import json
import re
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import httpx
from conftest import MINI, LiveServer, write_data
from rdflib import Graph, URIRef

from api.pages import render
from kb.build.pipeline import compile_data
from kb.sparql.examples import examples
from kb.stores.local import write_build


def test_query_page_is_yasgui_served_locally_with_examples(http: httpx.Client) -> None:
    page = http.get("/")
    assert page.status_code == 200
    assert 'src="static/yasgui/yasgui.min.js"' in page.text
    assert "cdn" not in page.text.lower()
    assert http.get("/static/yasgui/yasgui.min.js").status_code == 200
    assert http.get("/static/query.js").status_code == 200
    assert len(examples()) >= 8
    for ex in examples():
        assert ex.name in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


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


def test_unknown_entity_is_404(http: httpx.Client) -> None:
    assert http.get("/id/state/XXX", headers={"Accept": "text/html"}).status_code == 404
    assert http.get("/id/state/XXX", headers={"Accept": "text/turtle"}).status_code == 404


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
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
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
