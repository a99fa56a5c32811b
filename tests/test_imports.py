"""geokb import: SIPRI trade registers and ICEWS/GDELT event files, from the fixtures in
tests/fixtures/imports/ (written in the published layouts, with their quirks), into a small
data folder; what they write validates, builds, shows on pages and answers SPARQL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest
import yaml
from conftest import DATA, LiveServer, write_data

from kb.build.pipeline import compile_data
from kb.build.yamlfile import Loader
from kb.cli import main
from kb.errors import DataError
from kb.imports import writer
from kb.imports.codes import Countries, slug
from kb.imports.rows import ImportFailed
from kb.imports.run import Request, run
from kb.review import provenance, sipri
from kb.stores.local import open_current, write_build

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
SIPRI = FIXTURES / "sipri-register.csv"
ICEWS = FIXTURES / "icews-events.tab"
GDELT = FIXTURES / "gdelt-events.tsv"

# What the imports map to and compare with: the generated state list, two actors, a weapon,
# and a curated transfer and event that fixture rows repeat.
CURATED = {
    "curated.yaml": """\
        sources:
          - id: test-source
            title: A test source
            publisher: Test Publisher
        non_state_actors:
          - id: hezbollah
            label: Hezbollah
            actor_type: [armed-group]
        international_organizations:
          - id: nato
            label: North Atlantic Treaty Organization (NATO)
        weapon_systems:
          - id: s-400
            label: S-400 Triumf
            category: air defence system
        arms_transfers:
          - id: rus-tur-s-400
            supplier: RUS
            recipient: TUR
            weapon_systems: [s-400]
            order_date: "2017"
            sources: [test-source]
        diplomatic_events:
          - id: irn-summons-russian-ambassador
            event_type: ambassador summoned
            cameo: '11'
            actors: [IRN]
            targets: [RUS]
            date: "2023-07-12"
            sources: [test-source]
        """
}


def _data(folder: Path) -> Path:
    data = write_data(folder / "data", CURATED)
    shutil.copy(DATA / "states.yaml", data / "states.yaml")
    return data


def _import(data: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["import", *args, "--data", str(data)]) == 0
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A data folder with the three fixtures imported by the CLI, and what each printed."""
    data = _data(tmp_path_factory.mktemp("imports"))
    printed = {}
    with pytest.MonkeyPatch.context() as mp:
        lines: list[str] = []
        mp.setattr("builtins.print", lambda *a, **k: lines.append(" ".join(map(str, a))))
        for key, args in (
            ("sipri", ["sipri-register", str(SIPRI), "--version", "2026-11-25"]),
            ("icews", ["events", str(ICEWS), "--format", "icews", "--version", "2015"]),
            ("gdelt", ["events", str(GDELT), "--format", "gdelt", "--version", "2015-03-10"]),
        ):
            lines.clear()
            assert main(["import", *args, "--data", str(data)]) == 0
            printed[key] = "\n".join(lines)
    yield data, printed


@pytest.fixture(scope="module")
def store(imported: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store built from the data folder with the imports."""
    root = tmp_path_factory.mktemp("imports-store")
    write_build(root, compile_data(imported[0]))
    return root


def test_sipri_import_reports_every_skipped_row_with_its_line_and_reason(
    imported: tuple[Path, dict[str, str]],
) -> None:
    out = imported[1]["sipri"]
    for line, reason in (
        (250, "unknown supplier"),
        (251, "unmapped recipient: 'Houthi rebels (Yemen)*'"),
        (252, "unmapped supplier: 'Soviet Union'"),
        (253, "more delivered than ordered: 14 delivered, 10 ordered"),
        (254, "delivered before ordered"),
        (255, "number ordered is not a number: about 10"),
        (256, "year after today: 2031"),
        (257, "same supplier and recipient"),
        (258, "new weapon without a description: Mystery-X"),
    ):
        assert f"line {line}: {reason}" in out
    assert "rows read: 251\nimported: 241 (and 8 new weapon systems)" in out
    assert "skipped: 9" in out and "(checked by validation)" in out


def test_sipri_quirks_become_values_notes_and_the_row_itself(
    imported: tuple[Path, dict[str, str]],
) -> None:
    text = (imported[0] / "imported" / "sipri-2026-11-25.yaml").read_text(encoding="utf-8")
    doc = yaml.load(text, Loader=Loader)
    facts = {f["id"]: f for f in doc["arms_transfers"]}
    # 'Hezbollah (Lebanon)*', '(2019)', '. .', '(50)' with '?', '(2019-2020)'
    hez = facts["sipri-irn-actor-hezbollah-fixture-c3-2019"]
    assert hez["recipient"] == "actor/hezbollah" and "quantity_ordered" not in hez
    assert (hez["order_date"], hez["quantity_delivered"]) == ("2019", "50")
    assert (hez["delivery_start_date"], hez["delivery_end_date"]) == ("2019", "2020")
    assert "number delivered, year of order, years of delivery" in hez["note"]
    assert hez["citations"][0]["locator"] == "row 259"
    assert "Number delivered: (50); (flag): ?" in hez["citations"][0]["quote"]
    # existing weapons by designation or id; new ones made once, citing the register
    assert {w["id"] for w in doc["weapon_systems"]} >= {"fixture-a1", "fixture-c3"}
    assert "s-400" not in {w["id"] for w in doc["weapon_systems"]}
    assert doc["sources"][0]["type"] == "database" and doc["sources"][0]["edition"] == "2026-11-25"


def test_event_imports_report_skips_and_read_both_gdelt_widths(
    imported: tuple[Path, dict[str, str]],
) -> None:
    icews, gdelt = imported[1]["icews"], imported[1]["gdelt"]
    for line, reason in (
        (233, "unmapped actor: 'Protester (Palestinian Territory)' (Occupied Palestinian"),
        (234, "unmapped actor: 'Unidentified Gunmen' (no country)"),
        (235, "no valid date"),
        (236, "not a CAMEO event code: '999'"),
        (237, "wrong number of columns: 8, ICEWS has 20"),
        (238, "repeated event id"),
        (239, "same actor and target: RUS"),
    ):
        assert f"line {line}: {reason}" in icews
    assert "line 240: possible duplicate of curated event/irn-summons-russian-ambassador" in icews
    for line, reason in (
        (232, "unmapped actor: 'AFRICA' (AFR)"),
        (233, "unmapped actor: 'POLICE' (no country)"),
        (234, "not a CAMEO event code: '---'"),
        (236, "wrong number of columns: 5, GDELT 1.0 has 57 or 58"),
        (237, "no valid date"),
        (239, "repeated event id"),
    ):
        assert f"line {line}: {reason}" in gdelt
    assert "rows read: 239\nimported: 233" in gdelt
    doc = yaml.load(
        (imported[0] / "imported" / "gdelt-2015-03-10.yaml").read_text(encoding="utf-8"),
        Loader=Loader,
    )
    events = {e["id"]: e for e in doc["diplomatic_events"]}
    widths = {len(e["citations"][0]["quote"].split("\t")) for e in events.values()}
    assert widths == {57, 58}
    hez = events["gdelt-420000001"]  # HEZBOLLAH (LBN): the actor, not the state
    assert hez["actors"] == ["actor/hezbollah"] and hez["targets"] == ["ISR"]
    assert events["gdelt-420000008"]["actors"] == ["igo/nato"]
    assert (hez["status"], hez["confidence"], hez["cameo"]) == ("machine-coded", "low", "190")


def test_imported_facts_answer_sparql_as_machine_coded(
    imported: tuple[Path, dict[str, str]], store: Path
) -> None:
    kb, _ = open_current(store)
    result = kb.query(
        """PREFIX gk: <https://w3id.org/geokb/ontology#>
        SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE { ?e gk:status gk:MachineCoded }""",
        use_default_graph_as_union=True,
    )
    assert isinstance(result, ox.QuerySolutions)
    assert int(next(iter(result))["n"].value) == 232 + 233
    where = kb.query(
        """PREFIX gk: <https://w3id.org/geokb/ontology#>
        SELECT DISTINCT ?locator WHERE {
          <https://w3id.org/geokb/id/transfer/sipri-irn-actor-hezbollah-fixture-c3-2019>
            gk:recipient <https://w3id.org/geokb/id/actor/hezbollah> ;
            gk:citation/gk:locator ?locator }""",
        use_default_graph_as_union=True,
    )
    assert isinstance(where, ox.QuerySolutions)
    assert [s["locator"].value for s in where] == ["row 259"]


def test_an_imported_event_shows_on_its_page_as_machine_coded(store: Path) -> None:
    with LiveServer(store) as live, httpx.Client(base_url=live.url) as client:
        page = client.get("/id/event/gdelt-420000008", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "machine-coded" in page.text and "GLOBALEVENTID 420000008" in page.text
    assert 'href="/id/source/import-gdelt"' in page.text


def test_the_register_geokb_exports_imports_back_to_the_same_transfers(
    imported: tuple[Path, dict[str, str]], store: Path, tmp_path: Path
) -> None:
    exported = tmp_path / "export.csv"
    exported.write_text(sipri.to_csv(sipri.rows(open_current(store)[0])), encoding="utf-8")
    data = _data(tmp_path)
    said: list[str] = []
    run(Request("sipri-register", exported, data, validate=False), said.append)
    # the curated transfer in the export is recognised; every imported one comes back
    assert len(said) == 1
    assert said[0].endswith(": possible duplicate of curated transfer/rus-tur-s-400; not imported")
    keys = ("supplier", "recipient", "weapon_systems", "quantity_ordered", "quantity_delivered")
    keys += ("order_date", "delivery_start_date", "delivery_end_date")

    def transfers(path: Path) -> set[tuple[str, ...]]:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)
        return {tuple(str(t.get(k)) for k in keys) for t in doc["arms_transfers"]}

    original = transfers(imported[0] / "imported" / "sipri-2026-11-25.yaml")
    again = transfers(next((data / "imported").glob("sipri-*.yaml")))
    assert again == original


def test_reimport_replaces_the_facts_and_reports_what_changed(
    imported: tuple[Path, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    shutil.copytree(imported[0], data)
    lines = SIPRI.read_text(encoding="utf-8").splitlines(keepends=True)
    # a newer export: one row's delivered number changed, one row gone, one row added above
    # (the row numbers of every later row move, which is not a change)
    row = next(i for i, x in enumerate(lines) if x.startswith("Pakistan,Russia,2018,,14,"))
    lines[row] = lines[row].replace(",Rafale,FGA aircraft,6,", ",Rafale,FGA aircraft,9,")
    gone_line = lines.pop(row + 1)
    gone_cells = gone_line.split(",")
    gone_id = f"-{slug(gone_cells[6])}-{gone_cells[2].strip('()')}"
    lines.insert(9, "Chile,Germany,2020,,2,,Fixture-B2,patrol craft,2,,2021,New,,1,2,2\n")
    newer = tmp_path / "register-newer.csv"
    newer.write_text("".join(lines), encoding="utf-8")
    out = _import(data, capsys, "sipri-register", str(newer), "--version", "2026-12-01")
    assert "~ transfer/sipri-rus-pak-rafale-2018" in out
    assert "quantityDelivered: 6 -> 9" in out
    assert "+ transfer/sipri-deu-chl-fixture-b2-2020" in out
    removed = [x for x in out.splitlines() if x.startswith("- transfer/sipri-")]
    assert len(removed) == 1 and removed[0].endswith(gone_id)
    assert "1 added, 1 removed, 1 changed" in out
    assert sorted(p.name for p in (data / "imported").iterdir()) == [
        "gdelt-2015-03-10.yaml",
        "icews-2015.yaml",
        "sipri-2026-12-01.yaml",
    ]


def test_a_register_by_supplier_with_deal_ids_keys_facts_by_deal(tmp_path: Path) -> None:
    data = _data(tmp_path)
    register = tmp_path / "by-supplier.csv"
    register.write_text(
        "Trade Register\n\n"
        "SIPRI AT Database ID,Supplier,Recipient,Year of order,,Number ordered,,"
        "Weapon designation,Weapon description,Number delivered,,Year(s) of delivery\n"
        "7001,Russia,India,2018,,5,,S-400,SAM system,4,,2021-2024\n"
        "7001,Russia,India,2018,,5,,S-400,SAM system,4,,2021-2024\n",
        encoding="utf-8",
    )
    said: list[str] = []
    summary = run(Request("sipri-register", register, data, validate=False), said.append)
    assert summary.imported == 1 and said == ["line 5: repeated id: sipri-7001 came earlier"]
    text = (data / "imported").glob("sipri-*.yaml").__next__().read_text(encoding="utf-8")
    assert "  - id: sipri-7001\n" in text and 'locator: "row 4, deal 7001"' in text


def test_a_big_import_is_a_folder_of_parts_that_validates_and_reimports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(writer, "PART_BYTES", 40_000)  # the fixture's 233 events: 4 parts
    data = _data(tmp_path)
    _import(data, capsys, "events", str(GDELT), "--format", "gdelt", "--version", "v1")
    parts = sorted(p.name for p in (data / "imported" / "gdelt-v1").iterdir())
    assert parts[0] == "part-0001.yaml" and len(parts) > 2
    out = _import(data, capsys, "events", str(GDELT), "--format", "gdelt", "--version", "v2")
    assert "0 added, 0 removed, 0 changed" in out
    assert [p.name for p in (data / "imported").iterdir()] == ["gdelt-v2"]


def test_a_failed_import_leaves_data_as_it_was(tmp_path: Path) -> None:
    data = _data(tmp_path)

    def snapshot() -> dict[str, bytes]:
        return {str(p.relative_to(data)): p.read_bytes() for p in data.rglob("*") if p.is_file()}

    before = snapshot()
    # nothing in the file maps
    junk = tmp_path / "junk.tsv"
    junk.write_text("1\t2\t3\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match="nothing to import"):
        run(Request("events", junk, data, "gdelt"), lambda _: None)
    # text in another encoding: named by its line
    latin = tmp_path / "latin.tsv"
    latin.write_bytes(GDELT.read_bytes().replace(b"\n", b"\xe9\n", 3))
    with pytest.raises(ImportFailed, match=r"latin.tsv:1: not utf-8 text .* --encoding"):
        run(Request("events", latin, data, "gdelt"), lambda _: None)
    # not the layout named
    with pytest.raises(ImportFailed, match="not the ICEWS header"):
        run(Request("events", GDELT, data, "icews"), lambda _: None)
    # the result would not validate (here: the data had an error of its own)
    (data / "broken.yaml").write_text("arms_transfers:\n  - id: x\n    supplier: RUR\n")
    before["broken.yaml"] = (data / "broken.yaml").read_bytes()
    with pytest.raises(DataError):
        run(Request("events", ICEWS, data, "icews"), lambda _: None)
    assert snapshot() == before
    assert not (data / "imported").exists()
    # an import killed mid-way left its staging folder: the next import clears it
    stale = data / "imported" / ".staging-999999999-abc"  # above any pid_max: no such process
    stale.mkdir(parents=True)
    (stale / "part-0001.yaml.tmp").write_text("x", encoding="utf-8")
    (data / "broken.yaml").unlink()
    run(Request("events", ICEWS, data, "icews", validate=False), lambda _: None)
    left = [p.name for p in (data / "imported").iterdir()]
    assert len(left) == 1 and left[0].startswith("icews-") and left[0].endswith(".yaml")


def test_countries_are_found_by_name_iso_cameo_and_cow_code_and_never_guessed() -> None:
    states = yaml.load((DATA / "states.yaml").read_text(encoding="utf-8"), Loader=Loader)
    countries = Countries({s["id"]: s["label"]["en"] for s in states["states"]})
    found = {
        text: countries.by_name(text)
        for text in ("Russian Federation", "Russia", "Turkiye", "UAE", "ir", "IRN", "630", "GMY")
    }
    assert found == {
        "Russian Federation": "RUS",
        "Russia": "RUS",
        "Turkiye": "TUR",
        "UAE": "ARE",
        "ir": "IRN",
        "IRN": "IRN",
        "630": "IRN",
        "GMY": "DEU",
    }
    for unknown in ("Soviet Union", "Occupied Palestinian Territory", "365", "Europe", ""):
        assert countries.by_name(unknown) is None, unknown
    assert (countries.by_cameo("UKR"), countries.by_cameo("AFR")) == ("UKR", None)


TRICKY = [
    "plain-id",
    "null",
    "~",
    "yes",
    "010",
    "2014-03-01",
    "a: b # c",
    'quotes " and \\ backslash',
    "tab\there, newline\nthere",
    "- dash first",
    "{braces} [brackets] & * ! | > % @ `",
    "é ü ß Ж 中文 🙂",
    "\x7f del, \x85 nel, \u2028 ls, \u2029 ps, \ufeff bom",
    "\x00 nul \x1b esc",
    "   spaces around   ",
    "",
]


def test_written_yaml_loads_back_identically() -> None:
    fields: list[tuple[str, writer.Value]] = [
        ("id", "x-1"),
        *((f"k{i}", text) for i, text in enumerate(TRICKY)),
        ("n", 12),
        ("refs", ["RUS", "actor/hezbollah"]),
        ("citations", [{"source": "s", "locator": "row 3", "quote": "\t".join(TRICKY)}]),
    ]
    text = "things:\n" + writer.record(fields)
    for loader in (Loader, yaml.SafeLoader):
        loaded = yaml.load(text, Loader=loader)["things"][0]
        assert [loaded[f"k{i}"] for i in range(len(TRICKY))] == TRICKY
        assert loaded["refs"] == ["RUS", "actor/hezbollah"]
        assert loaded["citations"][0]["quote"] == "\t".join(TRICKY)
    assert yaml.load(text, Loader=Loader)["things"][0]["n"] == "12"  # geokb reads all as text


def test_machine_coded_events_are_counted_apart_from_curated_provenance(
    imported: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    curated = provenance.report(_data(tmp_path))
    with_imports = provenance.report(imported[0])
    assert with_imports.machine_coded == 232 + 233
    assert curated.machine_coded == 0
    # the imported SIPRI rows are counted (each cites its register row); the events are not
    events = {"event", "cooperation", "use"}
    assert sum(k.facts for k in with_imports.kinds if k.kind in events) == sum(
        k.facts for k in curated.kinds if k.kind in events
    )
    assert "465 machine-coded facts (imported event data) are not counted" in (
        provenance.as_text(with_imports)
    )
